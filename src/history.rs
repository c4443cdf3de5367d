//! Reading the job logs: past jobs' records (all nodes merged), and the recent jobs worth a
//! look, streamed, never loaded whole.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::record::{self, JobLine, JobRecord, SCHEMA, outcome_rank};
use crate::size::human;
use crate::step::ArrayTask;

/// The log files under `paths`: each path is a job log, read with its uncompressed rotations
/// (docs/admins.md: the logrotate entry keeps them so), or a folder of them (`*.jsonl`, as a
/// site collects the nodes' logs in one place).
pub fn log_files(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| with_path(path, e))?
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.is_file() && p.to_string_lossy().contains(".jsonl"))
                .filter(|p| !compressed(p))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.extend(rotations(path));
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// The uncompressed rotations of a log, oldest first: `jobs.jsonl.2`, `jobs.jsonl.1` (logrotate)
/// or `jobs.jsonl-20261101` (logrotate's `dateext`). Compressed ones are not read.
fn rotations(log: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, bool, PathBuf)> = entries
        .filter_map(|e| {
            let entry = e.ok()?;
            let file = entry.file_name().into_string().ok()?;
            let suffix = file.strip_prefix(name)?;
            let (numbered, digits) = match suffix.strip_prefix('.') {
                Some(d) => (true, d),
                None => (false, suffix.strip_prefix('-')?),
            };
            let n = digits.parse::<u64>().ok()?;
            entry
                .path()
                .is_file()
                .then(|| (n, numbered, log.with_file_name(&file)))
        })
        .collect();
    // .1 is newer than .2; a date is newer than an earlier date.
    found.sort_by_key(|(n, numbered, _)| match numbered {
        true => (0, u64::MAX - n),
        false => (1, *n),
    });
    found.into_iter().map(|(_, _, p)| p).collect()
}

fn compressed(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("gz" | "xz" | "zst" | "bz2")
    )
}

pub fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Calls `each` with every line of every file, in order.
pub fn for_each_line(files: &[PathBuf], mut each: impl FnMut(&str)) -> io::Result<()> {
    let mut line = Vec::new();
    for file in files {
        let mut reader = BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(file).map_err(|e| with_path(file, e))?,
        );
        loop {
            line.clear();
            if reader
                .read_until(b'\n', &mut line)
                .map_err(|e| with_path(file, e))?
                == 0
            {
                break;
            }
            // A line that is not text (a torn write, a disk error) is no record: skipped, and
            // the rest of the log still read.
            if let Ok(text) = std::str::from_utf8(&line) {
                each(text.trim_end());
            }
        }
    }
    Ok(())
}

/// Every record of `job` (one per node, or more if a leftover was merged separately).
pub fn find_job(files: &[PathBuf], job: u32) -> io::Result<Vec<JobRecord>> {
    let wanted = Wanted {
        jobs: BTreeSet::from([job]),
        arrays: BTreeSet::new(),
    };
    find_jobs(files, &wanted)
}

/// The jobs to collect in one pass over the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// By the job's own (raw) id.
    pub jobs: BTreeSet<u32>,
    /// Every task of these array jobs.
    pub arrays: BTreeSet<u32>,
}

impl Wanted {
    fn wants(&self, record: &JobRecord) -> bool {
        self.jobs.contains(&record.job)
            || (record.array_job_id).is_some_and(|a| self.arrays.contains(&a))
    }

    fn needles(&self) -> Vec<String> {
        self.jobs
            .iter()
            .chain(&self.arrays)
            .map(u32::to_string)
            .collect()
    }
}

/// Every record of the wanted jobs, by node and end.
pub fn find_jobs(files: &[PathBuf], wanted: &Wanted) -> io::Result<Vec<JobRecord>> {
    let needles = wanted.needles();
    let mut found = Vec::new();
    for_each_line(files, |line| {
        // Cheap test first: most lines are other jobs. Only the number, so that a line written
        // another way than the plugin writes it (`"job": 8`, the key last) is still found.
        if needles.iter().any(|n| line.contains(n.as_str()))
            && let Ok(record) = serde_json::from_str::<JobRecord>(record::json_of(line))
            && record.schema == SCHEMA
            && wanted.wants(&record)
        {
            found.push(record);
        }
    })?;
    let mut found = newest_runs(found);
    found.sort_by(|a, b| (&a.origin.node, a.ended, a.job).cmp(&(&b.origin.node, b.ended, b.job)));
    // A line sent twice (syslog after a failed epilog, a log collected twice) is one record.
    found.dedup();
    Ok(found)
}

