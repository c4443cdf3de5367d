//! Who may see which job's records: Slurm's own rule. Admins (root, SlurmUser) see every job;
//! other users see every job only where Slurm's `PrivateData` does not include `jobs`, else
//! only their own. The job log's file mode (`job_log_mode`) is the first guard; this is the
//! second, for the `oom-explain` command, which users run.

/// The person running the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub uid: u32,
    /// May see every user's jobs.
    pub sees_all: bool,
    /// Slurm's configuration was there to decide by (else only root sees all).
    pub slurm_asked: bool,
}

impl Viewer {
    /// `uid` under the configuration `scontrol show config` printed (None: it could not be
    /// asked, and only the viewer's own jobs are shown, unless the viewer is root).
    pub fn new(uid: u32, slurm_config: Option<&str>) -> Viewer {
        let sees_all = uid == 0
            || slurm_config
                .is_some_and(|text| slurm_user_uid(text) == Some(uid) || !jobs_private_in(text));
        Viewer {
            uid,
            sees_all,
            slurm_asked: slurm_config.is_some(),
        }
    }

    /// Whether a record of the job of `owner` (None: unknown) may be shown.
    pub fn may_see(&self, owner: Option<u32>) -> bool {
        self.sees_all || owner == Some(self.uid)
    }
}

/// A setting in `scontrol show config`'s output or in slurm.conf itself (keys in any case,
/// `#` comments).
pub fn setting<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split('#').next()?.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// `PrivateData = jobs,usage` → ["jobs", "usage"]; `none` or absent → [].
fn private_data(text: &str) -> Vec<&str> {
    setting(text, "PrivateData")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|w| *w != "none")
                .collect()
        })
        .unwrap_or_default()
}

/// Whether Slurm's configuration (`scontrol show config`, or slurm.conf's text) keeps jobs
/// private (`PrivateData=...jobs...`).
pub fn jobs_private_in(text: &str) -> bool {
    private_data(text)
        .iter()
        .any(|w| w.eq_ignore_ascii_case("jobs"))
}

/// `SlurmUser = slurm(64030)` → 64030.
fn slurm_user_uid(text: &str) -> Option<u32> {
    let value = setting(text, "SlurmUser")?;
    value.split_once('(')?.1.trim_end_matches(')').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &str = "ProctrackType = proctrack/cgroup\nPrivateData = accounts,jobs\n\
                           SlurmUser = slurm(64030)\n";
    const OPEN: &str = "PrivateData = none\nSlurmUser = root(0)\n";

    #[test]
    fn with_private_jobs_a_user_sees_only_their_own() {
        let alice = Viewer::new(1001, Some(PRIVATE));
        assert!(!alice.sees_all);
        assert!(alice.may_see(Some(1001)));
        assert!(!alice.may_see(Some(1002)));
        assert!(
            !alice.may_see(None),
            "a record without an owner is for admins"
        );
        assert!(Viewer::new(64030, Some(PRIVATE)).sees_all, "SlurmUser");
        assert!(Viewer::new(0, Some(PRIVATE)).sees_all, "root");
    }

    #[test]
    fn without_private_jobs_everyone_sees_every_job_as_in_squeue() {
        assert!(Viewer::new(1001, Some(OPEN)).sees_all);
        assert!(Viewer::new(1001, Some("PrivateData = usage,users\n")).sees_all);
    }

    #[test]
    fn slurm_conf_says_whether_jobs_are_private() {
        assert!(jobs_private_in(
            "ClusterName=c\nprivatedata = Usage,JOBS # site\n"
        ));
        assert!(!jobs_private_in("#PrivateData=jobs\nPrivateData=usage\n"));
        assert!(!jobs_private_in(""));
    }

    #[test]
    fn when_slurm_cannot_be_asked_a_user_sees_only_their_own() {
        assert!(!Viewer::new(1001, None).sees_all);
        assert!(Viewer::new(0, None).sees_all);
    }
}
