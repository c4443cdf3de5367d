//! Memory over the step's life: a background thread in slurmstepd samples the step's cgroup.
//!
//! Cost is bounded whatever the job's length: the series holds at most [`CAPACITY`] samples;
//! when it is full, neighbouring samples are merged (keeping the higher one, so no peak is lost)
//! and the interval doubles. It starts at [`FIRST_INTERVAL`] so a 10-second job still has a
//! shape; a 7-day job ends up sampled every ~40 minutes with the same memory.
//!
//! The thread runs only in slurmstepd (started in user_init, before any task is forked; fork
//! copies only the forking thread), wakes at once when stopped, and is joined before the report
//! is built — never left running into plugin unload.
//!
//! It must never be the reason a process is killed. slurmstepd sits in the job's own cgroup, so
//! what the thread allocates — kernel memory for every file it opens included — is charged to
//! the job: at the job's limit that charge makes the kernel kill another of the job's
//! processes (seen on Linux 7.2: a second and third worker killed by the sampler's reads). So
//! the cgroup's own figures are read through files opened once ([`Gauge`]: re-reading an open
//! file reuses the kernel's buffer), and near the limit a sample is only those figures: no
//! process is looked at, no file opened.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cgroup::parse::{parse_keyed, parse_u64, read_limit, read_optional};
use crate::cgroup::{CgroupVersion, MemoryStat, StepCgroup};
use crate::evidence::forecast::{self, Forecast, Notice, Room};

pub const CAPACITY: usize = 240;
pub const FIRST_INTERVAL: Duration = Duration::from_millis(250);
/// The interval stops doubling here (a month-long job still gets a sample an hour).
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// Processes whose size is recorded in each sample (the largest ones).
pub const TOP_PROCESSES: usize = 8;
/// At most this many processes are looked at per sample (a fork bomb must not make it slow).
pub const MAX_PIDS: usize = 512;
/// Within this share of the limit (memory the kernel cannot drop), samples are quiet.
pub const QUIET_PERCENT: u64 = 3;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessSize {
    pub pid: u32,
    pub name: String,
    pub rss: u64,
    /// Its reserved (virtual) size: compared with the kernel's total-vm at a kill, it shows a
    /// large block reserved since.
    #[serde(default)]
    pub vm: u64,
}

/// The step at one moment (bytes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Since sampling started.
    pub at: Duration,
    pub usage: u64,
    pub anon: Option<u64>,
    pub file: Option<u64>,
    pub shmem: Option<u64>,
    pub processes: u32,
    /// The largest processes, largest first (none in a quiet sample).
    pub top: Vec<ProcessSize>,
    /// Taken so close to the limit that only the cgroup's figures were read.
    #[serde(default)]
    pub quiet: bool,
}

impl Sample {
    /// A sample that knows only the usage (of one process, no breakdown).
    pub fn usage_only(at: Duration, usage: u64) -> Sample {
        Sample {
            at,
            usage,
            anon: None,
            file: None,
            shmem: None,
            processes: 1,
            top: Vec::new(),
            quiet: false,
        }
    }

    /// Memory the kernel could not drop at this moment: usage less the page cache (files in
    /// /dev/shm stay: they cannot be dropped). All of it when the breakdown is unknown.
    pub fn held(&self) -> u64 {
        let cache = self
            .file
            .unwrap_or(0)
            .saturating_sub(self.shmem.unwrap_or(0));
        self.usage.saturating_sub(cache)
    }
}

/// A fixed-capacity series whose resolution halves when it is full.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    pub interval: Duration,
    pub samples: Vec<Sample>,
    /// Samples taken in all (before merging), and the time spent taking them: the sampler's
    /// own cost, reported to admins.
    pub taken: u64,
    pub busy: Duration,
    /// What the step was told while it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            interval: FIRST_INTERVAL,
            samples: Vec::with_capacity(CAPACITY),
            taken: 0,
            busy: Duration::ZERO,
            notices: Vec::with_capacity(forecast::MAX_NOTICES),
        }
    }
}