/// Only each job's newest run. A job id Slurm gave out again (its state was reset, or ids
/// wrapped) or a requeued job has records of several runs: a run's records overlap in time
/// (its nodes ran together), and an older run ended before the newest began.
fn newest_runs(mut found: Vec<JobRecord>) -> Vec<JobRecord> {
    found.sort_by_key(|r| std::cmp::Reverse(r.ended));
    let mut newest_began: HashMap<u32, u64> = HashMap::new();
    found.retain(|r| match newest_began.get_mut(&r.job) {
        None => {
            newest_began.insert(r.job, r.began());
            true
        }
        Some(began) if r.ended >= *began => {
            *began = (*began).min(r.began());
            true
        }
        Some(_) => false,
    });
    found
}

/// The explanation of a past job from its records: each step's report as its stderr got it,
/// and one line for each step that was fine.
pub fn explain(job: u32, records: &[JobRecord]) -> Vec<String> {
    let mut nodes: Vec<&str> = records.iter().map(|r| r.origin.node.as_str()).collect();
    nodes.dedup();
    let user = records.iter().find_map(|r| r.origin.user.as_deref());
    let array = records.iter().find_map(JobRecord::array_task);
    let ended = records.iter().map(|r| r.ended).max().unwrap_or(0);
    let mut out = vec![format!(
        "Job {job}{}{} on {}, ended {} UTC:",
        array
            .map(|task| format!(" (array task {task})"))
            .unwrap_or_default(),
        user.map(|u| format!(" of {u}")).unwrap_or_default(),
        nodes.join(", "),
        crate::size::date(ended)
    )];
    let several = nodes.len() > 1;
    for record in records {
        for step in &record.steps {
            let where_ = if several {
                format!(" on {}", record.origin.node)
            } else {
                String::new()
            };
            if step.report.is_empty() {
                let use_ = match (step.peak, step.limit) {
                    (Some(p), Some(l)) => format!("peak {} of {}", human(p), human(l)),
                    (Some(p), None) => format!("peak {}", human(p)),
                    _ => "no figures".into(),
                };
                out.push(format!("  step {}{where_}: {use_}: OK.", step.step));
            } else {
                if several {
                    out.push(format!("  (on {})", record.origin.node));
                }
                out.extend(step.report.iter().cloned());
            }
        }
    }
    out
}

/// A job worth a look (killed, close to its limit, or asking far too much): one per job,
/// however many nodes it ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentJob {
    /// The raw job id, and the array task (`1234_5`) when the records know it.
    pub job: u32,
    pub array_task: Option<String>,
    pub user: Option<String>,
    pub uid: Option<u32>,
    /// When its last step ended (Unix seconds).
    pub ended: u64,
    /// The nodes where something happened.
    pub nodes: Vec<String>,
    /// Its worst outcome over those nodes, with that node's figures and advice.
    pub cause: String,
    pub peak: Option<u64>,
    pub limit: Option<u64>,
    pub recommendation: Option<String>,
}

/// Which jobs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentFilter {
    /// Unix seconds: jobs that ended before are left out.
    pub since: u64,
    /// Only this user's jobs (None: everyone's).
    pub uid: Option<u32>,
}

impl JobLine<'_> {
    fn passes(&self, filter: &RecentFilter) -> bool {
        self.schema == SCHEMA
            && self.ended >= filter.since
            && self.cause != "none"
            && filter.uid.is_none_or(|uid| self.uid == Some(uid))
    }

    fn to_job(&self) -> RecentJob {
        RecentJob {
            job: self.job,
            array_task: ArrayTask::from_parts(self.array_job_id, self.array_task_id)
                .map(|task| task.to_string()),
            user: self.user.as_deref().map(str::to_owned),
            uid: self.uid,
            ended: self.ended,
            nodes: vec![self.node.to_string()],
            cause: self.cause.to_string(),
            peak: self.peak,
            limit: self.limit,
            recommendation: self.recommendation.as_ref().map(|r| r.line.to_string()),
        }
    }
}

