//! What to request next time, as a line the user can paste into the job script: in the same
//! terms they used (`--mem`, `--mem-per-cpu`, `--mem-per-gpu`), rounded to a size a person
//! would type.

use crate::classify::{Cause, Diagnosis};
use crate::config::Config;
use crate::size;
use crate::step::{MemoryRequest, StepContext};

/// How the recommended size was found; the renderer explains it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Killed at a limit: use was capped there, so the true need is only known to be higher.
    /// The request is a multiple of that limit.
    AboveTheLimit { limit: u64, factor: u64 },
    /// Killed at a limit, but the killed process had already reserved more (its virtual size,
    /// total-vm, in the kernel's report): the need is about that, plus headroom.
    Reserved {
        total_vm: u64,
        headroom_percent: u32,
    },
    /// A measured peak plus headroom.
    PeakPlusHeadroom { peak: u64, headroom_percent: u32 },
}

/// The option the user gave, and for per-CPU/GPU requests how many CPUs/GPUs the job has here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Mem,
    MemPerCpu { cpus: u64 },
    MemPerGpu { gpus: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    /// The whole request on this node in bytes, after rounding.
    pub bytes: u64,
    pub flag: Flag,
    /// The value as typed after the flag (e.g. `12G`).
    pub value: String,
    pub basis: Basis,
    /// More memory is not the real fix (a leak, copies per worker, tmpfs files…): the report
    /// leads with the real fix and offers this only as a stop-gap.
    pub stop_gap: bool,
}

impl Recommendation {
    pub fn sbatch_line(&self) -> String {
        let flag = match self.flag {
            Flag::Mem => "--mem",
            Flag::MemPerCpu { .. } => "--mem-per-cpu",
            Flag::MemPerGpu { .. } => "--mem-per-gpu",
        };
        format!("#SBATCH {flag}={}", self.value)
    }
}

/// Without evidence of how far the step would have grown, doubling is the step most likely to
/// succeed on the next try without asking for an absurd amount.
const KILLED_FACTOR: u64 = 2;

pub fn recommend(
    diagnosis: &Diagnosis,
    context: &StepContext,
    config: &Config,
) -> Option<Recommendation> {
    let headroom = config.headroom_percent;
    let with_headroom = |bytes: u64| bytes + bytes * headroom as u64 / 100;
    let above = |limit: u64| {
        let doubled = (
            limit * KILLED_FACTOR,
            Basis::AboveTheLimit {
                limit,
                factor: KILLED_FACTOR,
            },
        );
        // The kernel's report can show the process had reserved far more than the limit: then
        // doubling would surely fail again. (Others' use at the kill is what the victim did
        // not hold of the limit.)
        let reserved = diagnosis.victim.as_ref().and_then(|v| {
            let total_vm = v.total_vm?;
            let others = limit.saturating_sub(v.rss.unwrap_or(0));
            Some(total_vm + others)
        });
        match reserved {
            Some(r) if with_headroom(r) > doubled.0 => (
                with_headroom(r),
                Basis::Reserved {
                    total_vm: r,
                    headroom_percent: headroom,
                },
            ),
            _ => doubled,
        }
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
                    headroom_percent: headroom,
                },
            )
        }
        Cause::OverRequest => {
            let peak = diagnosis.job_peak?;
            (
                with_headroom(peak),
                Basis::PeakPlusHeadroom {
                    peak,
                    headroom_percent: headroom,
                },
            )
        }
        // Not the user's request: more memory would not have helped.
        Cause::NodeOom | Cause::Unknown | Cause::None => return None,
    };
    let flag = flag_for(context.request, diagnosis.job_limit.or(diagnosis.limit));
    let units = match flag {
        Flag::Mem => 1,
        Flag::MemPerCpu { cpus } => cpus,
        Flag::MemPerGpu { gpus } => gpus,
    };
    let (per_unit, value) = size::slurm_request(need.div_ceil(units));
    Some(Recommendation {
        bytes: per_unit * units,
        flag,
        value,
        basis,
        stop_gap,
    })
}

