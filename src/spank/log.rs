//! Messages to Slurm's logs and to the job's stderr.
//!
//! Slurm's log functions are printf-like, so text always goes through a fixed "%s" format.

use std::ffi::CString;

use super::sys;

/// Admin-facing prefix: every message in slurmd's log from this plugin starts with it.
pub const PREFIX: &str = "oom-explain: ";

fn c_text(text: &str) -> CString {
    // A NUL inside the text would cut it short; nothing we print should carry one.
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// An error for whoever runs the command (sbatch/srun: the user's terminal) or admins
/// (slurmd's log). In slurmstepd Slurm would also copy an error into the job's stderr
/// (`slurmstepd-<node>: error: …`): there it goes to slurmd's log only, at info level, since an
/// admin's problem (a spool folder, a cgroup that vanished) is not the job's, and a job that did
/// not ask must never see a word of this plugin.
pub fn error(message: &str) {
    if super::handle::context() == super::handle::Context::Remote {
        return info(&format!("error: {message}"));
    }
    let text = c_text(&format!("{PREFIX}{message}"));
    // SAFETY: a valid NUL-terminated format and one matching string argument.
    unsafe { sys::slurm_error(c"%s".as_ptr(), text.as_ptr()) }
}

/// Information for admins: slurmd's log only (sbatch/srun show it with -v).
pub fn info(message: &str) {
    let text = c_text(&format!("{PREFIX}{message}"));
    // SAFETY: as above.
    unsafe { sys::slurm_info(c"%s".as_ptr(), text.as_ptr()) }
}

/// Detail for whoever asked for it: slurmd's log at verbose level, sbatch/srun with -v.
pub fn verbose(message: &str) {
    let text = c_text(&format!("{PREFIX}{message}"));
    // SAFETY: as above.
    unsafe { sys::slurm_verbose(c"%s".as_ptr(), text.as_ptr()) }
}

/// One line for the user: in slurmstepd it lands unprefixed in the step's stderr (the batch
/// `.err`, or srun's stderr), and in slurmd's log.
pub fn to_job(line: &str) {
    let text = c_text(line);
    // SAFETY: as above.
    unsafe { sys::slurm_spank_log(c"%s".as_ptr(), text.as_ptr()) }
}
