//! A whole step cgroup tree read by the v1/v2 snapshot readers (`cgroup::read_snapshot`).
//!
//! Input: a first line `v1` or `v2`, then files as `==> RELATIVE/PATH <==` headers, each
//! followed by its text. Paths are relative to the job's folder; the step is `step/` (on v2 its
//! tasks are in `step/user/task_<n>`, on v1 in `step/task_<n>`). Only `memory.*` files in
//! plain-named folders are written, all inside a private scratch folder.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::cgroup::StepCgroup;
use oom_explain::cgroup::{CgroupVersion, MemorySnapshot, read_snapshot};
use std::path::Path;

include!("../common/scratch.rs");

fn scratch() -> &'static Path {
    scratch_dir("cgroup")
}

fn safe(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    parts.len() <= 5
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 40
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        })
        && parts.last().is_some_and(|f| f.starts_with("memory."))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let version = match first.trim() {
        "v1" => CgroupVersion::V1,
        "v2" => CgroupVersion::V2,
        _ => return,
    };
    let job = scratch().join("job");
    let _ = std::fs::remove_dir_all(&job);
    std::fs::create_dir_all(job.join("step")).unwrap();
    for section in rest.split("==> ").skip(1).take(64) {
        let Some((rel, body)) = section.split_once(" <==") else {
            continue;
        };
        let body = body.strip_prefix('\n').unwrap_or(body);
        if !safe(rel) {
            continue;
        }
        let path = job.join(rel);
        if std::fs::create_dir_all(path.parent().unwrap()).is_ok() {
            let _ = std::fs::write(&path, body);
        }
    }
    let step = StepCgroup {
        version,
        step_dir: job.join("step"),
        job_dir: Some(job.clone()),
        step_path: "/job/step".into(),
        job_path: Some("/job".into()),
    };
    let Ok(snapshot) = read_snapshot(&step) else {
        return;
    };
    assert_eq!(snapshot.version, version);
    // The enforced limit is never above the step's or the job's own.
    for own in [
        snapshot.step.limit,
        snapshot.job.as_ref().and_then(|j| j.limit),
    ]
    .into_iter()
    .flatten()
    {
        assert!(snapshot.limit.is_some_and(|l| l <= own), "{snapshot:?}");
    }
    // The snapshot is stored in evidence records: it must come back from its JSON unchanged.
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: MemorySnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
});
