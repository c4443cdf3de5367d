//! What to request next time, as a line the user can paste into the job script: in the same
//! terms they used (`--mem`, `--mem-per-cpu`, `--mem-per-gpu`), rounded to a size a person
//! would type.

use crate::causes::{Diagnosis, Need};
use crate::config::Config;
use crate::size;
use crate::step::{MemoryRequest, StepContext, StepKind};

/// How the recommended size was found; the renderer explains it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Killed at a limit, and nothing tells how far use would have gone: the need is only known
    /// to be higher. The request is a multiple of that limit.
    AboveTheLimit { limit: u64, factor: u64 },
    /// Killed while filling a large block it had just reserved (seen as the killed process's
    /// reserved size at the kill less what the sampler saw it reserve before): what the step
    /// held before, plus the block, plus headroom.
    Block {
        held_before: u64,
        size: u64,
        headroom_percent: u32,
    },
    /// Workers of about the same size, one per CPU the job has: their number times the size of
    /// one, plus headroom.
    Workers {
        count: u64,
        each: u64,
        headroom_percent: u32,
    },
    /// A rise that was slowing down towards a level: that level plus headroom.
    Levelling { level: u64, headroom_percent: u32 },
    /// Steps sharing the job's limit: what the other steps held (measured) plus twice what the
    /// killed step had when the limit filled up (its need is only known to be more).
    OthersPlusTwiceOwn { others: u64, own: u64 },
    /// A measured peak plus headroom.
    PeakPlusHeadroom { peak: u64, headroom_percent: u32 },
    /// Stopped by Slurm's poll holding more than twice its allocation: what it held plus
    /// headroom, a lower bound (it may have been growing still).
    HeldWhenStopped { held: u64, headroom_percent: u32 },
}

/// How sure a recommendation is; the report says it in words ("needs about", "more than").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certainty {
    /// From the step's measured peak: it finished.
    Measured,
    /// From evidence of where use was going when it was killed.
    Estimated,
    /// Only a lower bound: the kill hid how much more it needed.
    AtLeast,
}

impl Basis {
    pub fn certainty(&self) -> Certainty {
        match self {
            Basis::PeakPlusHeadroom { .. } => Certainty::Measured,
            Basis::Block { .. } | Basis::Workers { .. } | Basis::Levelling { .. } => {
                Certainty::Estimated
            }
            Basis::AboveTheLimit { .. }
            | Basis::OthersPlusTwiceOwn { .. }
            | Basis::HeldWhenStopped { .. } => Certainty::AtLeast,
        }
    }
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
    /// The limit was the srun line's own (`srun --mem`, tighter than the job's): the line to
    /// change is that one, not `#SBATCH`.
    pub on_srun: bool,
}

