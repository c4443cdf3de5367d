//! Who the report is about: the job, the step, and what happened to its tasks.

use std::fmt;
use std::time::Duration;

/// Slurm's reserved step ids (slurm.h, SLURM_BATCH_SCRIPT and friends).
const BATCH_SCRIPT: u32 = 0xffff_fffb;
const EXTERN_CONT: u32 = 0xffff_fffc;
const INTERACTIVE_STEP: u32 = 0xffff_fffa;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The batch script (`<job>.batch`).
    Batch,
    /// The extern step (`<job>.extern`), processes adopted by pam_slurm_adopt.
    Extern,
    /// `salloc`'s interactive step.
    Interactive,
    /// An `srun` step (`<job>.<n>`).
    Numbered(u32),
}

impl StepKind {
    pub fn from_raw(id: u32) -> Self {
        match id {
            BATCH_SCRIPT => StepKind::Batch,
            EXTERN_CONT => StepKind::Extern,
            INTERACTIVE_STEP => StepKind::Interactive,
            n => StepKind::Numbered(n),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepId {
    pub job: u32,
    pub step: StepKind,
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            StepKind::Batch => write!(f, "{}.batch", self.job),
            StepKind::Extern => write!(f, "{}.extern", self.job),
            StepKind::Interactive => write!(f, "{}.interactive", self.job),
            StepKind::Numbered(n) => write!(f, "{}.{n}", self.job),
        }
    }
}

/// What the plugin knows about the step besides its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepContext {
    pub id: StepId,
    /// From the first task's start to the last task's exit, as seen by slurmstepd.
    pub elapsed: Option<Duration>,
    /// Raw wait statuses of this node's tasks, as `waitpid` returns them.
    pub exit_statuses: Vec<i32>,
}

impl StepContext {
    /// Tasks that ended by SIGKILL, the OOM killer's signal (Slurm shows exit code 137).
    pub fn tasks_killed(&self) -> usize {
        self.exit_statuses
            .iter()
            .filter(|&&s| libc::WIFSIGNALED(s) && libc::WTERMSIG(s) == libc::SIGKILL)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_match_slurms() {
        let id = |raw| {
            StepId {
                job: 12,
                step: StepKind::from_raw(raw),
            }
            .to_string()
        };
        assert_eq!(id(0xffff_fffb), "12.batch");
        assert_eq!(id(0xffff_fffc), "12.extern");
        assert_eq!(id(0), "12.0");
        assert_eq!(id(3), "12.3");
    }

    #[test]
    fn sigkill_is_recognised_in_raw_wait_statuses() {
        let ctx = StepContext {
            id: StepId {
                job: 1,
                step: StepKind::Batch,
            },
            elapsed: None,
            // 9 = killed by SIGKILL; 35072 = exited with 137 (a shell reporting its child's kill).
            exit_statuses: vec![9, 35072, 0],
        };
        assert_eq!(ctx.tasks_killed(), 1);
    }
}