impl Series {
    /// Adds a sample; a full series first merges neighbours in place (no allocation: this can
    /// run close to the job's limit).
    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == CAPACITY {
            for i in 0..CAPACITY / 2 {
                let higher = if self.samples[2 * i + 1].usage > self.samples[2 * i].usage {
                    2 * i + 1
                } else {
                    2 * i
                };
                self.samples.swap(i, higher);
            }
            self.samples.truncate(CAPACITY / 2);
            self.interval = (self.interval * 2).min(MAX_INTERVAL);
        }
        self.samples.push(sample);
    }

    pub fn peak(&self) -> Option<&Sample> {
        self.samples.iter().max_by_key(|s| s.usage)
    }

    /// The sample that held the most memory the kernel could not drop.
    pub fn peak_held(&self) -> Option<&Sample> {
        self.samples.iter().max_by_key(|s| s.held())
    }

    /// The highest sample that looked at the processes (quiet ones near the limit did not).
    pub fn peak_with_processes(&self) -> Option<&Sample> {
        self.samples
            .iter()
            .filter(|s| !s.quiet)
            .max_by_key(|s| s.usage)
    }
}

/// The step's cgroup figures, read through files opened once.
pub struct Gauge {
    version: CgroupVersion,
    /// The step's processes (v2: `user/`, without slurmstepd).
    dir: PathBuf,
    /// The step's cgroup as /proc/<pid>/cgroup names it.
    step_path: String,
    /// Where a limit can be hit: the step's processes, and the job (whose limit all its
    /// steps share, slurmstepd included).
    levels: Vec<Level>,
    /// The job's `memory.events` (v2, hierarchical): its `oom_kill` count, and the count when
    /// sampling started.
    events: Option<File>,
    kills_at_start: Option<u64>,
    /// The job has had an OOM kill since sampling started: while the victim's memory is still
    /// charged, any allocation may cost another process. Quiet for the rest of the step.
    killed: bool,
    buffer: Vec<u8>,
}

/// One cgroup whose limit the sampler must keep clear of.
struct Level {
    usage: Option<File>,
    stat: Option<File>,
    limit: Option<u64>,
    /// Page cache the kernel could drop, as of the last full read.
    reclaimable: Option<u64>,
    /// Usage as of the last full read.
    used: Option<u64>,
}

/// What the gauge read: usage and memory.stat.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reading {
    pub usage: Option<u64>,
    pub stat: MemoryStat,
}

impl Gauge {
    pub fn open(step: &StepCgroup) -> Gauge {
        let (usage, limit) = match step.version {
            CgroupVersion::V1 => ("memory.usage_in_bytes", "memory.limit_in_bytes"),
            CgroupVersion::V2 => ("memory.current", "memory.max"),
        };
        let dir = match step.version {
            CgroupVersion::V2 if step.step_dir.join("user").is_dir() => step.step_dir.join("user"),
            _ => step.step_dir.clone(),
        };
        let level = |d: &Path| Level {
            usage: File::open(d.join(usage)).ok(),
            stat: File::open(d.join("memory.stat")).ok(),
            limit: read_limit(d, limit).ok().flatten(),
            reclaimable: None,
            used: None,
        };
        let mut levels = vec![level(&dir)];
        if let Some(job) = step.job_dir.as_deref().filter(|j| *j != dir) {
            levels.push(level(job));
        }
        let events = match step.version {
            CgroupVersion::V2 => File::open(
                step.job_dir
                    .as_deref()
                    .unwrap_or(&step.step_dir)
                    .join("memory.events"),
            )
            .ok(),
            // v1 counts kills only in the victim's own directory: no one file to watch.
            CgroupVersion::V1 => None,
        };
        let mut gauge = Gauge {
            version: step.version,
            dir,
            step_path: step.step_path.clone(),
            levels,
            events,
            kills_at_start: None,
            killed: false,
            buffer: Vec::with_capacity(8192),
        };
        gauge.kills_at_start = gauge.kills();
        gauge
    }

