//! From the figures to a cause. Pure: the same snapshot always gives the same diagnosis.

use crate::cgroup::MemorySnapshot;
use crate::config::Config;
use crate::step::{StepContext, StepKind};

/// Why the step ran out of memory (or came close, or asked for far too much).
/// The ids are stable: tools and tests read them from the `cause:` line (docs/causes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Killed at its limit: it needs more than it asked for.
    UnderAllocation,
    /// Finished, but within a few percent of its limit, or slowed down by the kernel to stay
    /// under its soft limit (v2 `memory.high`).
    NearMiss,
    /// Finished using far less than it asked for.
    OverRequest,
    /// Killed, and no known pattern fits the evidence.
    Unknown,
    /// Nothing to act on.
    None,
}

impl Cause {
    pub fn id(self) -> &'static str {
        match self {
            Cause::UnderAllocation => "under-allocation",
            Cause::NearMiss => "near-miss",
            Cause::OverRequest => "over-request",
            Cause::Unknown => "unknown",
            Cause::None => "none",
        }
    }
}

/// The cause and the facts that prove it, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    /// Processes of this step the kernel's OOM killer killed.
    pub oom_kills: u64,
    /// The limit the kernel enforced on the step.
    pub limit: Option<u64>,
    /// Times the kernel throttled the step above its soft limit (v2), and that soft limit.
    pub throttled: u64,
    pub soft_limit: Option<u64>,
    /// The step's highest use.
    pub peak: Option<u64>,
    /// The peak less the page cache the kernel could have dropped (the part that really counts
    /// against the limit), where known.
    pub peak_unreclaimable: Option<u64>,
    /// The whole job's highest use and limit on this node (for over-request).
    pub job_peak: Option<u64>,
    pub job_limit: Option<u64>,
}

impl Diagnosis {
    pub fn killed(&self) -> bool {
        self.oom_kills > 0
    }

    /// Peak as a share of the limit, in percent.
    pub fn percent_of_limit(&self) -> Option<u64> {
        percent(self.peak?, self.limit?)
    }
}

pub fn percent(part: u64, whole: u64) -> Option<u64> {
    (whole > 0).then(|| (part as u128 * 100 / whole as u128) as u64)
}

/// Killed "at the limit" means use came this close to it (the last allocation that failed may
/// have been larger than what was left).
const AT_LIMIT_PERCENT: u64 = 95;

pub fn classify(snapshot: &MemorySnapshot, context: &StepContext, config: &Config) -> Diagnosis {
    let step = &snapshot.step;
    let job = snapshot.job.as_ref();
    let limit = snapshot.limit;
    let peak = step.peak;
    let peak_unreclaimable = match (peak, step.stat.reclaimable_file) {
        // What is still cached at the end was (at most) cached at the peak too.
        (Some(p), Some(cache)) => Some(p.saturating_sub(cache)),
        (p, _) => p,
    };

    // Kernels before 4.13 (v1) have no kill counter: then a SIGKILLed task of a step that
    // reached its limit is taken for an OOM kill.
    let oom_kills = match step.oom_kills {
        Some(kills) => kills,
        None if reached(peak, limit) => context.tasks_killed() as u64,
        None => 0,
    };

    let throttled = step.throttled.unwrap_or(0);
    let job_peak = job.and_then(|j| j.peak);
    let job_limit = job.and_then(|j| j.limit).or(limit);

    let cause = if oom_kills > 0 {
        if reached(peak, limit) || reached(job_peak, job_limit) {
            Cause::UnderAllocation
        } else {
            Cause::Unknown
        }
    } else if throttled > 0
        || matches!((peak_unreclaimable, limit), (Some(p), Some(l))
            if percent(p, l).is_some_and(|pc| pc >= config.near_miss_percent as u64))
    {
        Cause::NearMiss
    } else if over_request(context, job_peak, job_limit, config) {
        Cause::OverRequest
    } else {
        Cause::None
    };

    Diagnosis {
        cause,
        oom_kills,
        limit,
        throttled,
        soft_limit: snapshot.soft_limit,
        peak,
        peak_unreclaimable,
        job_peak,
        job_limit,
    }
}

fn reached(peak: Option<u64>, limit: Option<u64>) -> bool {
    matches!((peak, limit), (Some(p), Some(l)) if percent(p, l).is_some_and(|pc| pc >= AT_LIMIT_PERCENT))
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
        && percent(peak, limit).is_some_and(|pc| pc < config.over_request_percent as u64)
        && limit.saturating_sub(peak) >= config.over_request_min_unused_mib << 20
}
