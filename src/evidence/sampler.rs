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

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cgroup::parse::{read_keyed, read_optional, read_u64};
use crate::cgroup::{CgroupVersion, StepCgroup};

pub const CAPACITY: usize = 240;
pub const FIRST_INTERVAL: Duration = Duration::from_millis(250);
/// The interval stops doubling here (a month-long job still gets a sample an hour).
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// Processes whose size is recorded in each sample (the largest ones).
pub const TOP_PROCESSES: usize = 8;
/// At most this many processes are looked at per sample (a fork bomb must not make it slow).
pub const MAX_PIDS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessSize {
    pub pid: u32,
    pub name: String,
    pub rss: u64,
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
    /// The largest processes, largest first.
    pub top: Vec<ProcessSize>,
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
}

impl Default for Series {
    fn default() -> Self {
        Series {
            interval: FIRST_INTERVAL,
            samples: Vec::with_capacity(CAPACITY),
            taken: 0,
            busy: Duration::ZERO,
        }
    }
}

impl Series {
    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == CAPACITY {
            let merged: Vec<Sample> = self
                .samples
                .chunks(2)
                .map(|pair| {
                    pair.iter()
                        .max_by_key(|s| s.usage)
                        .cloned()
                        .expect("non-empty chunk")
                })
                .collect();
            self.samples = merged;
            self.interval = (self.interval * 2).min(MAX_INTERVAL);
        }
        self.samples.push(sample);
    }

    pub fn peak(&self) -> Option<&Sample> {
        self.samples.iter().max_by_key(|s| s.usage)
    }
}

/// Reads one sample of the step (`root` is where /proc lives; "/" in slurmstepd).
pub fn sample(step: &StepCgroup, root: &Path, at: Duration) -> Sample {
    let (dir, usage_file, anon_key, file_key, prefix) = match step.version {
        CgroupVersion::V1 => (
            step.step_dir.clone(),
            "memory.usage_in_bytes",
            "rss",
            "cache",
            "total_",
        ),
        CgroupVersion::V2 => {
            let user = step.step_dir.join("user");
            let dir = if user.is_dir() {
                user
            } else {
                step.step_dir.clone()
            };
            (dir, "memory.current", "anon", "file", "")
        }
    };
    let cgroup_usage = read_u64(&dir, usage_file).ok().flatten();
    let stat = read_keyed(&dir, "memory.stat")
        .ok()
        .flatten()
        .unwrap_or_default();
    let get = |key: &str| stat.get(&format!("{prefix}{key}")).copied();
    let pids = pids_below(&dir);
    let mut sizes: Vec<ProcessSize> = pids
        .iter()
        .take(MAX_PIDS)
        .filter_map(|&pid| Some((pid, resident_bytes(root, pid)?)))
        .map(|(pid, rss)| ProcessSize {
            pid,
            name: String::new(),
            rss,
        })
        .collect();
    // Without a memory cgroup (Slurm not constraining memory), use is what its processes hold.
    let usage = cgroup_usage.unwrap_or_else(|| sizes.iter().map(|p| p.rss).sum());
    sizes.sort_by_key(|p| std::cmp::Reverse(p.rss));
    sizes.truncate(TOP_PROCESSES);
    for p in &mut sizes {
        p.name = read_optional(&root.join(format!("proc/{}/comm", p.pid)))
            .ok()
            .flatten()
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
    }
    Sample {
        at,
        usage,
        anon: get(anon_key),
        file: get(file_key),
        shmem: get("shmem"),
        processes: pids.len() as u32,
        top: sizes,
    }
}

/// Every pid in `dir` and its sub-cgroups (task_N, user/…).
fn pids_below(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
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
    pids
}

/// A process's resident memory, from /proc/<pid>/statm (pages).
fn resident_bytes(root: &Path, pid: u32) -> Option<u64> {
    let text = read_optional(&root.join(format!("proc/{pid}/statm"))).ok()??;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
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
    thread: Option<JoinHandle<()>>,
    started: Instant,
    step: StepCgroup,
}

impl Sampler {
    /// Starts sampling `step` in a background thread. Fails only if no thread can be made.
    pub fn start(step: StepCgroup) -> std::io::Result<Sampler> {
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
            series: Mutex::new(Series::default()),
        });
        let started = Instant::now();
        let thread = {
            let shared = Arc::clone(&shared);
            let step = step.clone();
            std::thread::Builder::new()
                .name("oom-explain".into())
                .stack_size(256 * 1024)
                .spawn(move || run(&shared, &step, started))?
        };
        Ok(Sampler {
            shared,
            thread: Some(thread),
            started,
            step,
        })
    }

    /// Stops the thread (it wakes at once), takes one last sample, returns the series.
    pub fn stop(mut self) -> Series {
        self.halt();
        let mut series = std::mem::take(&mut *lock(&self.shared.series));
        series.push(sample(&self.step, Path::new("/"), self.started.elapsed()));
        series
    }

    fn halt(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

fn run(shared: &Shared, step: &StepCgroup, started: Instant) {
    loop {
        let clock = Instant::now();
        let s = sample(step, Path::new("/"), started.elapsed());
        let interval = {
            let mut series = lock(&shared.series);
            series.push(s);
            series.taken += 1;
            series.busy += clock.elapsed();
            series.interval
        };
        let stop = lock(&shared.stop);
        let (stop, _) = shared
            .wake
            .wait_timeout_while(stop, interval, |stop| !*stop)
            .unwrap_or_else(|p| p.into_inner());
        if *stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(i: u64, usage: u64) -> Sample {
        Sample {
            at: Duration::from_millis(i * 250),
            usage,
            anon: None,
            file: None,
            shmem: None,
            processes: 1,
            top: Vec::new(),
        }
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
        // docs/performance.md states "about 100 KiB at most".
        assert!(bytes < 128 * 1024, "{bytes} bytes");
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
    fn a_short_job_keeps_every_sample() {
        let mut series = Series::default();
        for i in 0..40 {
            series.push(at(i, i));
        }
        assert_eq!(series.samples.len(), 40);
        assert_eq!(series.interval, FIRST_INTERVAL);
    }
}
