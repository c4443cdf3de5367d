//! From the evidence to a cause. Pure: the same evidence always gives the same diagnosis.
//!
//! Who killed (the kernel at the job's limit, the kernel because something above the job ran
//! short, or Slurm's accounting poll) is decided first; then, for a kill at the job's limit,
//! the patterns are tried in a fixed order and the first that fits is the cause, the next one
//! that fits is mentioned as secondary. All thresholds are shares of the step's own limit or
//! run time, never absolute sizes, so they hold for a 100 MiB job and a 500 GiB one alike.

use std::time::Duration;

use crate::cgroup::{CgroupVersion, MemorySnapshot};
use crate::config::Config;
use crate::evidence::kernel::OomEvent;
use crate::evidence::sampler::{Sample, Series};
use crate::step::{StepContext, StepKind};

/// Why the step ran out of memory (or came close, or asked for far too much).
/// The ids are stable: tools and tests read them from the `cause:` line (docs/causes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    UnderAllocation,
    LoadSpike,
    WorkerMultiplication,
    SteadyGrowth,
    Tmpfs,
    RankImbalance,
    OtherStep,
    NodeOom,
    OverMemoryKill,
    NearMiss,
    OverRequest,
    Unknown,
    None,
}

const ALL: [Cause; 13] = [
    Cause::UnderAllocation,
    Cause::LoadSpike,
    Cause::WorkerMultiplication,
    Cause::SteadyGrowth,
    Cause::Tmpfs,
    Cause::RankImbalance,
    Cause::OtherStep,
    Cause::NodeOom,
    Cause::OverMemoryKill,
    Cause::NearMiss,
    Cause::OverRequest,
    Cause::Unknown,
    Cause::None,
];

impl Cause {
    pub fn id(self) -> &'static str {
        match self {
            Cause::UnderAllocation => "under-allocation",
            Cause::LoadSpike => "load-spike",
            Cause::WorkerMultiplication => "worker-multiplication",
            Cause::SteadyGrowth => "steady-growth",
            Cause::Tmpfs => "tmpfs",
            Cause::RankImbalance => "rank-imbalance",
            Cause::OtherStep => "other-step",
            Cause::NodeOom => "node-oom",
            Cause::OverMemoryKill => "overmemory-kill",
            Cause::NearMiss => "near-miss",
            Cause::OverRequest => "over-request",
            Cause::Unknown => "unknown",
            Cause::None => "none",
        }
    }

    /// The cause with this id, as records and reports spell it.
    pub fn from_id(id: &str) -> Option<Cause> {
        ALL.into_iter().find(|c| c.id() == id)
    }

    /// Whether the step was killed (as opposed to finished).
    pub fn is_kill(self) -> bool {
        !matches!(self, Cause::NearMiss | Cause::OverRequest | Cause::None)
    }
}

/// Evidence gathered during the step's life, beside the end-of-step snapshot.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// Memory over time (None when the sampler could not run).
    pub series: Option<Series>,
    /// The kernel's OOM reports about this step's processes.
    pub kernel: Vec<OomEvent>,
    /// When the first OOM kill happened, on the series' clock (from the kernel's report).
    pub kill_at: Option<Duration>,
}

/// The series as the classifier reads it: up to the kill (what follows is the aftermath), and
/// ending at the cgroup's own peak, which the sampler may have missed — a rise faster than one
/// sampling interval is seen only there.
fn series_until_kill(evidence: &Evidence, peak: Option<u64>) -> Option<Series> {
    let mut series = evidence.series.clone()?;
    let kill_at = evidence.kill_at?;
    series.samples.retain(|s| s.at <= kill_at);
    let last = series.samples.last()?.clone();
    if let Some(p) = peak
        && p > series.peak().map_or(0, |s| s.usage)
    {
        series.samples.push(Sample {
            at: kill_at.max(last.at),
            usage: p,
            ..last
        });
    }
    Some(series)
}

