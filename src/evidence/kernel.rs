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

/// A kmsg record's head and text: `prio,seq,usec,flags;message` → (facility, usec, message).
fn record(line: &str) -> Option<(u64, u64, &str)> {
    let (head, message) = line.split_once(';')?;
    let mut fields = head.split(',');
    let priority: u64 = fields.next()?.parse().ok()?;
    let usec = fields.nth(1)?.parse().ok()?;
    Some((priority >> 3, usec, message))
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split([',', ' '])
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

/// `key:<n>kB` in a `Killed process` line, in bytes. The kernel's fields follow the process's
/// name, which its user chooses: the last occurrence is the kernel's.
fn kib(text: &str, key: &str) -> Option<u64> {
    let start = text.rfind(&format!("{key}:"))? + key.len() + 1;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().ok()?.checked_mul(1024)
}

/// At most this many kills are kept per step, and this many rows of one process table: memory
/// stays bounded whatever the log holds (a node-level OOM lists every process of the node).
const MAX_EVENTS: usize = 64;
const MAX_ROWS: usize = 4096;

/// Reads kernel log records one at a time and keeps the OOM kills of processes in one step.
/// `job_path` decides whether a process table may be shown; `page_size` converts its page
/// counts. Only the kernel's own records count (facility 0): a line another program wrote to
/// /dev/kmsg is never taken for the kernel's report.
pub struct OomReports<'a> {
    step_path: &'a str,
    job_path: &'a str,
    page_size: u64,
    columns: Vec<String>,
    table: Vec<ProcessRow>,
    stats: std::collections::BTreeMap<String, u64>,
    in_stats: bool,
    pending: Option<OomEvent>,
    events: Vec<OomEvent>,
}

impl<'a> OomReports<'a> {
    pub fn new(step_path: &'a str, job_path: &'a str, page_size: u64) -> Self {
        OomReports {
            step_path,
            job_path,
            page_size,
            columns: Vec::new(),
            table: Vec::new(),
            stats: Default::default(),
            in_stats: false,
            pending: None,
            events: Vec::new(),
        }
    }

    /// One record as /dev/kmsg gives it: `prio,seq,usec,flags;message`, then its dictionary
    /// lines (ignored). A newline inside a message comes escaped as `\x0a`: kernels before 6.5
    /// print the memcg statistics as one message, one line per figure.
    pub fn add(&mut self, record_text: &str) {
        let line = record_text.split('\n').next().unwrap_or("");
        if let Some((0, at_us, message)) = record(line) {
            for part in message.split("\\x0a") {
                self.add_message(at_us, part.trim_end());
            }
        }
    }

    /// The kills read so far. A kill whose `Killed process` line is not logged yet counts too,
    /// without its sizes: the kernel sends SIGKILL before it prints that line, so a step can
    /// end (and be read) in between on a slow or busy machine.
    pub fn events(mut self) -> Vec<OomEvent> {
        if let Some(mut event) = self.pending.take()
            && self.events.len() < MAX_EVENTS
        {
            if !event.beyond_job {
                event.processes = std::mem::take(&mut self.table);
            }
            self.events.push(event);
        }
        self.events
    }

    /// True while a kill's report is half read: its `oom-kill:` line seen, its `Killed process`
    /// line not yet.
    pub fn awaiting_end_of_report(&self) -> bool {
        self.pending.is_some()
    }