    /// Reads the step's figures again from the open files, and each level's page cache.
    pub fn read(&mut self) -> Reading {
        let mut step = Reading::default();
        for i in 0..self.levels.len() {
            let usage = read_again(self.levels[i].usage.as_ref(), &mut self.buffer)
                .and_then(|text| parse_u64(text).ok());
            let fields = read_again(self.levels[i].stat.as_ref(), &mut self.buffer)
                .and_then(|text| parse_keyed(text).ok())
                .unwrap_or_default();
            let stat = MemoryStat::of(self.version, &fields);
            self.levels[i].reclaimable = stat.reclaimable_file;
            self.levels[i].used = usage;
            if i == 0 {
                step = Reading { usage, stat };
            }
        }
        step
    }

    /// The tightest limit as of the last [`Gauge::read`]: the level with the least room
    /// between what the kernel cannot drop and its limit. `None` without any limit.
    pub fn room(&self) -> Option<Room> {
        let held = |level: &Level| Some(level.used?.saturating_sub(level.reclaimable.unwrap_or(0)));
        let own = held(self.levels.first()?)?;
        self.levels
            .iter()
            .filter_map(|level| {
                Some(Room {
                    held: held(level)?,
                    limit: level.limit?,
                    own,
                })
            })
            .min_by_key(|room| room.limit.saturating_sub(room.held))
    }

    /// The job's OOM kills so far (v2).
    fn kills(&mut self) -> Option<u64> {
        let text = read_again(self.events.as_ref(), &mut self.buffer)?;
        parse_keyed(text).ok()?.get("oom_kill").copied()
    }

    /// Whether the job has had an OOM kill since sampling started (as of the last check).
    pub fn had_kill(&self) -> bool {
        self.killed
    }

    /// Whether opening a file now is safe: no OOM kill in the job since sampling started, and
    /// every level's usage (read again) clear of its limit. Opened files only: costs no memory.
    pub fn safe_now(&mut self) -> bool {
        // With `memory_localevents` on the cgroup2 mount the job's count misses its steps'
        // kills; the usage checks below still hold then.
        if let (false, Some(now), Some(start)) = (self.killed, self.kills(), self.kills_at_start)
            && now > start
        {
            self.killed = true;
        }
        if self.killed {
            return false;
        }
        for i in 0..self.levels.len() {
            let usage = read_again(self.levels[i].usage.as_ref(), &mut self.buffer)
                .and_then(|text| parse_u64(text).ok());
            let level = &self.levels[i];
            if near_limit(usage, level.reclaimable, level.limit) {
                return false;
            }
        }
        true
    }
}

/// Whether memory the kernel cannot drop (usage less `reclaimable` page cache) is within
/// [`QUIET_PERCENT`] of the limit.
fn near_limit(usage: Option<u64>, reclaimable: Option<u64>, limit: Option<u64>) -> bool {
    let (Some(usage), Some(limit)) = (usage, limit) else {
        return false;
    };
    let held = usage.saturating_sub(reclaimable.unwrap_or(0));
    held.saturating_add(limit / 100 * QUIET_PERCENT) >= limit
}

/// The whole text of an open file, read from offset 0 into `buffer`.
fn read_again<'a>(file: Option<&File>, buffer: &'a mut Vec<u8>) -> Option<&'a str> {
    let file = file?;
    buffer.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read_at(&mut chunk, buffer.len() as u64).ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if buffer.len() > 1 << 20 {
            return None;
        }
    }
    std::str::from_utf8(buffer).ok()
}