/// Several processes of about the same, large size at the peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workers {
    /// How many (at least; the sampler keeps the largest few).
    pub count: u32,
    /// The median size among them.
    pub each: u64,
    pub name: String,
    /// All processes of the step at that moment.
    pub processes: u32,
}

/// Memory rising steadily until the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Growth {
    pub per_minute: u64,
    pub over: Duration,
    /// Where the rise was heading, if it was slowing down (a cache warming up, not a leak).
    pub level: Option<u64>,
}

/// A sharp rise after a calm start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spike {
    /// Use during the calm part.
    pub before: u64,
    /// How long the rise to the limit took.
    pub rise: Duration,
    /// When it started, from the step's start.
    pub after: Duration,
}

/// One task that used far more than the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeavyTask {
    pub task: u32,
    pub peak: u64,
    /// The largest peak among the other tasks.
    pub others: u64,
    pub tasks: usize,
}

/// The process the kernel killed, from its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victim {
    pub name: String,
    /// Its virtual size: what it had reserved, used or not.
    pub total_vm: Option<u64>,
    /// What it held in memory (anon + file + shmem RSS).
    pub rss: Option<u64>,
}

/// The cause and the facts that prove it, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    /// A second pattern that also fits, mentioned after the main one.
    pub secondary: Option<Cause>,
    /// Processes of this step the kernel's OOM killer killed.
    pub oom_kills: u64,
    /// Of those, the ones killed only because the step is killed as a whole
    /// (`--oom-kill-step`): the kernel chose the others.
    pub oom_group_kills: u64,
    /// The limit the kernel enforced on the step.
    pub limit: Option<u64>,
    /// Times the kernel throttled the step above its soft limit (v2), and that soft limit.
    pub throttled: u64,
    pub soft_limit: Option<u64>,
    /// The step's highest use.
    pub peak: Option<u64>,
    /// The peak less the page cache the kernel could have dropped, where known.
    pub peak_unreclaimable: Option<u64>,
    /// The kernel kept no peak (cgroup v2 before Linux 5.19 has no memory.peak): `peak` is the
    /// highest figure seen, so the real peak may have been higher.
    pub peak_is_lower_bound: bool,
    /// The whole job's highest use and limit on this node.
    pub job_peak: Option<u64>,
    pub job_limit: Option<u64>,
    /// The process the kernel killed (name, anon RSS) from its report.
    pub victim: Option<Victim>,
    /// Slurm's own allocation for the step (what OverMemoryKill compares with).
    pub slurm_allocation: Option<u64>,
    /// Files in tmpfs (/dev/shm) charged to the step.
    pub shmem: Option<u64>,
    pub workers: Option<Workers>,
    pub growth: Option<Growth>,
    pub spike: Option<Spike>,
    pub heavy_task: Option<HeavyTask>,
    /// Other steps' use of the shared job limit.
    pub others_usage: Option<u64>,
}

impl Diagnosis {
    /// A diagnosis with this cause and no facts yet.
    pub fn new(cause: Cause) -> Self {
        Diagnosis {
            cause,
            secondary: None,
            oom_kills: 0,
            oom_group_kills: 0,
            limit: None,
            throttled: 0,
            soft_limit: None,
            peak: None,
            peak_unreclaimable: None,
            peak_is_lower_bound: false,
            job_peak: None,
            job_limit: None,
            victim: None,
            slurm_allocation: None,
            shmem: None,
            workers: None,
            growth: None,
            spike: None,
            heavy_task: None,
            others_usage: None,
        }
    }
}

pub fn percent(part: u64, whole: u64) -> Option<u64> {
    (whole > 0).then(|| (part as u128 * 100 / whole as u128) as u64)
}

fn share(part: u64, whole: u64, at_least_percent: u64) -> bool {
    percent(part, whole).is_some_and(|pc| pc >= at_least_percent)
}

/// Killed "at the limit" means use came this close to it.
const AT_LIMIT_PERCENT: u64 = 90;

