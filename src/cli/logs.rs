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
}

impl LogFiles {
    /// The logs under `paths`. A log the site keeps private is said once and left out: a user
    /// still gets what sacct knows.
    pub fn readable(paths: &[PathBuf], streams: &mut Streams) -> Result<LogFiles, Stop> {
        let mut private = false;
        let mut files = Vec::new();
        for file in history::log_files(paths)? {
            match std::fs::File::open(&file) {
                Ok(_) => files.push(file),
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                    streams.warn(&format!(
                        "{}: readable by the administrators only on this cluster",
                        file.display()
                    ));
                    private = true;
                }
                Err(_) => {}
            }
        }
        Ok(LogFiles { files, private })
    }

    /// Where records were looked for, as a person is told.
    pub fn looked_in(&self) -> String {
        if self.files.is_empty() && self.private {
            return "a job log you may read (here they are for the administrators; your job's \
                    report is also at the end of its .err file)"
                .into();
        }
        if self.files.is_empty() {
            return "any job log (none found; see --log)".into();
        }
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(", ")
    }
}