    fn add_message(&mut self, at_us: u64, message: &str) {
        if message.contains(" invoked oom-killer:") {
            self.table.clear();
            self.columns.clear();
            self.stats.clear();
        } else if message.starts_with("Memory cgroup stats for ") {
            self.in_stats = true;
        } else if self.in_stats
            && let Some((key, value)) = message.split_once(' ')
            && let Ok(v) = value.trim().parse::<u64>()
        {
            if self.stats.len() < 256 {
                self.stats.insert(key.to_owned(), v);
            }
        } else if message.starts_with("[  pid  ]") {
            self.in_stats = false;
            self.columns = message
                .replace("[  pid  ]", "pid")
                .split_whitespace()
                .map(str::to_owned)
                .collect();
        } else if message.starts_with('[') && !self.columns.is_empty() {
            if let Some(row) = self.row(message)
                && self.table.len() < MAX_ROWS
            {
                self.table.push(row);
            }
        } else if message.contains(" is already exiting. Skip killing the task") {
            // The kernel chose a victim that was exiting anyway: no kill after all.
            self.pending = None;
            self.table.clear();
        } else if let Some(rest) = message.strip_prefix("oom-kill:") {
            self.pending = self.kill(at_us, rest);
        } else if message.contains("Killed process ") {
            if let Some(mut event) = self.pending.take()
                && self.events.len() < MAX_EVENTS
            {
                event.total_vm = kib(message, "total-vm");
                event.anon_rss = kib(message, "anon-rss");
                event.file_rss = kib(message, "file-rss");
                event.shmem_rss = kib(message, "shmem-rss");
                if !event.beyond_job {
                    event.processes = std::mem::take(&mut self.table);
                }
                self.events.push(event);
            }
            self.table.clear();
        }
    }

    /// One row of the process table, by the columns its header named.
    fn row(&self, message: &str) -> Option<ProcessRow> {
        let cells: Vec<&str> = message
            .trim_start_matches('[')
            .split_whitespace()
            .map(|c| c.trim_end_matches(']'))
            .collect();
        let cell = |name: &str| {
            let i = self.columns.iter().position(|c| c == name)?;
            cells.get(i)
        };
        Some(ProcessRow {
            pid: cell("pid")?.parse().ok()?,
            name: (*cells.last()?).to_owned(),
            rss: cell("rss")?
                .parse::<u64>()
                .ok()?
                .saturating_mul(self.page_size),
        })
    }

    /// The `oom-kill:` line: an event if its victim was in this step.
    fn kill(&self, at_us: u64, rest: &str) -> Option<OomEvent> {
        let memcg = field(rest, "task_memcg")?;
        if !within(memcg, self.step_path) {
            return None;
        }
        let constraint = field(rest, "constraint").unwrap_or("");
        let beyond_job = constraint == "CONSTRAINT_NONE"
            || field(rest, "oom_memcg").is_some_and(|oom| !within(oom, self.job_path));
        Some(OomEvent {
            at_us,
            constraint: constraint.to_owned(),
            oom_memcg: field(rest, "oom_memcg").map(str::to_owned),
            victim_pid: field(rest, "pid").and_then(|p| p.parse().ok()).unwrap_or(0),
            victim_name: field(rest, "task").unwrap_or("").to_owned(),
            // The kernel's figures are of the cgroup whose limit was hit: above the job they
            // add up other jobs' and other users' memory, which is not this job's to see.
            at_kill: match beyond_job {
                true => MemoryAtKill::default(),
                false => MemoryAtKill::from_stats(&self.stats),
            },
            beyond_job,
            ..OomEvent::default()
        })
    }
}

/// Parses kernel log records (kmsg format, one per line) into the OOM kills of processes in
/// `step_path` (see [`OomReports`]).
pub fn parse_oom_events(
    text: &str,
    step_path: &str,
    job_path: &str,
    page_size: u64,
) -> Vec<OomEvent> {
    let mut reports = OomReports::new(step_path, job_path, page_size);
    text.lines().for_each(|line| reports.add(line));
    reports.events()
}

/// Now on the kernel log's clock, in µs. The log stamps records with the kernel's local clock,
/// which CLOCK_MONOTONIC follows closely (measured on the test machine after 7 h up: 5 ms apart,
/// where CLOCK_MONOTONIC_RAW was 0.3 s apart). Only the time of a kill into the step is taken
/// from it, and one that falls outside the step is dropped ([`kill_time`]).
pub fn now_us() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// How long into the step (which started at `started_us` on the log's clock and lasted
/// `elapsed`) the first kill came. None when the log's clock puts it outside the step: no time
/// rather than one that misleads.
pub fn kill_time(
    kills: &[OomEvent],
    started_us: u64,
    elapsed: Option<std::time::Duration>,
) -> Option<std::time::Duration> {
    let at = std::time::Duration::from_micros(kills.first()?.at_us.checked_sub(started_us)?);
    (at <= elapsed?).then_some(at)
}