pub fn classify(
    snapshot: &MemorySnapshot,
    evidence: &Evidence,
    context: &StepContext,
    config: &Config,
) -> Diagnosis {
    let step = &snapshot.step;
    let job = snapshot.job.as_ref();
    let limit = snapshot.limit;
    // The sampler may have seen a higher point than the cgroup's own peak on kernels without it.
    let sampled_peak = evidence
        .series
        .as_ref()
        .and_then(|s| s.peak())
        .map(|s| s.usage);
    let peak = match (step.peak, sampled_peak) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    // Without memory.peak (v2, Linux < 5.19) the highest figure is the sampler's: the real peak
    // may have been higher. (memory.events cannot fill the gap: its `max` also counts page
    // cache reclaimed at the limit, and the job's counts any step's limit hits.)
    let peak_is_lower_bound = snapshot.version == CgroupVersion::V2 && step.peak.is_none();
    let peak_unreclaimable = match (peak, step.stat.reclaimable_file) {
        (Some(p), Some(cache)) => Some(p.saturating_sub(cache)),
        (p, _) => p,
    };
    let job_peak = job.and_then(|j| j.peak);
    let job_limit = job.and_then(|j| j.limit).or(limit);
    let slurm_allocation = context.step_allocation;

    let tasks_killed = context.tasks_killed() as u64;
    let oom_kills = match step.oom_kills {
        Some(kills) => kills.max(evidence.kernel.len() as u64),
        // Kernels before 4.13 (v1) count no kills: a SIGKILLed task at the limit is one.
        None if reached(peak, limit) => tasks_killed,
        None => evidence.kernel.len() as u64,
    };
    // With memory.oom.group the kernel ends the whole step after choosing one victim per OOM
    // event: the rest went down with it.
    let oom_group_kills = match snapshot.kills_whole_step {
        true => oom_kills.saturating_sub((evidence.kernel.len() as u64).max(1)),
        false => 0,
    };
    let victim = evidence.kernel.last().map(|e| Victim {
        name: e.victim_name.clone(),
        total_vm: e.total_vm,
        rss: [e.anon_rss, e.file_rss, e.shmem_rss]
            .into_iter()
            .flatten()
            .reduce(|a, b| a + b),
    });
    // tmpfs files: at the end (if not deleted), in any sample, or in the kernel's own figures
    // at the kill (a burst of writes can be faster than a sample).
    let sampled_shmem = evidence
        .series
        .as_ref()
        .and_then(|s| s.samples.iter().filter_map(|x| x.shmem).max());
    let shmem_at_kill = evidence.kernel.iter().filter_map(|e| e.at_kill.shmem).max();
    let shmem = [step.stat.shmem, sampled_shmem, shmem_at_kill]
        .into_iter()
        .flatten()
        .max();

    let mut d = Diagnosis {
        oom_kills,
        oom_group_kills,
        limit,
        throttled: step.throttled.unwrap_or(0),
        soft_limit: snapshot.soft_limit,
        peak,
        peak_unreclaimable,
        peak_is_lower_bound,
        job_peak,
        job_limit,
        victim,
        slurm_allocation,
        shmem,
        ..Diagnosis::new(Cause::None)
    };

    if oom_kills == 0 {
        // Slurm's accounting poll (OverMemoryKill) kills with SIGKILL, with no OOM kill in the
        // cgroup, once use passes Slurm's own allocation.
        if tasks_killed > 0
            && let (Some(p), Some(alloc)) = (peak, slurm_allocation)
            && p >= alloc
            && !reached(Some(p), limit)
        {
            d.cause = Cause::OverMemoryKill;
            return d;
        }
        d.cause = finished_cause(&d, context, config);
        return d;
    }

    // The kernel's report says whose limit was hit; without it, a kill well below the job's own
    // limit can only have come from above the job.
    let kernel_says_node = evidence.kernel.iter().any(|e| e.beyond_job);
    // Without the kernel's peak, the limit counters say whether the job's own limits were hit
    // (a limit above the job leaves them at 0).
    let limit_hit = [step.limit_hits, job.and_then(|j| j.limit_hits)]
        .into_iter()
        .any(|n| n.unwrap_or(0) > 0);
    let job_reached = reached(job_peak, job_limit)
        || reached(peak, limit)
        || (peak_is_lower_bound || peak.is_none()) && limit_hit;
    if kernel_says_node || (evidence.kernel.is_empty() && !job_reached) {
        d.cause = Cause::NodeOom;
        return d;
    }
    let Some(limit_bytes) = limit.or(job_limit) else {
        d.cause = Cause::Unknown;
        return d;
    };

    // Patterns, in order of precedence; the first is the cause, the second is mentioned.
    let mut found: Vec<Cause> = Vec::new();
    // The job's limit filled up, this step did not fill it alone, and the other steps held a
    // real share of it (not just slurmstepd or an idle batch shell).
    if let (Some(own), Some(jp), Some(jl)) = (step.peak, job_peak, job_limit)
        && reached(Some(jp), Some(jl))
        && !share(own, jl, AT_LIMIT_PERCENT)
        && share(jp.saturating_sub(own), jl, 25)
    {
        d.others_usage = Some(jp.saturating_sub(own));
        found.push(Cause::OtherStep);
    }
    // Files in memory: seen in the shmem figures, or — when a burst of writes was faster than
    // the kernel's statistics (flushed every ~2 s) — in the gap between what the job had charged
    // at the kill (its limit) and what its processes held then (the kernel's process table).
    // Page cache would have been reclaimed instead of killing, so that gap is tmpfs/shm.
    // Of several kills, the fullest table counts: later ones list what was left after the
    // first victim, whose memory may still be charged while it exits.
    let held_by_processes = evidence
        .kernel
        .iter()
        .filter(|e| !e.processes.is_empty())
        .map(|e| e.processes.iter().map(|p| p.rss).sum::<u64>())
        .max();
    let unheld = held_by_processes
        .filter(|&held| job_reached && !share(held, limit_bytes, 30))
        .map(|held| limit_bytes.saturating_sub(held));
    if let Some(files) = [shmem, unheld].into_iter().flatten().max()
        && share(files, limit_bytes, 30)
    {
        d.shmem = Some(files);
        found.push(Cause::Tmpfs);
    }
    if let Some(heavy) = heavy_task(snapshot, limit_bytes) {
        d.heavy_task = Some(heavy);
        found.push(Cause::RankImbalance);
    }
    if let Some(series) =
        &series_until_kill(evidence, step.peak).or_else(|| evidence.series.clone())
    {
        if let Some(workers) = workers(series, limit_bytes) {
            d.workers = Some(workers);
            found.push(Cause::WorkerMultiplication);
        }
        if let Some(growth) = steady_growth(series, limit_bytes) {
            d.growth = Some(growth);
            found.push(Cause::SteadyGrowth);
        } else if let Some(spike) = load_spike(series, limit_bytes) {
            d.spike = Some(spike);
            found.push(Cause::LoadSpike);
        }
    }
    if !job_reached && found.is_empty() {
        d.cause = Cause::Unknown;
        return d;
    }
    found.push(Cause::UnderAllocation);
    d.cause = found[0];
    d.secondary = found
        .get(1)
        .copied()
        .filter(|c| *c != Cause::UnderAllocation);
    d
}

