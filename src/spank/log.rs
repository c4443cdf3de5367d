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

/// An error: slurmd's log, and in slurmstepd after user_init also the job's stderr
/// (prefixed `slurmstepd-<node>: error:`); in sbatch/srun the user's terminal.
pub fn error(message: &str) {
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
