//! Who the report is about: the job, the step, and what happened to its tasks.

use crate::slurm::SlurmRelease;
use std::fmt;
use std::time::Duration;

/// Slurm's reserved step ids (slurm.h, SLURM_BATCH_SCRIPT and friends).
const BATCH_SCRIPT: u32 = 0xffff_fffb;
const EXTERN_CONT: u32 = 0xffff_fffc;
const INTERACTIVE_STEP: u32 = 0xffff_fffa;
/// Slurm's "no value" for a 32-bit field (slurm.h NO_VAL); INFINITE is one more.
const NO_VAL: u32 = 0xffff_fffe;

/// A task of a job array, as Slurm writes it: `1234_5` (array job 1234, task index 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArrayTask {
    pub job: u32,
    pub task: u32,
}

impl ArrayTask {
    /// From what slurmstepd gives for S_JOB_ARRAY_ID and S_JOB_ARRAY_TASK_ID. A job that is no
    /// array task has array id 0 (its batch script) or its own id (an srun step), and task
    /// NO_VAL: `None`.
    pub fn from_slurm(array_job_id: u32, array_task_id: u32) -> Option<ArrayTask> {
        (array_job_id != 0 && array_task_id < NO_VAL).then_some(ArrayTask {
            job: array_job_id,
            task: array_task_id,
        })
    }

    /// From a record's two fields, when it has both.
    pub fn from_parts(job: Option<u32>, task: Option<u32>) -> Option<ArrayTask> {
        Some(ArrayTask {
            job: job?,
            task: task?,
        })
    }
}

impl fmt::Display for ArrayTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.job, self.task)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The step's cgroup directory name, as Slurm makes it (`step_batch`, `step_0`…).
    pub fn dir_name(self) -> String {
        match self {
            StepKind::Batch => "step_batch".into(),
            StepKind::Extern => "step_extern".into(),
            StepKind::Interactive => "step_interactive".into(),
            StepKind::Numbered(n) => format!("step_{n}"),
        }
    }

    pub fn from_raw(id: u32) -> Self {
        match id {
            BATCH_SCRIPT => StepKind::Batch,
            EXTERN_CONT => StepKind::Extern,
            INTERACTIVE_STEP => StepKind::Interactive,
            n => StepKind::Numbered(n),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// How the user asked for memory (from the job's environment: SLURM_MEM_PER_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemoryRequest {
    /// `--mem=<MiB>`: per node.
    PerNode(u64),
    /// `--mem-per-cpu=<MiB>`.
    PerCpu(u64),
    /// `--mem-per-gpu=<MiB>`.
    PerGpu(u64),
}

impl MemoryRequest {
    /// From the job environment's values (MiB, as Slurm exports them).
    pub fn from_env(
        per_node: Option<&str>,
        per_cpu: Option<&str>,
        per_gpu: Option<&str>,
    ) -> Option<Self> {
        let mib = |v: Option<&str>| {
            v.and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&m| m > 0)
        };
        mib(per_cpu)
            .map(MemoryRequest::PerCpu)
            .or_else(|| mib(per_gpu).map(MemoryRequest::PerGpu))
            .or_else(|| mib(per_node).map(MemoryRequest::PerNode))
    }
}

/// What the plugin knows about the step besides its cgroup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepContext {
    pub id: StepId,
    /// From the first task's start to the last task's exit, as seen by slurmstepd.
    pub elapsed: Option<Duration>,
    /// Raw wait statuses of this node's tasks, as `waitpid` returns them.
    pub exit_statuses: Vec<i32>,
    /// How the memory was requested.
    pub request: Option<MemoryRequest>,
    /// Slurm's own memory allocation for this step on this node (bytes; S_STEP_ALLOC_MEM): what
    /// Slurm's accounting poll (OverMemoryKill) compares use against.
    pub step_allocation: Option<u64>,
    /// CPUs per task (S_STEP_CPUS_PER_TASK).
    pub cpus_per_task: Option<u32>,
    /// This node's tasks of the step.
    pub local_tasks: Option<u32>,
    /// The node's physical memory (MemTotal): no step can need more than this here.
    #[serde(default)]
    pub node_memory: Option<u64>,
    /// The Slurm release running the step (what Slurm's own messages and sacct say).
    #[serde(default)]
    pub slurm: Option<SlurmRelease>,
    /// The array task the step belongs to (None: the job is no array task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task: Option<ArrayTask>,
}