fn finished_cause(d: &Diagnosis, context: &StepContext, config: &Config) -> Cause {
    let near = matches!((d.peak_unreclaimable, d.limit), (Some(p), Some(l)) if share(p, l, config.near_miss_percent as u64));
    if d.throttled > 0 || near {
        Cause::NearMiss
    } else if over_request(context, d.job_peak, d.job_limit, config) {
        Cause::OverRequest
    } else {
        Cause::None
    }
}

fn reached(peak: Option<u64>, limit: Option<u64>) -> bool {
    matches!((peak, limit), (Some(p), Some(l)) if share(p, l, AT_LIMIT_PERCENT))
}

/// Over-request is a property of the whole job's request, so it is judged on the job's figures,
/// and only by the batch step: it ends after the job's srun steps, and judging each step alone
/// would call every small helper step wasteful.
fn over_request(
    context: &StepContext,
    job_peak: Option<u64>,
    job_limit: Option<u64>,
    config: &Config,
) -> bool {
    let (Some(peak), Some(limit)) = (job_peak, job_limit) else {
        return false;
    };
    context.id.step == StepKind::Batch
        && !share(peak, limit, config.over_request_percent as u64)
        && limit.saturating_sub(peak) >= config.over_request_min_unused_mib << 20
}

/// One task whose peak is at least half the limit and at least twice any other task's.
fn heavy_task(snapshot: &MemorySnapshot, limit: u64) -> Option<HeavyTask> {
    let mut peaks: Vec<(u32, u64)> = snapshot
        .tasks
        .iter()
        .filter_map(|t| Some((t.task, t.peak?)))
        .collect();
    if peaks.len() < 2 {
        return None;
    }
    peaks.sort_by_key(|p| std::cmp::Reverse(p.1));
    let (task, peak) = peaks[0];
    let others = peaks[1].1;
    (share(peak, limit, 50) && peak >= others.saturating_mul(2)).then_some(HeavyTask {
        task,
        peak,
        others,
        tasks: peaks.len(),
    })
}

