//! The node's side of the records: step records wait in the spool until the job epilog merges
//! them into the node's job log, one JSON line per job.
//!
//! Nothing is lost on the way. A record is removed from the spool only after its job's line is
//! in the log; a record whose epilog never ran (slurmd down at the time) is picked up by the
//! next epilog on that node once its job is gone from the node. Epilogs run concurrently: each
//! first claims a spool file by renaming it, so no record is merged twice, and appends to the
//! log under an exclusive lock in one write, so lines never interleave.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::record::{JobRecord, Origin, StepRecord};
use crate::spool::{self, Dir};
use crate::syslog::Syslog;

/// A claimed file left by an epilog that died is taken again after this long.
const STALE_CLAIM: Duration = Duration::from_secs(600);
/// How long an epilog waits for another one's lock on the log before giving up (and keeping
/// its records for the next epilog).
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Leaves `record` in the spool (created root-only if missing), under a name no other record
/// has: a second record of the same step in the same second (a job requeued at once) gets a
/// counter.
pub fn spool_step(spool_dir: &Path, record: &StepRecord) -> io::Result<()> {
    let spool = Dir::open_or_create(spool_dir, 0o700)?;
    let json = serde_json::to_vec(record).map_err(io::Error::other)?;
    let name = record.file_name();
    let mut result = spool.create_new(&name, &json);
    for n in 1..10 {
        match result {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let other = name.replace(".json", &format!("-{n}.json"));
                result = spool.create_new(&other, &json);
            }
            _ => break,
        }
    }
    result
}

/// A step record is a few KiB: a larger file in the spool is not one.
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// What one epilog did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// The job lines appended (the epilog's own job first, then leftovers).
    pub jobs: Vec<JobRecord>,
    /// Spool files that could not be read as records, set aside as `*.bad`.
    pub bad: Vec<PathBuf>,
    /// Why some jobs' lines did not go out (syslog stopped part-way): their records stay in
    /// the spool for the next epilog.
    pub kept: Option<String>,
}

