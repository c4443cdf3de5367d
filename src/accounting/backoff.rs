//! A node that got no answer in time from slurmctld or slurmdbd leaves it alone for a while:
//! one that is down would otherwise cost every step's end (3 s) or epilog (15 s) on the node
//! its full wait, and add to the load of one that is overloaded. The lines stay in the job log.

use std::path::Path;
use std::time::Duration;

use crate::spool::Dir;

/// How long a node leaves the service alone after a command got no answer in time.
pub const PAUSE: Duration = Duration::from_secs(300);

/// The daemons the lines go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Slurmctld,
    Slurmdbd,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Slurmctld => "slurmctld",
            Service::Slurmdbd => "slurmdbd",
        }
    }

    /// The spool file whose age says when the service last gave no answer (not a record: its
    /// name does not end in `.json`).
    fn file(self) -> String {
        format!("{}.no-answer", self.name())
    }
}

/// Why `service` is not asked now, if it gave no answer in time within the last [`PAUSE`].
pub fn paused(spool_dir: &Path, service: Service) -> Option<String> {
    let spool = Dir::open(spool_dir).ok()?;
    let changed = spool.changed(&service.file()).ok()?;
    let changed = std::time::UNIX_EPOCH + Duration::from_secs(changed.max(0) as u64);
    let age = changed.elapsed().unwrap_or_default();
    (age < PAUSE).then(|| {
        format!(
            "{} gave no answer in time {} s ago; this node asks it again {} s after that",
            service.name(),
            age.as_secs(),
            PAUSE.as_secs()
        )
    })
}

/// Pauses `service` if `failure` was a command that gave no answer within its own limit.
pub fn pause_after(spool_dir: &Path, service: Service, failure: &str) {
    if super::command::gave_no_answer(failure) {
        pause(spool_dir, service);
    }
}

/// Remembers that `service` gave no answer in time, now.
pub fn pause(spool_dir: &Path, service: Service) {
    if let Ok(spool) = Dir::open(spool_dir) {
        let _ = spool.replace(&service.file(), b"", 0o600);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_that_gave_no_answer_is_left_alone_for_a_while() {
        let spool = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
        assert_eq!(paused(spool.path(), Service::Slurmctld), None);
        pause(spool.path(), Service::Slurmctld);
        let why = paused(spool.path(), Service::Slurmctld).unwrap();
        assert!(
            why.starts_with("slurmctld gave no answer in time 0 s ago"),
            "{why}"
        );
        // Each service on its own.
        assert_eq!(paused(spool.path(), Service::Slurmdbd), None);
    }
}
