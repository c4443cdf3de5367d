//! The kernel's own OOM report for this step, from the kernel log (/dev/kmsg).
//!
//! When the OOM killer acts it prints a process table, one `oom-kill:` line naming the cgroup
//! whose limit was hit (`oom_memcg`) and the victim's cgroup (`task_memcg`), and one
//! `Killed process` line with the victim's sizes. Only events whose victim was in this step are
//! kept, and a process table only when the limit hit was this job's own: a node-level OOM lists
//! every process on the node, and other people's processes are never shown.

use std::io::Read;
use std::path::Path;

/// One process as the kernel listed it (sizes in bytes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessRow {
    pub pid: u32,
    pub name: String,
    pub rss: u64,
}

/// The memcg statistics the kernel printed with its OOM report (v1 or v2 key names).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryAtKill {
    pub anon: Option<u64>,
    pub file: Option<u64>,
    pub shmem: Option<u64>,
}

impl MemoryAtKill {
    fn from_stats(stats: &std::collections::BTreeMap<String, u64>) -> Self {
        // v1 prints this cgroup's own counters and hierarchical `total_*` ones; v2 only the latter.
        let get = |v1: &str, v2: &str| stats.get(v1).or_else(|| stats.get(v2)).copied();
        MemoryAtKill {
            anon: get("total_rss", "anon"),
            file: get("total_cache", "file"),
            shmem: get("total_shmem", "shmem"),
        }
    }
}

/// One OOM kill of a process of this step.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OomEvent {
    /// Microseconds since boot (the kernel log's clock).
    pub at_us: u64,
    /// `CONSTRAINT_MEMCG` (a cgroup limit) or `CONSTRAINT_NONE` (the whole node ran short).
    pub constraint: String,
    /// The cgroup whose limit was hit, relative to the hierarchy's root.
    pub oom_memcg: Option<String>,
    pub victim_pid: u32,
    pub victim_name: String,
    pub total_vm: Option<u64>,
    pub anon_rss: Option<u64>,
    pub file_rss: Option<u64>,
    pub shmem_rss: Option<u64>,
    /// Whether the limit that was hit lies outside the job: its parent, or the whole node.
    pub beyond_job: bool,
    /// What the cgroup whose limit was hit held at that moment (the kernel's "Memory cgroup
    /// stats" dump): anon, page cache and tmpfs/shm, in bytes.
    pub at_kill: MemoryAtKill,
    /// The kernel's process table, kept only when the limit hit was this job's own.
    pub processes: Vec<ProcessRow>,
}

