//! cgroup v2 (the unified hierarchy).
//!
//! Slurm puts slurmstepd in `step_<s>/slurm` and the tasks in `step_<s>/user/task_<n>`, with the
//! limit on `job_<j>` and on `step_<s>/user`. The step's own memory is therefore read from `user/`
//! when it exists. `memory.events` is hierarchical unless cgroup2 is mounted with
//! `memory_localevents`: kills are counted over the subtree either way ([`super::kills_in_tree`]).
//! The `max`/`oom` counts appear on whichever directory had the limit that was hit (usually
//! `job_<j>`).

use std::path::Path;

use super::parse::{CgroupError, numbered_children, read_keyed, read_limit, read_u64};
use super::{
    CgroupFigures, MemorySnapshot, MemoryStat, StepCgroup, TaskFigures, kills_in_tree, tightest,
};

pub(super) fn read(step: &StepCgroup) -> Result<MemorySnapshot, CgroupError> {
    let user_dir = step.step_dir.join("user");
    let workload_dir = if user_dir.is_dir() {
        &user_dir
    } else {
        &step.step_dir
    };

    // Kills of the step's processes, wherever below the step they were.
    let mut step_figures = figures(workload_dir, &step.step_dir)?;
    step_figures.throttled = events(&step.step_dir, "high")?.or(step_figures.throttled);

    let job = match &step.job_dir {
        Some(dir) => Some(figures(dir, dir)?),
        None => None,
    };

    // Every directory from the workload up to the job may carry a limit.
    let (mut limits, mut soft_limits) = (Vec::new(), Vec::new());
    for dir in workload_dir.ancestors() {
        limits.push(read_limit(dir, "memory.max")?);
        soft_limits.push(read_limit(dir, "memory.high")?);
        if Some(dir) == step.job_dir.as_deref() || step.job_dir.is_none() && dir == step.step_dir {
            break;
        }
    }

    let tasks = numbered_children(workload_dir, "task_")
        .into_iter()
        .map(|(task, dir)| {
            Ok(TaskFigures {
                task,
                peak: read_u64(&dir, "memory.peak")?,
                oom_kills: events(&dir, "oom_kill")?,
            })
        })
        .collect::<Result<_, CgroupError>>()?;

    Ok(MemorySnapshot {
        version: super::CgroupVersion::V2,
        step: step_figures,
        job,
        limit: tightest(limits),
        soft_limit: tightest(soft_limits),
        tasks,
        // Slurm sets it on `user/`; a site's own tooling might set it on the step.
        kills_whole_step: read_u64(workload_dir, "memory.oom.group")? == Some(1)
            || read_u64(&step.step_dir, "memory.oom.group")? == Some(1),
    })
}

/// One directory's figures, its OOM kills counted over `kills_below`'s subtree.
fn figures(dir: &Path, kills_below: &Path) -> Result<CgroupFigures, CgroupError> {
    let stat_fields = read_keyed(dir, "memory.stat")?.unwrap_or_default();
    Ok(CgroupFigures {
        limit: read_limit(dir, "memory.max")?,
        // memory.peak exists from Linux 5.19 on.
        peak: read_u64(dir, "memory.peak")?,
        current: read_u64(dir, "memory.current")?,
        limit_hits: events(dir, "max")?,
        oom_kills: kills_in_tree(kills_below, oom_kills_here)?,
        throttled: events(dir, "high")?,
        stat: MemoryStat::of(super::CgroupVersion::V2, &stat_fields),
    })
}

fn oom_kills_here(dir: &Path) -> Result<Option<u64>, CgroupError> {
    events(dir, "oom_kill")
}

fn events(dir: &Path, key: &str) -> Result<Option<u64>, CgroupError> {
    Ok(read_keyed(dir, "memory.events")?.and_then(|f| f.get(key).copied()))
}