/// The kernel log (`/dev/kmsg`) as from one moment on: opened when a step starts (where the
/// plugin still runs as root, which reading it needs where `dmesg_restrict` is set) and moved
/// to its end, so that at the step's end only what the kernel logged since is read, however
/// large the ring buffer and whatever its clock says.
pub struct KernelLog {
    file: std::fs::File,
}

impl KernelLog {
    pub fn open_at_end(root: &Path) -> std::io::Result<KernelLog> {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(root.join("dev/kmsg"))?;
        file.seek(SeekFrom::End(0))?;
        Ok(KernelLog { file })
    }

    /// Hands each record logged since the log was opened (or since the last call) to `each`,
    /// until none is left or `budget` is spent: the step's end is never held up by a busy log.
    /// Records overwritten before they were read are skipped.
    pub fn read_new(&mut self, budget: std::time::Duration, mut each: impl FnMut(&str)) {
        let deadline = std::time::Instant::now() + budget;
        // /dev/kmsg returns one record per read; a record is at most about 8 KiB.
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let _ = crate::fault::at("kmsg"); // a log that reads slowly
            if std::time::Instant::now() > deadline {
                break;
            }
            match self.file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => each(&String::from_utf8_lossy(&buffer[..n])),
                // Overwritten while we were behind: the next read starts at the oldest left.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break, // EAGAIN: nothing more; anything else: stop quietly
            }
        }
    }

    /// The OOM kills of `step`'s processes logged since the log was opened, and how many
    /// records were read for them.
    pub fn oom_events(
        &mut self,
        step: &crate::cgroup::StepCgroup,
        budget: std::time::Duration,
    ) -> (Vec<OomEvent>, usize) {
        let job = step.job_path.as_deref().unwrap_or(&step.step_path);
        let mut reports = OomReports::new(&step.step_path, job, super::sampler::page_size());
        let deadline = std::time::Instant::now() + budget;
        let mut records = 0;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            self.read_new(left, |record| {
                records += 1;
                reports.add(record)
            });
            // The kernel may still be printing the end of a report it has acted on: wait for
            // it briefly, within the same budget.
            if !reports.awaiting_end_of_report() || std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        (reports.events(), records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_KMSG: &str = include_str!("../../tests/fixtures/kmsg/linux-6.18-v1-memcg-oom.kmsg");
    const STEP: &str = "/slurm_localhost/uid_1001/job_1/step_batch";
    const JOB: &str = "/slurm_localhost/uid_1001/job_1";

    #[test]
    fn a_real_memcg_oom_report() {
        let events = parse_oom_events(V1_KMSG, STEP, JOB, 4096);
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
    fn statistics_printed_as_one_message_are_read_as_well() {
        // Before Linux 6.5 the stats are one printk: /dev/kmsg escapes its newlines.
        let mut joined = String::new();
        for line in V1_KMSG.lines() {
            let continues = line.split_once(';').is_some_and(|(_, m)| {
                m.split_once(' ')
                    .is_some_and(|(_, v)| v.trim().parse::<u64>().is_ok())
                    && !m.starts_with('[')
            });
            match continues {
                true => joined.push_str(&format!("\\x0a{}", line.split_once(';').unwrap().1)),
                false => joined.push_str(&format!("\n{line}")),
            }
        }
        let events = parse_oom_events(&joined, STEP, JOB, 4096);
        assert_eq!(events[0].at_kill.anon, Some(104_415_232));
        assert_eq!(events[0].processes.len(), 3);
    }

    #[test]
    fn a_kill_read_before_its_last_line_is_logged_still_counts() {
        // The kernel sends SIGKILL before it prints `Killed process`: a step that ends fast
        // can be read in between (seen on an emulated 26.05 VM).
        let cut: String = V1_KMSG
            .lines()
            .take_while(|l| !l.contains("Killed process"))
            .map(|l| format!("{l}\n"))
            .collect();
        let events = parse_oom_events(&cut, STEP, JOB, 4096);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].victim_pid, 12933);
        assert_eq!(
            events[0].anon_rss, None,
            "its sizes are in the missing line"
        );
        assert_eq!(events[0].processes.len(), 3);
    }

    #[test]
    fn a_victim_already_exiting_is_no_kill() {
        let skipped: String = V1_KMSG
            .lines()
            .map(|l| match l.contains("Killed process") {
                true => "3,901,1234,-;Memory cgroup out of memory: OOM victim 12933 (python3) is already exiting. Skip killing the task\n".to_owned(),
                false => format!("{l}\n"),
            })
            .collect();
        assert!(parse_oom_events(&skipped, STEP, JOB, 4096).is_empty());
    }

    #[test]
    fn other_steps_are_left_out() {
        for step in [
            "/slurm_localhost/uid_1001/job_1/step_0",
            "/slurm_localhost/uid_1001/job_11/step_batch",
        ] {
            assert!(
                parse_oom_events(V1_KMSG, step, JOB, 4096).is_empty(),
                "{step}"
            );
        }
    }

    #[test]
    fn a_process_named_like_a_field_does_not_set_its_own_sizes() {
        // comm is the user's to choose (15 characters): the kernel's fields come after it.
        let renamed = V1_KMSG.replace(
            "Killed process 12933 (python3)",
            "Killed process 12933 (anon-rss:9kB)",
        );
        let events = parse_oom_events(&renamed, STEP, JOB, 4096);
        assert_eq!(events[0].anon_rss, Some(101_632 * 1024));
    }

    #[test]
    fn a_report_written_by_a_program_is_not_the_kernels() {
        // Root programs may write to /dev/kmsg; their records carry a facility other than the
        // kernel's (0): here user (1), priority 1 << 3 | level.
        let forged: String = V1_KMSG
            .lines()
            .map(|l| match l.split_once(',') {
                Some((prio, rest)) => format!("{},{rest}\n", 8 + prio.parse::<u64>().unwrap()),
                None => format!("{l}\n"),
            })
            .collect();
        assert!(parse_oom_events(&forged, STEP, JOB, 4096).is_empty());
    }

    #[test]
    fn a_limit_above_the_job_hides_the_process_table() {
        let node = V1_KMSG.replace(
            "oom_memcg=/slurm_localhost/uid_1001/job_1,",
            "oom_memcg=/slurm_localhost/uid_1001,",
        );
        let events = parse_oom_events(&node, STEP, JOB, 4096);
        assert!(events[0].beyond_job);
        assert!(
            events[0].processes.is_empty(),
            "a node-level table lists other users' processes"
        );
        assert_eq!(
            events[0].at_kill,
            MemoryAtKill::default(),
            "the figures of a cgroup above the job add up other users' memory"
        );
    }

    #[test]
    fn a_kill_time_outside_the_step_is_not_told() {
        let kill = |at_us| {
            vec![OomEvent {
                at_us,
                ..OomEvent::default()
            }]
        };
        let ten_s = Some(std::time::Duration::from_secs(10));
        let at = |at_us| kill_time(&kill(at_us), 1_000_000, ten_s).map(|d| d.as_secs());
        assert_eq!(at(5_000_000), Some(4));
        assert_eq!(at(500_000), None, "before the step started");
        assert_eq!(at(60_000_000), None, "after it ended");
    }

    #[test]
    fn a_missing_kernel_log_cannot_be_opened() {
        assert!(KernelLog::open_at_end(Path::new("/nonexistent")).is_err());
    }

    /// On the machine's real kernel log (root only, as in CI and in slurmstepd): a log opened
    /// at a step's start yields what was logged after, never what came before, however much
    /// that is.
    #[test]
    fn the_real_kernel_log_is_read_from_where_it_was_opened() {
        use std::io::Write;
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: writing to /dev/kmsg needs root (CI runs as root)");
            return;
        }
        let tag = format!("oom-explain unit test {}", std::process::id());
        let write = |text: &str| {
            let mut kmsg = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/kmsg")
                .unwrap();
            kmsg.write_all(format!("{tag}: {text}\n").as_bytes())
                .unwrap();
        };
        write("before the step");
        let mut log = KernelLog::open_at_end(Path::new("/")).unwrap();
        write("during the step");
        let mut seen = Vec::new();
        log.read_new(std::time::Duration::from_secs(5), |r| {
            if let Some((_, _, text)) = record(r)
                && let Some(what) = text.strip_prefix(&format!("{tag}: "))
            {
                seen.push(what.trim_end().to_owned());
            }
        });
        assert_eq!(seen, ["during the step"]);
    }
}