/// Reads one sample of the step (`root` is where /proc lives; "/" in slurmstepd). Near the
/// limit, or once the job has had a kill, only the gauge is read; otherwise the usage is read
/// again before each file the walk opens, and the walk stops as soon as it gets close.
pub fn sample(gauge: &mut Gauge, root: &Path, at: Duration) -> Sample {
    let reading = gauge.read();
    let quiet = |processes: u32| Sample {
        at,
        usage: reading.usage.unwrap_or(0),
        anon: reading.stat.anon,
        file: reading.stat.file,
        shmem: reading.stat.shmem,
        processes,
        top: Vec::new(),
        quiet: true,
    };
    if !gauge.safe_now() {
        return quiet(0);
    }
    let dir = gauge.dir.clone();
    let mut safe = || gauge.safe_now();
    let Some(pids) = pids_below(&dir, &mut safe) else {
        return quiet(0);
    };
    let mut sizes = Vec::with_capacity(pids.len().min(MAX_PIDS));
    for &pid in pids.iter().take(MAX_PIDS) {
        if !safe() {
            return quiet(pids.len() as u32);
        }
        if let Some((vm, rss)) = sizes_of(root, pid) {
            sizes.push(ProcessSize {
                pid,
                name: String::new(),
                rss,
                vm,
            });
        }
    }
    // Without a memory cgroup (Slurm not constraining memory), use is what its processes hold.
    let usage = reading
        .usage
        .unwrap_or_else(|| sizes.iter().map(|p| p.rss).sum());
    sizes.sort_by_key(|p| std::cmp::Reverse(p.rss));
    sizes.truncate(TOP_PROCESSES);
    let (version, step_path) = (gauge.version, gauge.step_path.clone());
    let mut safe = || gauge.safe_now();
    sizes.retain_mut(|p| {
        if !safe() {
            return true; // nameless, as in a quiet moment
        }
        match name_in_step(root, p.pid, version, &step_path) {
            Some(name) => {
                p.name = name;
                true
            }
            None => false, // gone, or its pid already another process's
        }
    });
    Sample {
        at,
        usage,
        anon: reading.stat.anon,
        file: reading.stat.file,
        shmem: reading.stat.shmem,
        processes: pids.len() as u32,
        top: sizes,
        quiet: false,
    }
}

