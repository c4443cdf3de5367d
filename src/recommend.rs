//! What to request next time, as a line the user can paste into the job script.

use crate::classify::{Cause, Diagnosis};
use crate::config::Config;
use crate::size;

/// How the recommended size was found; the renderer explains it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Killed at a limit: use was capped there, so the true need is only known to be higher.
    /// The request is a multiple of that limit.
    AboveTheLimit { limit: u64, factor: u64 },
    /// A measured peak plus headroom.
    PeakPlusHeadroom { peak: u64, headroom_percent: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    /// The request in bytes after rounding.
    pub bytes: u64,
    /// The value as typed after `--mem=` (e.g. `12G`).
    pub value: String,
    pub basis: Basis,
    /// More memory is not the real fix (a leak, copies per worker, tmpfs files…): the report
    /// leads with the real fix and offers this only as a stop-gap.
    pub stop_gap: bool,
}

impl Recommendation {
    pub fn sbatch_line(&self) -> String {
        format!("#SBATCH --mem={}", self.value)
    }
}

/// Without evidence of how far the step would have grown, doubling is the step most likely to
/// succeed on the next try without asking for an absurd amount.
const KILLED_FACTOR: u64 = 2;

pub fn recommend(diagnosis: &Diagnosis, config: &Config) -> Option<Recommendation> {
    let with_headroom = |bytes: u64| bytes + bytes * config.headroom_percent as u64 / 100;
    let above = |limit: u64| {
        (
            limit * KILLED_FACTOR,
            Basis::AboveTheLimit {
                limit,
                factor: KILLED_FACTOR,
            },
        )
    };
    let stop_gap = matches!(
        diagnosis.cause,
        Cause::LoadSpike
            | Cause::WorkerMultiplication
            | Cause::SteadyGrowth
            | Cause::Tmpfs
            | Cause::RankImbalance
    );
    let (need, basis) = match diagnosis.cause {
        Cause::UnderAllocation
        | Cause::LoadSpike
        | Cause::WorkerMultiplication
        | Cause::SteadyGrowth
        | Cause::Tmpfs
        | Cause::RankImbalance => above(diagnosis.limit.or(diagnosis.job_limit)?),
        // The job's limit is what all steps share: that is the request to change.
        Cause::OtherStep => above(diagnosis.job_limit.or(diagnosis.limit)?),
        Cause::OverMemoryKill => above(diagnosis.slurm_allocation.or(diagnosis.peak)?),
        Cause::NearMiss => {
            let peak = diagnosis.peak_unreclaimable.or(diagnosis.peak)?;
            // Never suggest the request that was just too tight (or the level it was held at).
            let limit = diagnosis.limit.or(diagnosis.soft_limit)?;
            (
                with_headroom(peak).max(limit + 1),
                Basis::PeakPlusHeadroom {
                    peak,
                    headroom_percent: config.headroom_percent,
                },
            )
        }
        Cause::OverRequest => {
            let peak = diagnosis.job_peak?;
            (
                with_headroom(peak),
                Basis::PeakPlusHeadroom {
                    peak,
                    headroom_percent: config.headroom_percent,
                },
            )
        }
        // Not the user's request: more memory would not have helped.
        Cause::NodeOom | Cause::Unknown | Cause::None => return None,
    };
    let (bytes, value) = size::slurm_request(need);
    Some(Recommendation {
        bytes,
        value,
        basis,
        stop_gap,
    })
}
