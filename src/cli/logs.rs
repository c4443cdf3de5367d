//! The job logs the command may read.

use std::io::ErrorKind;
use std::path::PathBuf;

use super::output::{Stop, Streams};
use crate::history;

/// The job logs that exist and that the caller may read.
pub struct LogFiles {
    pub files: Vec<PathBuf>,
    /// Some log is kept for the administrators (`job_log_mode=0600`).
    pub private: bool,
    /// Logs asked for that are not there: said only when nothing else answers (a login node
    /// that reads Slurm's accounting has no job log, and needs none).
    pub missing: Vec<PathBuf>,
}

impl LogFiles {
    /// The logs under `paths`. A log the site keeps private, or one that cannot be read, is
    /// said once and left out: a user still gets what sacct knows. One that is not there is
    /// said where it matters ([`LogFiles::looked_in`], [`LogFiles::require_some`]).
    pub fn readable(paths: &[PathBuf], streams: &mut Streams) -> Result<LogFiles, Stop> {
        let mut private = Vec::new();
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for file in history::log_files(paths)? {
            match std::fs::File::open(&file) {
                Ok(_) => files.push(file),
                Err(e) if e.kind() == ErrorKind::PermissionDenied => private.push(file),
                Err(e) if e.kind() == ErrorKind::NotFound => missing.push(file),
                Err(e) => streams.warn(&format!("{}: {}", file.display(), not_read(&e))),
            }
        }
        // Once, however many rotations and nodes' logs there are.
        if let Some(first) = private.first() {
            let more = match private.len() {
                1 => String::new(),
                n => format!(" (and {} more job logs)", n - 1),
            };
            streams.warn(&format!(
                "{}{more}: readable by the administrators only on this cluster",
                first.display()
            ));
        }
        Ok(LogFiles {
            files,
            private: !private.is_empty(),
            missing,
        })
    }

    /// For a summary over the logs (the report, the list): no log read is an error, never an
    /// empty all-clear.
    pub fn require_some(&self) -> Result<(), Stop> {
        match (self.files.is_empty(), self.private) {
            (false, _) => Ok(()),
            (true, true) => Err(Stop::Failed(
                "no job log here that you may read: a job's report is near the end of its \
                 output file (its .err, or its .out if it set no --error), and `oom-explain \
                 JOBID` asks Slurm's accounting"
                    .into(),
            )),
            (true, false) => Err(Stop::Failed(format!(
                "no job log found ({}), so nothing to summarise (see --log; from Slurm's \
                 accounting: report --from-sacct)",
                self.missing_ones()
            ))),
        }
    }

    /// Where records were looked for, as a person is told.
    pub fn looked_in(&self) -> String {
        if self.files.is_empty() && self.private {
            return "a job log you may read (here they are for the administrators; your job's \
                    report is also near the end of its .err file, or its .out if it set no \
                    --error)"
                .into();
        }
        if self.files.is_empty() {
            return format!("any job log ({})", self.missing_ones());
        }
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(", ")
    }
}

impl LogFiles {
    /// The logs that are not there, and what that means.
    fn missing_ones(&self) -> String {
        let names: Vec<String> = self
            .missing
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        match names.is_empty() {
            true => "none found".into(),
            false => format!(
                "no {}: see --log; on a login node the compute nodes' logs are there only once \
                 the site collects them, or keeps the records in Slurm's accounting: man \
                 oom-explain",
                names.join(", ")
            ),
        }
    }
}

/// Why a job log could not be read, and what to check.
fn not_read(e: &std::io::Error) -> String {
    format!("cannot be read: {e}")
}
