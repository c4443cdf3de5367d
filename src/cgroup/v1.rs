//! cgroup v1 (the `memory` controller's own hierarchy).
//!
//! `oom_kill` in memory.oom_control counts kills in that very directory on some kernels and in
//! its whole subtree on others (Slurm's tasks sit in `task_<n>`): see [`super::kills_in_tree`].

use std::path::Path;

use super::parse::{CgroupError, numbered_children, read_keyed, read_limit, read_u64};
use super::{
    CgroupFigures, MemorySnapshot, MemoryStat, StepCgroup, TaskFigures, kills_in_tree, tightest,
};

pub(super) fn read(step: &StepCgroup) -> Result<MemorySnapshot, CgroupError> {
    let step_figures = figures(&step.step_dir)?;
    let job = match &step.job_dir {
        Some(dir) => Some(figures(dir)?),
        None => None,
    };
    let tasks = numbered_children(&step.step_dir, "task_")
        .into_iter()
        .map(|(task, dir)| {
            Ok(TaskFigures {
                task,
                peak: read_u64(&dir, "memory.max_usage_in_bytes")?,
                oom_kills: oom_kills_here(&dir)?,
            })
        })
        .collect::<Result<_, CgroupError>>()?;
    // The step's own limit: the tightest of the step's and the job's. (memory.stat's
    // hierarchical_memory_limit would also count limits above the job, which are the node's,
    // not the job's: a kill there is a node-level OOM, told apart by the classifier.)
    let limit = tightest([step_figures.limit, job.as_ref().and_then(|j| j.limit)]);
    Ok(MemorySnapshot {
        version: super::CgroupVersion::V1,
        step: step_figures,
        job,
        limit,
        soft_limit: None,
        tasks,
        // Slurm's v1 OOMKillStep is Slurm's own doing, not the kernel's: not visible here.
        kills_whole_step: false,
    })
}

/// One directory's figures.
fn figures(dir: &Path) -> Result<CgroupFigures, CgroupError> {
    let stat_fields = read_keyed(dir, "memory.stat")?.unwrap_or_default();
    Ok(CgroupFigures {
        limit: read_limit(dir, "memory.limit_in_bytes")?,
        peak: read_u64(dir, "memory.max_usage_in_bytes")?,
        current: read_u64(dir, "memory.usage_in_bytes")?,
        limit_hits: read_u64(dir, "memory.failcnt")?,
        oom_kills: kills_in_tree(dir, oom_kills_here)?,
        throttled: None,
        stat: MemoryStat::of(super::CgroupVersion::V1, &stat_fields),
    })
}

fn oom_kills_here(dir: &Path) -> Result<Option<u64>, CgroupError> {
    // Kernels before 4.13 have no oom_kill line: then the count is unknown, not zero.
    Ok(read_keyed(dir, "memory.oom_control")?.and_then(|f| f.get("oom_kill").copied()))
}