impl RecentJob {
    /// Adds another node's line of the same job: its node, and its outcome if worse.
    fn add(&mut self, other: RecentJob) {
        self.nodes.extend(other.nodes.iter().cloned());
        self.ended = self.ended.max(other.ended);
        if outcome_rank(&other.cause) < outcome_rank(&self.cause) {
            let nodes = std::mem::take(&mut self.nodes);
            *self = RecentJob {
                nodes,
                ended: self.ended,
                ..other
            };
        }
    }
}

/// The jobs worth a look that pass `filter`, newest first. Streams the logs and keeps only
/// those jobs.
pub fn recent_jobs(files: &[PathBuf], filter: &RecentFilter) -> io::Result<Vec<RecentJob>> {
    let uid_text = filter.uid.map(|uid| uid.to_string());
    let mut jobs: HashMap<u32, RecentJob> = HashMap::new();
    for_each_line(files, |line| {
        // Cheap test first: a line without the uid's digits is someone else's.
        if uid_text.as_deref().is_some_and(|uid| !line.contains(uid)) {
            return;
        }
        let Ok(record) = serde_json::from_str::<JobLine>(record::json_of(line)) else {
            return;
        };
        if !record.passes(filter) {
            return;
        }
        let job = record.to_job();
        match jobs.get_mut(&job.job) {
            Some(known) => known.add(job),
            None => {
                jobs.insert(job.job, job);
            }
        }
    })?;
    let mut list: Vec<RecentJob> = jobs.into_values().collect();
    list.sort_by_key(|job| std::cmp::Reverse((job.ended, job.job)));
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_read_with_its_uncompressed_rotations_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "jobs.jsonl",
            "jobs.jsonl.1",
            "jobs.jsonl.2",
            "jobs.jsonl.3.gz",
            "jobs.jsonl.old",
            "other.jsonl.1",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let log = dir.path().join("jobs.jsonl");
        let names: Vec<String> = log_files(std::slice::from_ref(&log))
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["jobs.jsonl.2", "jobs.jsonl.1", "jobs.jsonl"]);
        // A folder of logs: every uncompressed one.
        let all = log_files(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(all.len(), 5, "{all:?}");
    }

    /// A record of job 8 on `node` whose one step ran `elapsed` seconds up to `ended`.
    fn run_of_job_8(node: &str, ended: u64, elapsed: u64) -> String {
        let step = serde_json::json!({"schema": 1, "job": 8, "step": "batch", "node": node,
            "ended": ended, "elapsed_s": elapsed, "cgroup": "cgroup v2", "opted_in": true,
            "cause": "none", "oom_kills": 0, "report": []});
        let step: crate::record::StepRecord = serde_json::from_value(step).unwrap();
        JobRecord::merge(vec![step], false).unwrap().to_line()
    }

    #[test]
    fn a_job_id_given_out_again_is_its_newest_run_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("jobs.jsonl");
        let lines = [
            // Job 8 of last month, on node1.
            run_of_job_8("node1", 1_790_000_000, 60),
            // Job 8 again after Slurm's state was reset: 2 nodes, node2 done a minute earlier.
            run_of_job_8("node1", 1_795_000_600, 600),
            run_of_job_8("node2", 1_795_000_540, 540),
        ];
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        let found = find_job(&[log], 8).unwrap();
        let runs: Vec<(&str, u64)> = found
            .iter()
            .map(|r| (r.origin.node.as_str(), r.ended))
            .collect();
        assert_eq!(runs, [("node1", 1_795_000_600), ("node2", 1_795_000_540)]);
    }

    #[test]
    fn a_collected_syslog_file_is_read_after_each_lines_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("central.log");
        let line = run_of_job_8("node1", 1_795_000_600, 600);
        let text = format!(
            "Nov 30 10:05:01 node1 sshd[1]: an unrelated line {{x}}\n\
             Nov 30 10:05:01 node1 oom-explain[42]: {line}\n"
        );
        std::fs::write(&log, format!("{text}{text}")).unwrap();
        // Each line twice (an epilog that sent again after a failure): one record.
        let found = find_job(&[log], 8).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].origin.node, "node1");
    }

    #[test]
    fn dated_rotations_are_read_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["jobs.jsonl", "jobs.jsonl-20261101", "jobs.jsonl-20261001"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let log = dir.path().join("jobs.jsonl");
        let files = log_files(std::slice::from_ref(&log)).unwrap();
        assert_eq!(
            files,
            [
                dir.path().join("jobs.jsonl-20261001"),
                dir.path().join("jobs.jsonl-20261101"),
                log
            ]
        );
    }
}
