//! Finds the step's memory cgroup from what the kernel says about the calling process.
//!
//! slurmstepd lives in its step's cgroup from `user_init` on: on v1 in
//! `<memory mount>/slurm_<node>/uid_<u>/job_<j>/step_<s>`, on v2 in
//! `<mount>/…/job_<j>/step_<s>/slurm` (its tasks are in the sibling `user/task_<n>`).
//! Everything is read below `root`, so tests point it at a captured tree.

use std::path::{Component, Path, PathBuf};

use procfs_core::FromRead;
use procfs_core::ProcessCGroups;
use procfs_core::process::MountInfos;

use super::CgroupVersion;
use super::parse::CgroupError;

/// Where one step's memory figures live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCgroup {
    pub version: CgroupVersion,
    /// `step_<s>`: the whole step (on v2 it also holds slurmstepd itself, in `slurm/`).
    pub step_dir: PathBuf,
    /// `job_<j>`: all the job's steps on this node; where the job-wide limit sits.
    pub job_dir: Option<PathBuf>,
}

/// Reads `<root>/proc/<pid>/cgroup` and `<root>/proc/<pid>/mountinfo` (`pid` is usually
/// "self") and returns the step's memory cgroup.
pub fn discover(root: &Path, pid: &str) -> Result<StepCgroup, CgroupError> {
    let proc_dir = root.join("proc").join(pid);
    let cgroup_file = proc_dir.join("cgroup");
    let cgroups = ProcessCGroups::from_file(&cgroup_file).map_err(|e| CgroupError::Parse {
        path: cgroup_file.clone(),
        what: e.to_string(),
    })?;
    // mountinfo tells where the hierarchies are mounted; without it, assume the usual places.
    let mounts = MountInfos::from_file(proc_dir.join("mountinfo")).ok();

    // Prefer a v1 memory hierarchy: on a hybrid layout the v2 mount has no memory controller.
    if let Some(v1) = cgroups
        .0
        .iter()
        .find(|c| c.hierarchy != 0 && c.controllers.iter().any(|c| c == "memory"))
    {
        let mount = mount_point(mounts.as_ref(), |m| {
            m.fs_type == "cgroup" && m.super_options.contains_key("memory")
        })
        .unwrap_or_else(|| ("/sys/fs/cgroup/memory".into(), "/".into()));
        let dir = join_cgroup(root, &mount, &v1.pathname);
        return step_and_job(CgroupVersion::V1, &dir, &cgroup_file);
    }
    if let Some(v2) = cgroups.0.iter().find(|c| c.hierarchy == 0) {
        let mount = mount_point(mounts.as_ref(), |m| m.fs_type == "cgroup2")
            .unwrap_or_else(|| ("/sys/fs/cgroup".into(), "/".into()));
        let dir = join_cgroup(root, &mount, &v2.pathname);
        let found = step_and_job(CgroupVersion::V2, &dir, &cgroup_file)?;
        if found.step_dir.join("memory.current").exists() {
            return Ok(found);
        }
        return Err(CgroupError::NotFound(format!(
            "{} has no memory controller",
            found.step_dir.display()
        )));
    }
    Err(CgroupError::NotFound(format!(
        "{} names no memory cgroup",
        cgroup_file.display()
    )))
}

/// (mount point, root of the mount inside the hierarchy) of the first matching mount.
fn mount_point(
    mounts: Option<&MountInfos>,
    matches: impl Fn(&procfs_core::process::MountInfo) -> bool,
) -> Option<(PathBuf, String)> {
    mounts?
        .iter()
        .find(|m| matches(m))
        .map(|m| (m.mount_point.clone(), m.root.clone()))
}

/// The directory of cgroup `pathname`, seen through a mount of the hierarchy at `mount`.
fn join_cgroup(
    root: &Path,
    (mount_point, mount_root): &(PathBuf, String),
    pathname: &str,
) -> PathBuf {
    let inside = Path::new(pathname)
        .strip_prefix(mount_root.as_str())
        .unwrap_or(Path::new(pathname));
    let mut dir = root.to_path_buf();
    for part in mount_point.components().chain(inside.components()) {
        if let Component::Normal(name) = part {
            dir.push(name);
        }
    }
    dir
}

/// Walks up from the process's cgroup to the nearest `step_*` and `job_*` directories.
fn step_and_job(
    version: CgroupVersion,
    dir: &Path,
    source: &Path,
) -> Result<StepCgroup, CgroupError> {
    let named = |prefix: &str| {
        dir.ancestors()
            .find(|d| {
                d.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .map(Path::to_path_buf)
    };
    let step_dir = named("step_").ok_or_else(|| {
        CgroupError::NotFound(format!(
            "{} is not a Slurm step cgroup (from {})",
            dir.display(),
            source.display()
        ))
    })?;
    Ok(StepCgroup {
        version,
        step_dir,
        job_dir: named("job_"),
    })
}