fn within(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The text of a kmsg record: `prio,seq,usec,flags;message` → (usec, message).
fn record(line: &str) -> Option<(u64, &str)> {
    let (head, message) = line.split_once(';')?;
    let usec = head.split(',').nth(2)?.parse().ok()?;
    Some((usec, message))
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split([',', ' '])
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

fn kib(text: &str, key: &str) -> Option<u64> {
    let start = text.find(&format!("{key}:"))? + key.len() + 1;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().ok().map(|k| k * 1024)
}

/// Parses kernel log records (kmsg format, one per line) into the OOM kills of processes in
/// `step_path` that happened at or after `since_us`. `job_path` decides whether the process
/// table may be shown. `page_size` converts the table's page counts.
pub fn parse_oom_events(
    text: &str,
    step_path: &str,
    job_path: &str,
    since_us: u64,
    page_size: u64,
) -> Vec<OomEvent> {
    let mut events = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    let mut table: Vec<ProcessRow> = Vec::new();
    let mut pending: Option<OomEvent> = None;
    let mut stats = std::collections::BTreeMap::new();
    let mut in_stats = false;
    for (at_us, message) in text.lines().filter_map(record) {
        let message = message.trim_end();
        if message.contains(" invoked oom-killer:") {
            table.clear();
            columns.clear();
            stats.clear();
        } else if message.starts_with("Memory cgroup stats for ") {
            in_stats = true;
        } else if in_stats
            && let Some((key, value)) = message.split_once(' ')
            && let Ok(v) = value.trim().parse::<u64>()
        {
            stats.insert(key.to_owned(), v);
        } else if message.starts_with("[  pid  ]") {
            in_stats = false;
            columns = message
                .replace("[  pid  ]", "pid")
                .split_whitespace()
                .map(str::to_owned)
                .collect();
        } else if message.starts_with('[') && !columns.is_empty() {
            let cells: Vec<&str> = message
                .trim_start_matches('[')
                .split_whitespace()
                .map(|c| c.trim_end_matches(']'))
                .collect();
            let cell = |name: &str| {
                columns
                    .iter()
                    .position(|c| c == name)
                    .and_then(|i| cells.get(i))
            };
            if let (Some(pid), Some(rss), Some(name)) = (cell("pid"), cell("rss"), cells.last())
                && let (Ok(pid), Ok(rss)) = (pid.parse(), rss.parse::<u64>())
            {
                table.push(ProcessRow {
                    pid,
                    name: (*name).to_owned(),
                    rss: rss * page_size,
                });
            }
        } else if let Some(rest) = message.strip_prefix("oom-kill:") {
            let ours = field(rest, "task_memcg").is_some_and(|memcg| within(memcg, step_path));
            pending = (ours && at_us >= since_us).then(|| OomEvent {
                at_us,
                constraint: field(rest, "constraint").unwrap_or("").to_owned(),
                oom_memcg: field(rest, "oom_memcg").map(str::to_owned),
                victim_pid: field(rest, "pid").and_then(|p| p.parse().ok()).unwrap_or(0),
                victim_name: field(rest, "task").unwrap_or("").to_owned(),
                at_kill: MemoryAtKill::from_stats(&stats),
                beyond_job: field(rest, "constraint") == Some("CONSTRAINT_NONE")
                    || field(rest, "oom_memcg").is_some_and(|memcg| !within(memcg, job_path)),
                total_vm: None,
                anon_rss: None,
                file_rss: None,
                shmem_rss: None,
                processes: Vec::new(),
            });
        } else if message.contains("Killed process ") {
            if let Some(mut event) = pending.take() {
                event.total_vm = kib(message, "total-vm");
                event.anon_rss = kib(message, "anon-rss");
                event.file_rss = kib(message, "file-rss");
                event.shmem_rss = kib(message, "shmem-rss");
                if !event.beyond_job {
                    event.processes = std::mem::take(&mut table);
                }
                events.push(event);
            }
            table.clear();
        }
    }
    events
}

/// The OOM kills of `step`'s processes since `since_us` (CLOCK_MONOTONIC µs, the kernel log's
/// clock), from `<root>/dev/kmsg`.
pub fn oom_events(root: &Path, step: &crate::cgroup::StepCgroup, since_us: u64) -> Vec<OomEvent> {
    let log = read_kernel_log(root, since_us);
    let job = step.job_path.as_deref().unwrap_or(&step.step_path);
    parse_oom_events(
        &log,
        &step.step_path,
        job,
        since_us,
        super::sampler::page_size(),
    )
}

/// Now on the kernel log's clock (CLOCK_MONOTONIC), in µs.
pub fn now_us() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// At most this many kernel log records are read (a 16 MiB ring buffer holds about 200 000).
const MAX_RECORDS: usize = 250_000;

/// Reads what the kernel log holds now, without waiting: `<root>/dev/kmsg` read non-blocking
/// until it has nothing more. /dev/kmsg reads from the oldest record and cannot go backwards,
/// so records older than `since_us` are dropped as they come: memory stays bounded by this
/// step's own records, and the newest ones are never cut off. Unreadable → empty.
pub fn read_kernel_log(root: &Path, since_us: u64) -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(root.join("dev/kmsg"))
    else {
        return String::new();
    };
    let mut out = String::new();
    // /dev/kmsg returns one record per read; a record is at most about 8 KiB.
    let mut buffer = vec![0u8; 16 * 1024];
    for _ in 0..MAX_RECORDS {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buffer[..n]);
                if record(text.lines().next().unwrap_or("")).is_some_and(|(at, _)| at >= since_us) {
                    out.push_str(&text);
                }
            }
            // Records overwritten while reading: skip to the next one.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break, // EAGAIN: nothing more; anything else: stop quietly
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_KMSG: &str = include_str!("../../tests/fixtures/kmsg/linux-6.18-v1-memcg-oom.kmsg");
    const STEP: &str = "/slurm_localhost/uid_1001/job_1/step_batch";
    const JOB: &str = "/slurm_localhost/uid_1001/job_1";

    #[test]
    fn a_real_memcg_oom_report() {
        let events = parse_oom_events(V1_KMSG, STEP, JOB, 0, 4096);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!((e.victim_pid, e.victim_name.as_str()), (12933, "python3"));
        assert_eq!(e.constraint, "CONSTRAINT_MEMCG");
        assert_eq!(e.oom_memcg.as_deref(), Some(JOB));
        assert_eq!(e.anon_rss, Some(101_632 * 1024));
        assert_eq!(e.total_vm, Some(116_404 * 1024));
        // The job's memory at the kill, from the kernel's stats dump (v1 `total_*` keys).
        assert_eq!(e.at_kill.anon, Some(104_415_232));
        assert_eq!(e.at_kill.shmem, Some(0));
        assert!(!e.beyond_job);
        let names: Vec<&str> = e.processes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["slurmstepd", "slurm_script", "python3"]);
        assert_eq!(e.processes[2].rss, 26_806 * 4096);
    }

    #[test]
    fn other_steps_and_older_events_are_left_out() {
        assert!(
            parse_oom_events(
                V1_KMSG,
                "/slurm_localhost/uid_1001/job_1/step_0",
                JOB,
                0,
                4096
            )
            .is_empty()
        );
        assert!(
            parse_oom_events(
                V1_KMSG,
                "/slurm_localhost/uid_1001/job_11/step_batch",
                JOB,
                0,
                4096
            )
            .is_empty()
        );
        assert!(parse_oom_events(V1_KMSG, STEP, JOB, u64::MAX, 4096).is_empty());
    }

    #[test]
    fn a_limit_above_the_job_hides_the_process_table() {
        let node = V1_KMSG.replace(
            "oom_memcg=/slurm_localhost/uid_1001/job_1,",
            "oom_memcg=/slurm_localhost/uid_1001,",
        );
        let events = parse_oom_events(&node, STEP, JOB, 0, 4096);
        assert!(events[0].beyond_job);
        assert!(
            events[0].processes.is_empty(),
            "a node-level table lists other users' processes"
        );
    }

    #[test]
    fn a_missing_kernel_log_is_empty() {
        assert_eq!(read_kernel_log(Path::new("/nonexistent"), 0), "");
    }
}