impl StepContext {
    /// A context that knows only which step it is.
    pub fn new(id: StepId) -> Self {
        StepContext {
            id,
            elapsed: None,
            exit_statuses: Vec::new(),
            request: None,
            step_allocation: None,
            cpus_per_task: None,
            local_tasks: None,
            node_memory: None,
            slurm: None,
            array_task: None,
        }
    }

    /// Every task of this node exited 0 (the step went on to its end, whatever was killed).
    pub fn ended_well(&self) -> bool {
        !self.exit_statuses.is_empty()
            && self
                .exit_statuses
                .iter()
                .all(|&s| libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0)
    }

    /// Tasks that ended by SIGKILL, the OOM killer's signal (Slurm shows exit code 137).
    pub fn tasks_killed(&self) -> usize {
        self.exit_statuses
            .iter()
            .filter(|&&s| libc::WIFSIGNALED(s) && libc::WTERMSIG(s) == libc::SIGKILL)
            .count()
    }
}

/// The node's physical memory from `<root>/proc/meminfo` (None if unreadable).
pub fn node_memory(root: &std::path::Path) -> Option<u64> {
    let file = std::fs::File::open(root.join("proc/meminfo")).ok()?;
    let info = <procfs_core::Meminfo as procfs_core::FromRead>::from_read(file).ok()?;
    Some(info.mem_total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_style_comes_from_the_job_environment() {
        assert_eq!(
            MemoryRequest::from_env(Some("8192"), None, None),
            Some(MemoryRequest::PerNode(8192))
        );
        // Slurm exports SLURM_MEM_PER_CPU (and not PER_NODE) for --mem-per-cpu.
        assert_eq!(
            MemoryRequest::from_env(None, Some("2000"), None),
            Some(MemoryRequest::PerCpu(2000))
        );
        assert_eq!(
            MemoryRequest::from_env(None, None, Some("16000")),
            Some(MemoryRequest::PerGpu(16000))
        );
        assert_eq!(MemoryRequest::from_env(Some("0"), None, None), None);
        assert_eq!(MemoryRequest::from_env(Some("lots"), None, None), None);
    }

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
    fn only_a_real_array_task_has_array_ids() {
        let task = |job, task| Some(ArrayTask { job, task });
        assert_eq!(ArrayTask::from_slurm(2000, 3), task(2000, 3));
        assert_eq!(
            ArrayTask::from_slurm(2000, 0),
            task(2000, 0),
            "index 0 is a task"
        );
        assert_eq!(
            ArrayTask::from_slurm(0, NO_VAL),
            None,
            "a batch script of no array"
        );
        assert_eq!(
            ArrayTask::from_slurm(2001, NO_VAL),
            None,
            "an srun step of no array"
        );
        assert_eq!(ArrayTask::from_slurm(2001, u32::MAX), None);
        assert_eq!(task(2000, 3).unwrap().to_string(), "2000_3");
    }

    #[test]
    fn sigkill_is_recognised_in_raw_wait_statuses() {
        let ctx = StepContext {
            // 9 = killed by SIGKILL; 35072 = exited with 137 (a shell reporting its child's kill).
            exit_statuses: vec![9, 35072, 0],
            ..StepContext::new(StepId {
                job: 1,
                step: StepKind::Batch,
            })
        };
        assert_eq!(ctx.tasks_killed(), 1);
    }
}

#[cfg(test)]
mod node_tests {
    #[test]
    fn node_memory_is_memtotal() {
        // /proc/meminfo of the test machine (tests/fixtures/node): "MemTotal: 24684096 kB".
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node");
        assert_eq!(super::node_memory(&root), Some(24_684_096 * 1024));
        assert_eq!(super::node_memory(&root.join("missing")), None);
    }
}