/// Every pid in `dir` and its sub-cgroups (task_N, user/…); `None` as soon as `safe` says
/// opening another file is not.
fn pids_below(dir: &Path, safe: &mut impl FnMut() -> bool) -> Option<Vec<u32>> {
    let mut pids = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        if !safe() {
            return None;
        }
        if let Ok(Some(text)) = read_optional(&d.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            dirs.extend(
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        if pids.len() > MAX_PIDS * 4 {
            break;
        }
    }
    Some(pids)
}

/// The name of process `pid` if it is still in the step. A process that ended since the step's
/// pids were listed may have left its pid to another, perhaps another user's, whose name must
/// not be shown: the name is read first, then the process's cgroup, and a pid no longer in
/// the step gives nothing. (A process cannot move itself into a job's cgroup.)
fn name_in_step(root: &Path, pid: u32, version: CgroupVersion, step_path: &str) -> Option<String> {
    let name = read_optional(&root.join(format!("proc/{pid}/comm"))).ok()??;
    let cgroups = read_optional(&root.join(format!("proc/{pid}/cgroup"))).ok()??;
    in_cgroup(&cgroups, version, step_path).then(|| name.trim().to_owned())
}

/// Whether /proc/<pid>/cgroup text puts the process in `dir` or below, in the hierarchy of
/// `version` (v1: the memory controller's line; v2: the unified `0::` line).
fn in_cgroup(proc_cgroup: &str, version: CgroupVersion, dir: &str) -> bool {
    proc_cgroup.lines().any(|line| {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let ours = match version {
            CgroupVersion::V1 => controllers.split(',').any(|c| c == "memory"),
            CgroupVersion::V2 => id == "0" && controllers.is_empty(),
        };
        ours && (path == dir
            || path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/')))
    })
}

/// A process's reserved and resident sizes, from /proc/<pid>/statm (pages).
fn sizes_of(root: &Path, pid: u32) -> Option<(u64, u64)> {
    let text = read_optional(&root.join(format!("proc/{pid}/statm"))).ok()??;
    let mut pages = text.split_whitespace().map(|p| p.parse::<u64>().ok());
    let (vm, rss) = (pages.next()??, pages.next()??);
    Some((vm * page_size(), rss * page_size()))
}

pub fn page_size() -> u64 {
    use nix::unistd::{SysconfVar, sysconf};
    match sysconf(SysconfVar::PAGE_SIZE) {
        Ok(Some(size)) if size > 0 => size as u64,
        _ => 4096,
    }
}

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    series: Mutex<Series>,
}

/// The running sampler of one step.
pub struct Sampler {
    shared: Arc<Shared>,
    /// The thread gives its gauge back when it ends: the last sample keeps its rules.
    thread: Option<JoinHandle<Gauge>>,
    started: Instant,
}

impl Sampler {
    /// Starts sampling `step` in a background thread, with warnings while it runs if
    /// `warner` is given. Fails only if no thread can be made.
    pub fn start(step: StepCgroup, warner: Option<Warner>) -> std::io::Result<Sampler> {
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
            series: Mutex::new(Series::default()),
        });
        let started = Instant::now();
        let thread = {
            let shared = Arc::clone(&shared);
            // Opened here, before the tasks start: the job has all its memory free.
            let gauge = Gauge::open(&step);
            std::thread::Builder::new()
                .name("oom-explain".into())
                .stack_size(256 * 1024)
                .spawn(move || run(&shared, gauge, started, warner))?
        };
        Ok(Sampler {
            shared,
            thread: Some(thread),
            started,
        })
    }

    /// Stops the thread (it wakes at once), takes one last sample with the thread's own gauge
    /// (quiet if the job had a kill: another step may still be at the limit), returns the
    /// series — and, if the thread panicked, why (the samples it took before still count).
    pub fn stop(mut self) -> (Series, Option<String>) {
        let (gauge, panic) = match self.halt() {
            Some(Ok(gauge)) => (Some(gauge), None),
            Some(Err(why)) => (None, Some(why)),
            None => (None, None),
        };
        let mut series = std::mem::take(&mut *lock(&self.shared.series));
        if let Some(mut gauge) = gauge {
            series.push(sample(&mut gauge, Path::new("/"), self.started.elapsed()));
        }
        (series, panic)
    }

    /// Stops and joins the thread without a last sample, for a step abandoned without a
    /// report; what its panic said, if it panicked.
    pub fn abandon(mut self) -> Option<String> {
        self.halt()?.err()
    }

    /// Stops and joins the thread: its gauge, or what its panic said.
    fn halt(&mut self) -> Option<Result<Gauge, String>> {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        let thread = self.thread.take()?;
        Some(thread.join().map_err(|payload| {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            format!("the sampler thread panicked: {}", text.unwrap_or_default())
        }))
    }
}