/// At the step's highest point that looked at its processes: three or more processes, each at
/// least 8 % of the limit and within a factor of two of their median, holding together at least
/// half the limit.
fn workers(series: &Series, limit: u64) -> Option<Workers> {
    let at_peak: &Sample = series.peak_with_processes()?;
    let large: Vec<_> = at_peak
        .top
        .iter()
        .filter(|p| share(p.rss, limit, 8))
        .collect();
    if large.len() < 3 {
        return None;
    }
    let median = large[large.len() / 2].rss;
    let similar: Vec<_> = large
        .iter()
        .filter(|p| p.rss * 2 >= median && p.rss <= median * 2)
        .collect();
    let total: u64 = similar.iter().map(|p| p.rss).sum();
    (similar.len() >= 3 && share(total, limit, 50)).then(|| Workers {
        count: similar.len() as u32,
        each: median,
        name: similar[0].name.clone(),
        processes: at_peak.processes,
    })
}

/// Use rose steadily over most of the run (at least 15 s and 60 % of it) to the end, covering at
/// least half the limit, in a nearly straight line (R² ≥ 0.85).
fn steady_growth(series: &Series, limit: u64) -> Option<Growth> {
    let samples = &series.samples;
    let last = samples.last()?;
    // From the first moment above 5 % of the limit (start-up is not growth).
    let start = samples.iter().position(|s| share(s.usage, limit, 5))?;
    let top_usage = series.peak()?.usage;
    let top_index = samples.iter().rposition(|s| s.usage == top_usage)?;
    let rising = samples.get(start..=top_index)?;
    let (first, top) = (rising.first()?, rising.last()?);
    let over = top.at.checked_sub(first.at)?;
    if rising.len() < 8
        || over < Duration::from_secs(15)
        || over.as_secs_f64() < 0.6 * last.at.as_secs_f64()
    {
        return None;
    }
    if !share(top.usage.saturating_sub(first.usage), limit, 50) {
        return None;
    }
    let (slope, r2) = linear_fit(rising);
    (slope > 0.0 && r2 >= 0.85).then_some(Growth {
        per_minute: (slope * 60.0) as u64,
        over,
        level: levelling_off(rising, limit),
    })
}