/// The user's own option. A per-CPU (per-GPU) request times the CPUs (GPUs) the job has on this
/// node is its limit here, which gives how many there are.
fn flag_for(request: Option<MemoryRequest>, node_limit: Option<u64>) -> Flag {
    let count = |per_mib: u64| node_limit.map(|l| (l / (per_mib << 20)).max(1));
    match request {
        Some(MemoryRequest::PerCpu(mib)) => {
            count(mib).map_or(Flag::Mem, |cpus| Flag::MemPerCpu { cpus })
        }
        Some(MemoryRequest::PerGpu(mib)) => {
            count(mib).map_or(Flag::Mem, |gpus| Flag::MemPerGpu { gpus })
        }
        _ => Flag::Mem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Victim;
    use crate::step::{StepId, StepKind};

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn killed_at(limit: u64) -> Diagnosis {
        Diagnosis {
            oom_kills: 1,
            limit: Some(limit),
            job_limit: Some(limit),
            peak: Some(limit),
            ..Diagnosis::new(Cause::UnderAllocation)
        }
    }

    fn context(request: Option<MemoryRequest>) -> StepContext {
        StepContext {
            request,
            ..StepContext::new(StepId {
                job: 1,
                step: StepKind::Batch,
            })
        }
    }

    #[test]
    fn the_users_own_option_scaled_to_what_they_asked_per() {
        let d = killed_at(8 * GIB);
        let mem = recommend(
            &d,
            &context(Some(MemoryRequest::PerNode(8192))),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(mem.sbatch_line(), "#SBATCH --mem=16G");
        // --mem-per-cpu=2G on 4 CPUs: an 8 GiB limit; twice that is 4G per CPU.
        let cpu = recommend(
            &d,
            &context(Some(MemoryRequest::PerCpu(2048))),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(cpu.flag, Flag::MemPerCpu { cpus: 4 });
        assert_eq!(cpu.sbatch_line(), "#SBATCH --mem-per-cpu=4G");
        assert_eq!(cpu.bytes, 16 * GIB);
        let gpu = recommend(
            &d,
            &context(Some(MemoryRequest::PerGpu(4096))),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(gpu.sbatch_line(), "#SBATCH --mem-per-gpu=8G");
        // Without knowing the style, --mem.
        let plain = recommend(&d, &context(None), &Config::default()).unwrap();
        assert_eq!(plain.sbatch_line(), "#SBATCH --mem=16G");
    }

    #[test]
    fn per_cpu_values_round_up_per_cpu() {
        // 3 CPUs at 1000M each = 3000 MiB limit; doubled = 6000 MiB = 2000M per CPU → 2G.
        let d = killed_at(3000 * MIB);
        let r = recommend(
            &d,
            &context(Some(MemoryRequest::PerCpu(1000))),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(r.flag, Flag::MemPerCpu { cpus: 3 });
        assert!(r.bytes >= 6000 * MIB);
        assert_eq!(r.sbatch_line(), "#SBATCH --mem-per-cpu=2G");
    }

    #[test]
    fn a_large_reservation_in_the_kernels_report_leads() {
        // Killed at 200 MiB, but the process had reserved 1.2 GiB: doubling would fail again.
        let d = Diagnosis {
            victim: Some(Victim {
                name: "python3".into(),
                total_vm: Some(1200 * MIB),
                rss: Some(190 * MIB),
            }),
            ..killed_at(200 * MIB)
        };
        let r = recommend(&d, &context(None), &Config::default()).unwrap();
        assert!(matches!(r.basis, Basis::Reserved { .. }), "{r:?}");
        assert!(r.bytes >= 1200 * MIB * 12 / 10, "{r:?}");
        // A reservation below twice the limit changes nothing.
        let d = Diagnosis {
            victim: Some(Victim {
                name: "python3".into(),
                total_vm: Some(250 * MIB),
                rss: Some(190 * MIB),
            }),
            ..killed_at(200 * MIB)
        };
        let r = recommend(&d, &context(None), &Config::default()).unwrap();
        assert!(matches!(r.basis, Basis::AboveTheLimit { .. }), "{r:?}");
    }

    #[test]
    fn headroom_is_configurable() {
        let d = Diagnosis {
            peak: Some(950 * MIB),
            peak_unreclaimable: Some(950 * MIB),
            limit: Some(1000 * MIB),
            ..Diagnosis::new(Cause::NearMiss)
        };
        let c = |h| Config {
            headroom_percent: h,
            ..Config::default()
        };
        // (Rounding to sizes people type makes near settings equal: compare far ones.)
        let r0 = recommend(&d, &context(None), &c(0)).unwrap();
        let r20 = recommend(&d, &context(None), &c(20)).unwrap();
        let r100 = recommend(&d, &context(None), &c(100)).unwrap();
        assert_eq!(
            r0.sbatch_line(),
            "#SBATCH --mem=1100M",
            "never the request that was just too tight: above the 1000 MiB limit"
        );
        assert!(r20.bytes >= 1140 * MIB);
        assert_eq!(r100.sbatch_line(), "#SBATCH --mem=2G");
    }
}