impl Drop for Sampler {
    /// A sampler is never left running, even if the report is abandoned.
    fn drop(&mut self) {
        self.halt();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Warnings while the step runs: its forecast, and who tells the step.
pub struct Warner {
    forecast: Forecast,
    tell: Box<dyn FnMut(&Notice) + Send>,
}

impl Warner {
    /// Made before the step's tasks start: the forecast's memory is all allocated here.
    pub fn new(settings: forecast::Settings, tell: Box<dyn FnMut(&Notice) + Send>) -> Warner {
        Warner {
            forecast: Forecast::new(settings),
            tell,
        }
    }

    /// The forecast's notice on the gauge's last reading. Nothing is decided while it is not
    /// safe to say: a line written when the step is at its limit would cost memory the step
    /// has not got.
    fn observe(&mut self, at: Duration, gauge: &mut Gauge) -> Option<Notice> {
        let room = gauge.room()?;
        let can_tell = gauge.safe_now();
        self.forecast.observe(at, room, can_tell)
    }

    /// When the forecast wants its next reading; `None` once it has said all it may.
    fn due(&self, elapsed: Duration) -> Option<Duration> {
        (!self.forecast.finished()).then(|| self.forecast.due(elapsed))
    }
}

/// How long the thread sleeps at `now`: until the next full sample or the forecast's next
/// reading, whichever comes first.
pub(crate) fn next_wake(
    now: Duration,
    next_sample: Duration,
    forecast_due: Option<Duration>,
) -> Duration {
    let due = forecast_due.map_or(next_sample, |f| f.min(next_sample));
    due.saturating_sub(now)
}

fn run(shared: &Shared, mut gauge: Gauge, started: Instant, mut warner: Option<Warner>) -> Gauge {
    let mut next_sample = Duration::ZERO;
    loop {
        let clock = Instant::now();
        let now = started.elapsed();
        // A full sample on the series' interval; between them, for the forecast, only the
        // cgroup's own figures (the series' interval grows long in a long job; the forecast's
        // stride stays fine enough to see a leak coming).
        let sample = (now >= next_sample).then(|| sample(&mut gauge, Path::new("/"), now));
        if sample.is_none() && warner.is_some() {
            gauge.read();
        }
        let notice = warner.as_mut().and_then(|w| w.observe(now, &mut gauge));
        if gauge.had_kill() {
            warner = None; // nothing can be told after a kill in the job: no more readings
        }
        {
            let mut series = lock(&shared.series);
            if let Some(sample) = sample {
                series.push(sample);
                series.taken += 1;
                // At least half an interval after this sample ended: a sample slower than its
                // interval (thousands of processes) never runs back to back.
                next_sample = (now + series.interval).max(started.elapsed() + series.interval / 2);
            }
            if let Some(notice) = &notice {
                series.notices.push(notice.clone());
            }
            series.busy += clock.elapsed();
        }
        // The lock is released: a panic here leaves the samples taken so far for the report.
        if let (Some(warner), Some(notice)) = (warner.as_mut(), notice.as_ref()) {
            (warner.tell)(notice);
        }
        let _ = crate::fault::at("sampler");
        let wait = next_wake(
            started.elapsed(),
            next_sample,
            warner.as_ref().and_then(|w| w.due(now)),
        );
        let stop = lock(&shared.stop);
        let (stop, _) = shared
            .wake
            .wait_timeout_while(stop, wait, |stop| !*stop)
            .unwrap_or_else(|p| p.into_inner());
        if *stop {
            return gauge;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_in_the_step_by_its_own_cgroup_line() {
        let fixture = |set: &str| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(set);
            std::fs::read_to_string(dir.join("proc/self/cgroup")).unwrap()
        };
        let v1 = fixture("v1-slurm-22.05/near-miss");
        let step = "/slurm_localhost/uid_1001/job_4/step_batch";
        assert!(in_cgroup(&v1, CgroupVersion::V1, step));
        // The freezer line names only the job; the unified `0::/` line is not v1's memory.
        assert!(!in_cgroup(
            &v1,
            CgroupVersion::V1,
            "/slurm_localhost/uid_1001/job_4/step_0"
        ));
        assert!(!in_cgroup(&v1, CgroupVersion::V2, step));
        let v2 = fixture("v2-slurm-26.05-linux-7.2/batch-oom");
        let job = "/system.slice/localhost_slurmstepd.scope/s435M8MYR9PV00";
        assert!(in_cgroup(
            &v2,
            CgroupVersion::V2,
            &format!("{job}/step_batch")
        ));
        assert!(!in_cgroup(
            &v2,
            CgroupVersion::V2,
            &format!("{job}/step_bat")
        ));
    }

    #[test]
    fn a_pid_now_outside_the_step_gives_no_name() {
        let root = tempfile::tempdir().unwrap();
        let proc_of = |pid: u32, comm: &str, cgroup: &str| {
            let dir = root.path().join(format!("proc/{pid}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
            std::fs::write(dir.join("cgroup"), format!("0::{cgroup}\n")).unwrap();
        };
        let step = "/system.slice/s1/job_7/step_0";
        proc_of(41, "python3", "/system.slice/s1/job_7/step_0/user/task_0");
        // Pid 42 was the step's when listed; it ended, and another user's program has it now.
        proc_of(
            42,
            "secret_tool",
            "/user.slice/user-1002.slice/session-9.scope",
        );
        let name = |pid| name_in_step(root.path(), pid, CgroupVersion::V2, step);
        assert_eq!(name(41).as_deref(), Some("python3"));
        assert_eq!(name(42), None);
        assert_eq!(name(43), None, "gone");
    }

    #[test]
    fn this_very_process_is_named_in_its_own_cgroup() {
        let me = std::process::id();
        let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let (version, path) = match text.lines().find(|l| l.split(':').nth(1) == Some("memory")) {
            Some(line) => (
                CgroupVersion::V1,
                line.splitn(3, ':').nth(2).unwrap().to_owned(),
            ),
            None => (
                CgroupVersion::V2,
                text.trim().trim_start_matches("0::").to_owned(),
            ),
        };
        let name = name_in_step(Path::new("/"), me, version, &path).expect("named");
        assert!(!name.is_empty());
        assert_eq!(
            name_in_step(Path::new("/"), me, version, "/elsewhere"),
            None
        );
    }

    fn at(i: u64, usage: u64) -> Sample {
        Sample::usage_only(Duration::from_millis(i * 250), usage)
    }

    #[test]
    fn a_week_of_samples_stays_within_capacity_and_keeps_the_peak() {
        // As the thread does: one sample per current interval, for 7 days.
        let mut series = Series::default();
        let (mut now, end) = (Duration::ZERO, Duration::from_secs(7 * 24 * 3600));
        let mut pushed = 0u64;
        while now < end {
            let usage = if now.as_secs() / 3600 == 100 {
                999
            } else {
                pushed % 100
            };
            series.push(Sample {
                at: now,
                ..at(0, usage)
            });
            assert!(series.samples.len() <= CAPACITY);
            now += series.interval;
            pushed += 1;
        }
        assert_eq!(
            series.peak().unwrap().usage,
            999,
            "the peak survives every merge"
        );
        assert!(
            series.interval >= Duration::from_secs(1200),
            "{:?}",
            series.interval
        );
        assert!(pushed < 3000, "{pushed} samples for a week");
        // Samples stay in time order.
        assert!(series.samples.windows(2).all(|w| w[0].at < w[1].at));
    }

    /// Heap and inline bytes of a sample as stored.
    fn footprint(s: &Sample) -> usize {
        std::mem::size_of::<Sample>()
            + s.top.capacity() * std::mem::size_of::<ProcessSize>()
            + s.top.iter().map(|p| p.name.capacity()).sum::<usize>()
    }

    #[test]
    fn worst_case_memory_is_bounded() {
        // A full series of samples that each name TOP_PROCESSES processes with the longest
        // names the kernel gives (comm: 15 bytes), as after days of sampling a busy step.
        let mut series = Series::default();
        for i in 0..(CAPACITY as u64 * 20) {
            let top = (0..TOP_PROCESSES as u32)
                .map(|pid| ProcessSize {
                    pid,
                    name: "fifteen_chars15".into(),
                    vm: 0,
                    rss: i,
                })
                .collect();
            series.push(Sample { top, ..at(i, i) });
        }
        let bytes: usize = series.samples.capacity() * std::mem::size_of::<Sample>()
            + series
                .samples
                .iter()
                .map(|s| footprint(s) - std::mem::size_of::<Sample>())
                .sum::<usize>();
        // docs/admins.md states "about 150 KiB at most".
        assert!(bytes < 160 * 1024, "{bytes} bytes");
        assert!(series.samples.len() <= CAPACITY);
    }

    #[test]
    fn the_interval_never_overflows() {
        let mut series = Series::default();
        for i in 0..100_000 {
            series.push(at(i, i));
        }
        assert_eq!(series.interval, MAX_INTERVAL);
    }

    #[test]
    fn near_the_limit_only_memory_the_kernel_cannot_drop_counts() {
        const MIB: u64 = 1 << 20;
        let limit = Some(100 * MIB);
        assert!(near_limit(Some(98 * MIB), None, limit));
        assert!(near_limit(Some(100 * MIB), Some(0), limit));
        assert!(!near_limit(Some(90 * MIB), None, limit));
        // Full of page cache: the kernel drops it before it kills anything.
        assert!(!near_limit(Some(100 * MIB), Some(40 * MIB), limit));
        // No limit, no figure: never quiet.
        assert!(!near_limit(Some(100 * MIB), None, None));
        assert!(!near_limit(None, None, limit));
    }

    /// A real v2 tree (Linux 6.1) read as a job with one step.
    fn plain(job: &str) -> StepCgroup {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/v2-plain-linux-6.1")
            .join(job);
        StepCgroup {
            version: CgroupVersion::V2,
            step_dir: dir.join("step_0"),
            job_dir: Some(dir),
            step_path: format!("/{job}/step_0"),
            job_path: Some(format!("/{job}")),
        }
    }

    #[test]
    fn the_gauge_reads_its_open_files_again_and_finds_the_limits() {
        // job_F: a live process holding 40 MiB under the parent's memory.max=100M.
        let mut gauge = Gauge::open(&plain("job_F"));
        assert_eq!(gauge.levels.len(), 2, "the step and its job");
        let limit = gauge.levels.iter().filter_map(|l| l.limit).min();
        assert_eq!(limit, Some(100 << 20));
        let first = gauge.read();
        assert_eq!(first.usage, Some(43_143_168));
        assert!(first.stat.anon.unwrap() >= 40 << 20);
        assert_eq!(gauge.read(), first, "read again from the start");
        assert!(gauge.safe_now());
    }

    #[test]
    fn a_job_near_its_limit_makes_every_steps_sampler_quiet() {
        // A real Slurm 22.05 job on v2 (Linux 6.1), read from its batch step; as if the job's
        // limit were just above the job's usage (another step holding the rest of it).
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/v2-slurm-22.05-linux-6.1/job2-step_batch-at-task_exit");
        let step = crate::cgroup::discover(&root, "self").unwrap();
        let job_usage: u64 =
            std::fs::read_to_string(step.job_dir.as_ref().unwrap().join("memory.current"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        let mut gauge = Gauge::open(&step);
        gauge.read();
        assert!(gauge.safe_now());
        gauge.levels[0].limit = Some(1 << 30);
        gauge.levels[1].limit = Some(job_usage + (job_usage / 100));
        assert!(!gauge.safe_now());
        gauge.levels[1].limit = Some(1 << 30);
        assert!(gauge.safe_now());
    }

    #[test]
    fn after_a_kill_in_the_job_every_sample_is_quiet() {
        // job_A had an OOM kill; as if it came after sampling started.
        let mut gauge = Gauge::open(&plain("job_A"));
        gauge.read();
        assert!(gauge.safe_now(), "no kill since the start");
        gauge.kills_at_start = Some(0);
        assert!(!gauge.safe_now());
        let s = sample(&mut gauge, Path::new("/nonexistent"), Duration::ZERO);
        assert!(s.quiet && s.top.is_empty());
    }

    #[test]
    fn merging_keeps_the_higher_of_each_pair_in_time_order() {
        let mut series = Series::default();
        for i in 0..CAPACITY as u64 {
            series.push(at(i, if i % 2 == 0 { i } else { 1000 + i }));
        }
        series.push(at(CAPACITY as u64, 7));
        assert_eq!(series.samples.len(), CAPACITY / 2 + 1);
        assert_eq!(series.samples[0].usage, 1001);
        assert_eq!(series.samples[1].usage, 1003);
        assert_eq!(series.samples.last().unwrap().usage, 7);
    }

    #[test]
    fn a_short_job_keeps_every_sample() {
        let mut series = Series::default();
        for i in 0..40 {
            series.push(at(i, i));
        }
        assert_eq!(series.samples.len(), 40);
        assert_eq!(series.interval, FIRST_INTERVAL);
    }
}