/// Where the job lines go.
#[derive(Debug, Clone, Copy)]
pub enum JobLog<'a> {
    /// The node's job log, and who may read it (config `job_log_mode`).
    File { path: &'a Path, mode: u32 },
    /// Syslog (`job_log=syslog`): one message per line.
    Syslog(&'a Syslog),
}

/// The job epilog on node `here.node`: merges `job`'s step records and any leftovers into the
/// job log. What the epilog knows of its own job from Slurm (`here`: the owner's uid and name,
/// the partition) replaces what a step recorded: a step's environment is the user's to set.
/// `job_is_here` says whether a leftover's job may still be on the node.
pub fn epilog(
    spool_dir: &Path,
    job_log: JobLog,
    job: u32,
    here: &Origin,
    job_is_here: impl Fn(&StepRecord) -> bool,
) -> io::Result<Merged> {
    let mut merged = Merged::default();
    if !spool_dir.exists() {
        return Ok(merged); // no step was ever recorded on this node
    }
    let spool = Dir::open(spool_dir)?;
    let me = std::process::id();
    // Claim every candidate file (rename is atomic: of concurrent epilogs, one wins each file).
    let mut claims: Vec<(u32, String, String)> = Vec::new();
    // The claimed records by job: the epilog's own job first, then leftovers.
    let mut by_job: BTreeMap<(bool, u32), Vec<StepRecord>> = BTreeMap::new();
    for name in spool.names()? {
        // A record half-written by a step that died while writing it: never a record.
        if name.ends_with(".part") {
            if stale(&spool, &name) {
                let _ = spool.remove(&name);
            }
            continue;
        }
        // A step's note of what it stored in the accounting (accounting::ctld), whose epilog
        // never came to take it.
        if name.ends_with(".accounting") {
            if older_than(&spool, &name, FORGOTTEN_NOTE) {
                let _ = spool.remove(&name);
            }
            continue;
        }
        let original = match name.split_once(".json.claimed-") {
            Some((base, _)) if stale(&spool, &name) => format!("{base}.json"),
            Some(_) => continue,
            None if name.ends_with(".json") => name.clone(),
            None => continue,
        };
        let mut record = match spool
            .read_capped(&name, MAX_RECORD_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<StepRecord>(&b).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(_) => {
                let bad = format!("{}.bad", name.trim_end_matches(".json"));
                if spool.rename(&name, &bad).is_ok() {
                    merged.bad.push(spool_dir.join(bad));
                }
                continue;
            }
        };
        if record.origin.node != here.node || (record.job != job && job_is_here(&record)) {
            continue;
        }
        let claim = format!("{original}.claimed-{me}");
        if spool.rename(&name, &claim).is_err() {
            continue; // another epilog claimed it first
        }
        claims.push((record.job, original, claim));
        let o = &mut record.origin;
        if record.job == job {
            // Slurm's word in the epilog over anything a step recorded.
            o.user = here.user.clone().or_else(|| o.user.take());
            o.uid = here.uid.or(o.uid);
            o.partition = here.partition.clone().or_else(|| o.partition.take());
        } else if o.user.is_none() {
            // A leftover: its own epilog never ran; its uid came from Slurm.
            o.user = o.uid.and_then(crate::record::user_name);
        }
        by_job
            .entry((record.job != job, record.job))
            .or_default()
            .push(record);
    }
    merged.jobs = by_job
        .into_iter()
        .filter_map(|((recovered, _), steps)| JobRecord::merge(steps, recovered))
        .collect();
    let (sent, failure) = deliver(job_log, &merged.jobs);
    // The records of the jobs whose line went out are done; the others go back for the next
    // epilog (never sent twice, never lost).
    let unsent: Vec<u32> = merged.jobs[sent..].iter().map(|j| j.job).collect();
    for (job, original, claim) in &claims {
        let _ = match unsent.contains(job) {
            true => spool.rename(claim, original),
            false => spool.remove(claim),
        };
    }
    merged.jobs.truncate(sent);
    match failure {
        Some(e) if sent == 0 => Err(e),
        Some(e) => {
            merged.kept = Some(format!(
                "{} job(s) kept for the next epilog: {e}",
                unsent.len()
            ));
            Ok(merged)
        }
        None => Ok(merged),
    }
}

/// The line `job` has on `node` so far: its step records still in the spool, merged, none
/// claimed (a step's end reads them while the job runs; the epilog takes them later).
pub fn node_line_so_far(spool_dir: &Path, job: u32, node: &str) -> io::Result<Option<JobRecord>> {
    let spool = Dir::open(spool_dir)?;
    let prefix = format!("{job}.");
    let mut steps = Vec::new();
    for name in spool.names()? {
        if !name.starts_with(&prefix) || !name.ends_with(".json") {
            continue;
        }
        let Ok(bytes) = spool.read_capped(&name, MAX_RECORD_BYTES) else {
            continue;
        };
        if let Ok(record) = serde_json::from_slice::<StepRecord>(&bytes)
            && record.job == job
            && record.origin.node == node
        {
            steps.push(record);
        }
    }
    Ok(JobRecord::merge(steps, false))
}

/// Writes the job lines: how many went out, and why the rest did not.
fn deliver(job_log: JobLog, jobs: &[JobRecord]) -> (usize, Option<io::Error>) {
    if jobs.is_empty() {
        return (0, None);
    }
    match job_log {
        JobLog::File { path, mode } => {
            let lines: String = jobs.iter().map(|j| j.to_line() + "\n").collect();
            match append(path, mode, lines.as_bytes()) {
                Ok(()) => (jobs.len(), None),
                Err(e) => (0, Some(e)),
            }
        }
        JobLog::Syslog(syslog) => {
            let lines: Vec<String> = jobs
                .iter()
                .map(|j| j.to_line_within(crate::syslog::MAX_LINE_BYTES))
                .collect();
            match syslog.send(&lines, crate::record::unix_now()) {
                Ok(()) => (jobs.len(), None),
                Err((sent, e)) => (sent, Some(e)),
            }
        }
    }
}

/// A step's note of what it stored in the accounting whose epilog never came is removed after
/// this long: longer than any job runs (a running job's note must stay for its epilog).
const FORGOTTEN_NOTE: Duration = Duration::from_secs(60 * 24 * 3600);
/// A record whose job's cgroup folder is unknown counts as a leftover only after this long.
const UNKNOWN_JOB_GONE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Whether a record's job may still be running on this node (its steps still to end, its own
/// epilog still to come), `now` in Unix seconds. Its cgroup folder still exists, or its record
/// is younger than `leftover_after_s`: between two steps a running job may have no folder on the
/// node (cgroup v1 removes it; an allocation without an extern step). Where the record names no
/// folder, a day must pass.
pub fn job_still_here(record: &StepRecord, now: u64, leftover_after_s: u64) -> bool {
    match &record.job_cgroup {
        Some(dir) => dir.exists() || record.ended.saturating_add(leftover_after_s) > now,
        None => {
            record
                .ended
                .saturating_add(UNKNOWN_JOB_GONE_AFTER.as_secs())
                > now
        }
    }
}

fn stale(spool: &Dir, name: &str) -> bool {
    older_than(spool, name, STALE_CLAIM)
}

fn older_than(spool: &Dir, name: &str, age: Duration) -> bool {
    spool.changed(name).is_ok_and(|changed| {
        let changed = std::time::UNIX_EPOCH + Duration::from_secs(changed.max(0) as u64);
        changed.elapsed().is_ok_and(|elapsed| elapsed > age)
    })
}

/// Appends whole lines to the log (created with its mode if missing, in a root-owned folder),
/// under an exclusive lock and in one write.
pub fn append(path: &Path, mode: u32, lines: &[u8]) -> io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let (Some(folder), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
    else {
        return Err(io::Error::other(format!(
            "{}: not a file path",
            path.display()
        )));
    };
    let file = Dir::open_or_create(folder, 0o755)?.open_append(name, mode)?;
    spool::lock_within(file, path, LOCK_WAIT)?.write_all(lines)
}