impl Recommendation {
    pub fn sbatch_line(&self) -> String {
        let flag = match self.flag {
            Flag::Mem => "--mem",
            Flag::MemPerCpu { .. } => "--mem-per-cpu",
            Flag::MemPerGpu { .. } => "--mem-per-gpu",
        };
        match self.on_srun {
            true => format!("srun {flag}={} …", self.value),
            false => format!("#SBATCH {flag}={}", self.value),
        }
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
    let with_headroom = |bytes: u64| plus_percent(bytes, headroom);
    let stop_gap = (diagnosis.cause.definition().memory_is_a_workaround)(diagnosis);
    let (need, basis) = match diagnosis.cause.definition().need {
        Need::KilledAtTheLimit => killed_need(
            diagnosis,
            context,
            diagnosis.limit.or(diagnosis.job_limit)?,
            headroom,
        ),
        // The job's limit is what all steps share: that is the request to change.
        Need::SharedJobLimit => {
            let job_limit = diagnosis.job_limit.or(diagnosis.limit)?;
            match diagnosis.others_usage.filter(|&o| o < job_limit) {
                // What the other steps held was measured; only this step's need is unknown:
                // theirs plus twice this step's share of the limit.
                Some(others) => (
                    others + KILLED_FACTOR * (job_limit - others),
                    Basis::OthersPlusTwiceOwn {
                        others,
                        own: job_limit - others,
                    },
                ),
                None => killed_need(diagnosis, context, job_limit, headroom),
            }
        }
        Need::AboveSlurmsAllocation => {
            let allocation = diagnosis.slurm_allocation.or(diagnosis.peak)?;
            // Slurm saw more than its allocation: at least twice that, or what the kernel saw
            // held plus headroom if more (and the report then says so, not "twice").
            let held = diagnosis.peak_unreclaimable.unwrap_or(0);
            match with_headroom(held) > allocation * KILLED_FACTOR {
                true => (
                    with_headroom(held),
                    Basis::HeldWhenStopped {
                        held,
                        headroom_percent: headroom,
                    },
                ),
                false => (
                    allocation * KILLED_FACTOR,
                    Basis::AboveTheLimit {
                        limit: allocation,
                        factor: KILLED_FACTOR,
                    },
                ),
            }
        }
        Need::PeakHeld => {
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
        Need::JobPeak => {
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
        Need::Nothing => return None,
    };
    let flag = flag_for(context.request, diagnosis.job_limit.or(diagnosis.limit));
    let units = match flag {
        Flag::Mem => 1,
        Flag::MemPerCpu { cpus } => cpus,
        Flag::MemPerGpu { gpus } => gpus,
    };
    let (per_unit, value) = size::slurm_request(need.div_ceil(units));
    // A step whose own limit (srun --mem) was tighter than the job's: that srun line changes.
    let on_srun = matches!(context.id.step, StepKind::Numbered(_))
        && diagnosis.cause.definition().need == Need::KilledAtTheLimit
        && matches!((diagnosis.limit, diagnosis.job_limit), (Some(s), Some(j)) if s < j);
    Some(Recommendation {
        bytes: per_unit * units,
        flag,
        value,
        basis,
        stop_gap,
        on_srun,
    })
}

fn plus_percent(bytes: u64, percent: u32) -> u64 {
    bytes + bytes * percent as u64 / 100
}

/// The need of a step killed at `limit`, from the strongest evidence there is (the size already
/// includes the headroom). Every estimate is checked against what the node has: no evidence
/// can say a step needs more memory than the machine it ran on.
fn killed_need(d: &Diagnosis, context: &StepContext, limit: u64, headroom: u32) -> (u64, Basis) {
    let with_headroom = |bytes: u64| plus_percent(bytes, headroom);
    let plausible = |bytes: u64| bytes > limit && context.node_memory.is_none_or(|m| bytes <= m);
    let doubled = (
        limit * KILLED_FACTOR,
        Basis::AboveTheLimit {
            limit,
            factor: KILLED_FACTOR,
        },
    );
    // A large block being filled at the kill: what was held before, plus the block.
    if let Some(b) = d.block
        && plausible(b.held_before + b.size)
    {
        return (
            with_headroom(b.held_before + b.size),
            Basis::Block {
                held_before: b.held_before,
                size: b.size,
                headroom_percent: headroom,
            },
        );
    }
    // A rise that was levelling off: its level.
    if let Some(level) = d.growth.and_then(|g| g.level).filter(|&l| plausible(l)) {
        return (
            with_headroom(level),
            Basis::Levelling {
                level,
                headroom_percent: headroom,
            },
        );
    }
    // Fewer workers than CPUs when it was killed: a pool starts one per CPU, so the rest were
    // still to come. (Their size is a lower bound, so this only ever raises the doubling.)
    let cpus = context
        .cpus_per_task
        .map(|c| c as u64 * context.local_tasks.unwrap_or(1) as u64);
    if let (Some(w), Some(cpus)) = (&d.workers, cpus) {
        let count = cpus.max(w.count as u64);
        // Pages shared after fork count in every process's resident size: when the sizes add
        // up to more than the limit that held them all, each one's own part is that much less.
        let own = match w.resident_sum > limit {
            true => (w.each as u128 * limit as u128 / w.resident_sum as u128) as u64,
            false => w.each,
        };
        let rest = limit.saturating_sub(w.count as u64 * own);
        let need = with_headroom(rest + count * own);
        if need > doubled.0 && plausible(need) {
            return (
                need,
                Basis::Workers {
                    count,
                    each: own,
                    headroom_percent: headroom,
                },
            );
        }
    }
    doubled
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
    use crate::classify::{Block, Cause};
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
    fn a_job_slurm_stopped_far_above_its_allocation_is_sized_from_what_it_held() {
        let stopped = |held: u64| Diagnosis {
            slurm_allocation: Some(100 * MIB),
            peak_unreclaimable: Some(held),
            ..Diagnosis::new(Cause::OverMemoryKill)
        };
        let request = context(Some(MemoryRequest::PerNode(100)));
        // Held 120 MiB: +20 % is below twice the allocation, so twice it is.
        let twice = recommend(&stopped(120 * MIB), &request, &Config::default()).unwrap();
        assert_eq!(
            twice.basis,
            Basis::AboveTheLimit {
                limit: 100 * MIB,
                factor: 2
            }
        );
        assert_eq!(twice.sbatch_line(), "#SBATCH --mem=200M");
        // Held 217 MiB: the report must not say "twice" and ask for 260M.
        let held = recommend(&stopped(217 * MIB), &request, &Config::default()).unwrap();
        assert_eq!(
            held.basis,
            Basis::HeldWhenStopped {
                held: 217 * MIB,
                headroom_percent: 20
            }
        );
        assert_eq!(held.basis.certainty(), Certainty::AtLeast);
        assert!(held.bytes >= 217 * MIB * 12 / 10, "{held:?}");
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
    fn a_block_being_filled_at_the_kill_leads() {
        // Held 60 MiB, then reserved a 700 MiB block and was killed filling it at 200 MiB:
        // doubling (400M) would fail again; held + block + 20 % is enough and not twice too much.
        let d = Diagnosis {
            block: Some(Block {
                held_before: 60 * MIB,
                size: 700 * MIB,
            }),
            ..killed_at(200 * MIB)
        };
        let r = recommend(&d, &context(None), &Config::default()).unwrap();
        assert!(matches!(r.basis, Basis::Block { .. }), "{r:?}");
        assert_eq!(r.basis.certainty(), Certainty::Estimated);
        assert!((912 * MIB..1100 * MIB).contains(&r.bytes), "{r:?}");
        // A block larger than the node: no evidence, doubling.
        let on_a_node = StepContext {
            node_memory: Some(GIB / 2),
            ..context(None)
        };
        let r = recommend(&d, &on_a_node, &Config::default()).unwrap();
        assert!(matches!(r.basis, Basis::AboveTheLimit { .. }), "{r:?}");
    }

    #[test]
    fn workers_still_to_come_are_counted_one_per_cpu() {
        // 3 workers of 1.2 GiB seen at a 4 GiB kill; the job has 8 CPUs.
        let d = Diagnosis {
            workers: Some(crate::classify::Workers {
                count: 3,
                each: 1229 * MIB,
                name: "python3".into(),
                processes: 4,
                resident_sum: 3 * 1229 * MIB,
                at_kill: false,
                cpus: Some(8),
            }),
            ..killed_at(4 * GIB)
        };
        let eight = StepContext {
            cpus_per_task: Some(8),
            local_tasks: Some(1),
            ..context(None)
        };
        let r = recommend(&d, &eight, &Config::default()).unwrap();
        assert!(matches!(r.basis, Basis::Workers { count: 8, .. }), "{r:?}");
        // (4096 - 3 × 1229 + 8 × 1229) MiB + 20 % = 12289 MiB → 13G.
        assert_eq!(r.sbatch_line(), "#SBATCH --mem=13G");
        // As many CPUs as workers seen: nothing more is known than "more than 4 GiB".
        let three = StepContext {
            cpus_per_task: Some(3),
            ..eight
        };
        let r = recommend(&d, &three, &Config::default()).unwrap();
        assert!(matches!(r.basis, Basis::AboveTheLimit { .. }), "{r:?}");
    }

    #[test]
    fn steps_sharing_a_limit_double_only_the_killed_steps_share() {
        // A 400 MiB job: the other steps held 162 MiB (measured), the killed one 238 MiB.
        let d = Diagnosis {
            others_usage: Some(162 * MIB),
            ..Diagnosis {
                cause: Cause::OtherStep,
                ..killed_at(400 * MIB)
            }
        };
        let r = recommend(&d, &context(None), &Config::default()).unwrap();
        assert_eq!(
            r.basis,
            Basis::OthersPlusTwiceOwn {
                others: 162 * MIB,
                own: 238 * MIB
            }
        );
        assert_eq!(r.basis.certainty(), Certainty::AtLeast);
        // 162 + 2 × 238 = 638 MiB → 640M, not twice the job's 400 MiB.
        assert_eq!(r.sbatch_line(), "#SBATCH --mem=640M");
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
            "#SBATCH --mem=1G",
            "never the request that was just too tight: above the 1000 MiB limit"
        );
        assert!(r20.bytes >= 1140 * MIB);
        assert_eq!(r100.sbatch_line(), "#SBATCH --mem=2G");
    }
}