/// The level a slowing rise is heading for, by Aitken's extrapolation over three equally spaced
/// points (exact for an exponential approach to a plateau). None for a rise that is not slowing
/// clearly (a leak), or whose level would be beyond ten times the limit (no real evidence).
fn levelling_off(rising: &[Sample], limit: u64) -> Option<u64> {
    let (first, last) = (rising.first()?, rising.last()?);
    let middle = first.at + (last.at - first.at) / 2;
    let at_middle = rising.iter().min_by_key(|s| s.at.abs_diff(middle))?;
    let (u1, u2, u3) = (
        first.usage as f64,
        at_middle.usage as f64,
        last.usage as f64,
    );
    let (d1, d2) = (u2 - u1, u3 - u2);
    if d1 <= 0.0 || d2 <= 0.0 || d2 > 0.75 * d1 {
        return None;
    }
    let level = u3 + d2 * d2 / (d1 - d2);
    (level < 10.0 * limit as f64).then_some(level as u64)
}

/// Least squares of usage (bytes) against time (s): (slope in bytes/s, R²).
fn linear_fit(samples: &[Sample]) -> (f64, f64) {
    let n = samples.len() as f64;
    let xs: Vec<f64> = samples.iter().map(|s| s.at.as_secs_f64()).collect();
    let ys: Vec<f64> = samples.iter().map(|s| s.usage as f64).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let syy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 {
        return (0.0, 0.0);
    }
    (sxy / sxx, sxy * sxy / (sxx * syy))
}

/// Calm, then a sharp rise: use stayed at or below 40 % of the limit for at least 60 % of the
/// run (and at least 5 s), then climbed to the top in the remaining part.
fn load_spike(series: &Series, limit: u64) -> Option<Spike> {
    let samples = &series.samples;
    let top = series.peak()?;
    if !share(top.usage, limit, 80) {
        return None;
    }
    // The last sample before use first passed 40 % of the limit.
    let calm_end = samples
        .iter()
        .position(|s| share(s.usage, limit, 40))?
        .checked_sub(1)?;
    let calm = &samples[..=calm_end];
    let end = samples.last()?.at;
    let calm_until = calm.last()?.at;
    if calm_until < Duration::from_secs(5) || calm_until.as_secs_f64() < 0.6 * end.as_secs_f64() {
        return None;
    }
    // The typical level while calm (the median: the last calm samples may catch the rise).
    let mut levels: Vec<u64> = calm.iter().map(|s| s.usage).collect();
    levels.sort_unstable();
    let before = levels[levels.len() / 2];
    Some(Spike {
        before,
        rise: top.at.saturating_sub(calm_until),
        after: calm_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn series(usage: impl Fn(f64) -> f64, seconds: u64) -> Series {
        Series {
            interval: Duration::from_secs(1),
            samples: (0..=seconds)
                .map(|t| Sample::usage_only(Duration::from_secs(t), usage(t as f64) as u64))
                .collect(),
            ..Series::default()
        }
    }

    #[test]
    fn a_rise_that_slows_down_is_heading_for_its_level() {
        // A cache warming up towards 1.6 GiB (time constant 40 s), killed at 1 GiB after 40 s.
        let warming = series(|t| 1638.0 * MIB as f64 * (1.0 - (-t / 40.0).exp()), 40);
        let growth = steady_growth(&warming, 1024 * MIB).expect("steady growth");
        let level = growth.level.expect("a level") / MIB;
        assert!((1500..1800).contains(&level), "{level} MiB");
    }

    #[test]
    fn cause_ids_read_back() {
        for cause in ALL {
            assert_eq!(Cause::from_id(cause.id()), Some(cause));
        }
        assert_eq!(Cause::from_id("out-of-luck"), None);
    }

    #[test]
    fn a_leak_has_no_level() {
        let leak = series(|t| (20.0 + 25.0 * t) * MIB as f64, 40);
        let growth = steady_growth(&leak, 1024 * MIB).expect("steady growth");
        assert_eq!(growth.level, None);
    }
}
