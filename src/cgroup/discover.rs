//! Finds the step's memory cgroup from what the kernel says about the calling process.
//!
//! slurmstepd lives in its step's cgroup from `user_init` on: on v1 in
//! `<memory mount>/slurm_<node>/uid_<u>/job_<j>/step_<s>`, on v2 in
//! `<mount>/…/<job>/step_<s>/slurm` (its tasks are in the sibling `user/task_<n>`).
//! The job's folder is the step's parent, whatever its name: `job_<j>` up to Slurm 25.11, the
//! job's SLUID (`sEKNKTV3WPV500`) from 26.05 on unless `CgroupJobIdPaths=yes`. Nothing here
//! builds a path from the job id.
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
    /// The step's parent (`job_<j>` or the job's SLUID): all the job's steps on this node;
    /// where the job-wide limit sits.
    pub job_dir: Option<PathBuf>,
    /// The step's and the job's cgroup paths inside the hierarchy, as the kernel names them
    /// (e.g. in its OOM report): `/slurm_<node>/uid_<u>/job_<j>/step_<s>`.
    pub step_path: String,
    pub job_path: Option<String>,
}

/// Reads `<root>/proc/<pid>/cgroup` and `<root>/proc/<pid>/mountinfo` (`pid` is usually
/// "self") and returns the step's memory cgroup.
pub fn discover(root: &Path, pid: &str) -> Result<StepCgroup, CgroupError> {
    discover_step(root, pid, None)
}

/// As [`discover`], knowing the step's directory name (`step_batch`, `step_0`…): needed when
/// the step has no memory cgroup and slurmstepd sits in its job's directory (proctrack/cgroup).
pub fn discover_step(
    root: &Path,
    pid: &str,
    step_dir_name: Option<&str>,
) -> Result<StepCgroup, CgroupError> {
    let proc_dir = root.join("proc").join(pid);
    let cgroup_file = proc_dir.join("cgroup");
    let cgroups = ProcessCGroups::from_file(&cgroup_file).map_err(|e| CgroupError::Parse {
        path: cgroup_file.clone(),
        what: e.to_string(),
    })?;
    // mountinfo tells where the hierarchies are mounted; without it, assume the usual places.
    let mounts = MountInfos::from_file(proc_dir.join("mountinfo")).ok();
    let v1_dir = |controllers: &[String], pathname: &str| {
        let mount = mount_point(mounts.as_ref(), |m| {
            m.fs_type == "cgroup" && controllers.iter().all(|c| m.super_options.contains_key(c))
        })
        .unwrap_or_else(|| {
            (
                Path::new("/sys/fs/cgroup").join(controllers.join(",")),
                "/".into(),
            )
        });
        join_cgroup(root, &mount, pathname)
    };

    // 1. A v1 memory hierarchy (on a hybrid layout the v2 mount has no memory controller).
    let v1_memory = cgroups
        .0
        .iter()
        .find(|c| c.hierarchy != 0 && c.controllers.iter().any(|c| c == "memory"));
    if let Some(v1) = v1_memory {
        let dir = v1_dir(&v1.controllers, &v1.pathname);
        if let Ok(found) = step_and_job(CgroupVersion::V1, &dir, &v1.pathname, &cgroup_file) {
            return Ok(found);
        }
    }
    // 2. The unified (v2) hierarchy, if it has the memory controller.
    if v1_memory.is_none()
        && let Some(v2) = cgroups.0.iter().find(|c| c.hierarchy == 0)
    {
        let mount = mount_point(mounts.as_ref(), |m| m.fs_type == "cgroup2")
            .unwrap_or_else(|| ("/sys/fs/cgroup".into(), "/".into()));
        let dir = join_cgroup(root, &mount, &v2.pathname);
        let found = step_and_job(CgroupVersion::V2, &dir, &v2.pathname, &cgroup_file)?;
        if found.step_dir.join("memory.current").exists() {
            return Ok(found);
        }
        return Err(CgroupError::NotFound(format!(
            "{} has no memory controller",
            found.step_dir.display()
        )));
    }
    // 3. Slurm does not constrain memory (ConstrainRAMSpace=no): the step has no memory cgroup,
    //    but its own directory in another v1 hierarchy (freezer for proctrack/cgroup) lists its
    //    processes. Every memory figure is then absent and the sampler measures their RSS.
    for c in cgroups
        .0
        .iter()
        .filter(|c| c.hierarchy != 0 && !c.controllers.is_empty())
    {
        // slurmstepd itself may sit in the job's directory, its tasks in the step's below it.
        let pathname = match step_dir_name {
            Some(step) if nearest(Path::new(&c.pathname), "step_").is_none() => {
                format!("{}/{step}", c.pathname)
            }
            _ => c.pathname.clone(),
        };
        let dir = v1_dir(&c.controllers, &pathname);
        if let Ok(found) = step_and_job(CgroupVersion::V1, &dir, &pathname, &cgroup_file)
            && found.step_dir.is_dir()
        {
            // No memory files there: every figure reads as absent.
            return Ok(found);
        }
    }
    Err(CgroupError::NotFound(format!(
        "{} names no Slurm step cgroup",
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

/// The nearest of `path` and its ancestors whose name starts with `prefix`.
fn nearest<'a>(path: &'a Path, prefix: &str) -> Option<&'a Path> {
    path.ancestors().find(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(prefix))
    })
}

/// Walks up from the process's cgroup to the nearest `step_*` directory; the job's is its
/// parent. `pathname` is the same cgroup as the kernel names it, relative to the hierarchy.
fn step_and_job(
    version: CgroupVersion,
    dir: &Path,
    pathname: &str,
    source: &Path,
) -> Result<StepCgroup, CgroupError> {
    let step_dir = nearest(dir, "step_").ok_or_else(|| {
        CgroupError::NotFound(format!(
            "{} is not a Slurm step cgroup (from {})",
            dir.display(),
            source.display()
        ))
    })?;
    let step_path = nearest(Path::new(pathname), "step_");
    // A step directly below the hierarchy's root has no job folder to speak of.
    let job_path = step_path
        .and_then(Path::parent)
        .filter(|p| p.parent().is_some());
    Ok(StepCgroup {
        version,
        step_dir: step_dir.to_path_buf(),
        job_dir: job_path.and(step_dir.parent()).map(Path::to_path_buf),
        step_path: step_path
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        job_path: job_path.map(|p| p.display().to_string()),
    })
}
