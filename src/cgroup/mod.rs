//! Reading a step's memory cgroup into one version-independent [`MemorySnapshot`].
//!
//! Every kernel figure is an `Option`: kernels and cgroup versions differ in what they offer,
//! and a missing figure must make the diagnosis say less, never fail it.

pub mod discover;
pub mod parse;
mod v1;
mod v2;

use std::collections::BTreeMap;

pub use discover::{StepCgroup, discover, discover_step};
pub use parse::CgroupError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    pub fn name(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "cgroup v1",
            CgroupVersion::V2 => "cgroup v2",
        }
    }
}

/// What memory.stat says, in bytes, under names common to v1 and v2.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryStat {
    /// Process memory the kernel cannot drop (heap, stacks): v1 `total_rss`, v2 `anon`.
    pub anon: Option<u64>,
    /// Page cache, including tmpfs/shm: v1 `total_cache`, v2 `file`.
    pub file: Option<u64>,
    /// Files in tmpfs and /dev/shm, which stay in memory until deleted.
    pub shmem: Option<u64>,
    /// Page cache the kernel can drop when short: active + inactive file pages.
    pub reclaimable_file: Option<u64>,
}

impl MemoryStat {
    /// memory.stat's fields under the key names of `version` (v1's hierarchical `total_*`).
    pub(crate) fn of(version: CgroupVersion, fields: &BTreeMap<String, u64>) -> Self {
        match version {
            CgroupVersion::V1 => Self::from_fields(fields, "total_", "rss", "cache"),
            CgroupVersion::V2 => Self::from_fields(fields, "", "anon", "file"),
        }
    }

    fn from_fields(fields: &BTreeMap<String, u64>, prefix: &str, anon: &str, file: &str) -> Self {
        let get = |name: &str| fields.get(&format!("{prefix}{name}")).copied();
        let reclaimable_file = match (get("active_file"), get("inactive_file")) {
            (Some(a), Some(i)) => Some(a.saturating_add(i)),
            _ => None,
        };
        MemoryStat {
            anon: get(anon),
            file: get(file),
            shmem: get("shmem"),
            reclaimable_file,
        }
    }
}

/// The figures of one cgroup directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupFigures {
    /// This directory's own limit (`memory.max` / `memory.limit_in_bytes`); `None` = unlimited.
    pub limit: Option<u64>,
    /// Highest usage seen (`memory.peak` / `memory.max_usage_in_bytes`).
    pub peak: Option<u64>,
    /// Usage now (`memory.current` / `memory.usage_in_bytes`).
    pub current: Option<u64>,
    /// How often usage ran into the limit (v2 `max` events, v1 `failcnt`).
    pub limit_hits: Option<u64>,
    /// Processes the kernel's OOM killer killed here and below.
    pub oom_kills: Option<u64>,
    /// How often the kernel throttled use above `memory.high` (v2 `high` events; v1 has none).
    pub throttled: Option<u64>,
    pub stat: MemoryStat,
}

/// One task's own figures (task_<n> directories).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskFigures {
    pub task: u32,
    pub peak: Option<u64>,
    pub oom_kills: Option<u64>,
}

/// Everything read from a step's cgroup at one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemorySnapshot {
    pub version: CgroupVersion,
    /// The step's processes (on v2 the `user/` part, without slurmstepd).
    pub step: CgroupFigures,
    /// The whole job on this node, all steps together.
    pub job: Option<CgroupFigures>,
    /// The tightest limit between the step and the job: what the kernel enforces on the step.
    pub limit: Option<u64>,
    /// The tightest `memory.high` between the step and the job (v2 only): above it the kernel
    /// slows the step down to reclaim memory. Slurm 22.05 sets it equal to the limit.
    pub soft_limit: Option<u64>,
    pub tasks: Vec<TaskFigures>,
    /// The kernel kills the step's processes together (v2 `memory.oom.group` = 1: Slurm sets it
    /// for `--oom-kill-step` / `TaskPluginParam=OOMKillStep`, 24.11 on).
    #[serde(default)]
    pub kills_whole_step: bool,
}

/// Reads the step's figures (and its job's) as they are now.
pub fn read_snapshot(step: &StepCgroup) -> Result<MemorySnapshot, CgroupError> {
    match step.version {
        CgroupVersion::V1 => v1::read(step),
        CgroupVersion::V2 => v2::read(step),
    }
}

/// The OOM kills in `dir` and below, whichever way this kernel counts them: hierarchical
/// counters (v2, and v1 on some kernels) already include every child, local ones (v1 on others,
/// v2 mounted with `memory_localevents`) only the directory's own. Summing would count a kill
/// twice on the first, one reading alone would miss it on the second; the larger of the
/// directory's reading and its children's totals is right on both, since Slurm's processes sit
/// in the leaves (v2 allows no process in an inner folder; on v1 the step folder may hold
/// slurmstepd, whose own kill would be missed only where kills are counted locally and a task
/// was killed too). `read_here` reads one directory's count (None = this kernel keeps none).
fn kills_in_tree(
    dir: &std::path::Path,
    read_here: fn(&std::path::Path) -> Result<Option<u64>, CgroupError>,
) -> Result<Option<u64>, CgroupError> {
    // Slurm's trees are a few levels deep; a deeper one is not Slurm's and is not walked.
    fn walk(
        dir: &std::path::Path,
        read_here: fn(&std::path::Path) -> Result<Option<u64>, CgroupError>,
        depth: u8,
    ) -> Result<Option<u64>, CgroupError> {
        let here = read_here(dir)?;
        let mut below: Option<u64> = None;
        if depth < 6
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for entry in entries.filter_map(Result::ok).take(4096) {
                if entry.file_type().is_ok_and(|t| t.is_dir())
                    && let Some(kills) = walk(&entry.path(), read_here, depth + 1)?
                {
                    below = Some(below.unwrap_or(0).saturating_add(kills));
                }
            }
        }
        Ok(here.into_iter().chain(below).max())
    }
    walk(dir, read_here, 0)
}

/// The smallest of the limits that are set.
fn tightest(limits: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    limits.into_iter().flatten().min()
}
