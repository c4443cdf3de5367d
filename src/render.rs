//! The diagnosis in words, for a student reading slurm-%j.err (docs/diagnosis-style.md):
//! what happened, why (with the evidence), what to do (the exact line), then `cause: <id>`.

use crate::classify::{Cause, Diagnosis, percent};
use crate::options::Mode;
use crate::recommend::{Basis, Recommendation};
use crate::size::{duration, human};
use crate::step::{StepContext, StepKind};

/// First word of every report, so it stands out in a long log and can be searched for.
pub const PREFIX: &str = "oom-explain:";

/// Whether this mode wants a report for this cause.
pub fn wanted(mode: Mode, cause: Cause) -> bool {
    match mode {
        Mode::Oom => matches!(cause, Cause::UnderAllocation | Cause::Unknown),
        Mode::Auto => cause != Cause::None,
        Mode::Always => true,
    }
}

/// The report, one string per line.
pub fn render(
    diagnosis: &Diagnosis,
    recommendation: Option<&Recommendation>,
    context: &StepContext,
) -> Vec<String> {
    let mut out = Vec::new();
    let step = step_name(context);
    let after = context
        .elapsed
        .map(|d| format!(" after {}", duration(d)))
        .unwrap_or_default();
    let of_limit = |peak: u64, limit: u64| match percent(peak, limit) {
        Some(pc) => format!("{} of {} ({pc} %)", human(peak), human(limit)),
        None => human(peak),
    };

    match diagnosis.cause {
        Cause::UnderAllocation => {
            let limit = diagnosis.limit.or(diagnosis.job_limit).unwrap_or(0);
            out.push(format!(
                "{PREFIX} {step} ran out of memory and was killed{after}."
            ));
            out.push(format!(
                "  What happened: it reached its memory limit of {}, so the Linux kernel",
                human(limit)
            ));
            out.push(format!(
                "    killed {} (exit code 137; sacct shows OUT_OF_MEMORY).",
                processes(diagnosis.oom_kills)
            ));
            out.push(
                "  Why: the job asked for less memory than this step needs. Use cannot".into(),
            );
            out.push(format!(
                "    pass the limit, so the real need is unknown: more than {}.",
                human(limit)
            ));
        }
        Cause::Unknown => {
            out.push(format!(
                "{PREFIX} {step} was killed by the kernel's out-of-memory killer{after}."
            ));
            let peak = match (diagnosis.peak, diagnosis.limit) {
                (Some(p), Some(l)) => format!("peak {}", of_limit(p, l)),
                (Some(p), None) => format!("peak {}, no limit", human(p)),
                _ => "its peak is unknown".into(),
            };
            out.push(format!(
                "  What happened: {} killed, yet the step stayed below",
                processes(diagnosis.oom_kills)
            ));
            out.push(format!(
                "    its own limit ({peak}). The evidence fits no known pattern."
            ));
            out.push("  What to do: more memory may not help. Resubmit once; if it happens".into());
            out.push("    again, send this report to your cluster's support.".into());
        }
        Cause::NearMiss => {
            let (peak, limit) = (diagnosis.peak.unwrap_or(0), diagnosis.limit.unwrap_or(0));
            let counted = diagnosis.peak_unreclaimable.unwrap_or(peak);
            out.push(format!(
                "{PREFIX} {step} finished, but came close to its memory limit."
            ));
            out.push(format!(
                "  Peak use: {}. A little more data and it would be killed.",
                of_limit(counted, limit)
            ));
            if peak > counted + peak / 20 {
                out.push(format!(
                    "    (Not counting {} of file cache the kernel could have freed.)",
                    human(peak - counted)
                ));
            }
        }
        Cause::OverRequest => {
            let (peak, limit) = (
                diagnosis.job_peak.unwrap_or(0),
                diagnosis.job_limit.unwrap_or(0),
            );
            out.push(format!(
                "{PREFIX} job {} used at most {} it requested.",
                context.id.job,
                of_limit(peak, limit).replacen(" of ", " of the ", 1)
            ));
            out.push(
                "  Asking for less gets jobs started sooner and leaves room for others.".into(),
            );
        }
        Cause::None => {
            let summary = match (diagnosis.peak, diagnosis.limit) {
                (Some(p), Some(l)) => format!("peak {}", of_limit(p, l)),
                (Some(p), None) => format!("peak {}, no memory limit", human(p)),
                _ => "no memory figures".into(),
            };
            out.push(format!("{PREFIX} {step}: {summary}; no memory problem."));
        }
    }

    if let Some(rec) = recommendation {
        let how = match (diagnosis.cause, rec.basis) {
            (_, Basis::AboveTheLimit { factor, .. }) => {
                format!("request {} the limit and resubmit:", times(factor))
            }
            (
                Cause::OverRequest,
                Basis::PeakPlusHeadroom {
                    headroom_percent, ..
                },
            ) => {
                format!("next time request the peak plus {headroom_percent} % headroom:")
            }
            (
                _,
                Basis::PeakPlusHeadroom {
                    headroom_percent, ..
                },
            ) => {
                format!("give it headroom next time (peak + {headroom_percent} %):")
            }
        };
        out.push(format!("  What to do: {how}"));
        out.push(format!("      {}", rec.sbatch_line()));
        if matches!(rec.basis, Basis::AboveTheLimit { .. }) {
            out.push("    If it is killed again, this report will say how far it got.".into());
            out.push(
                "  (sacct's MaxRSS may read lower: it is sampled and misses the last rise.)".into(),
            );
        }
    }
    out.push(format!("  cause: {}", diagnosis.cause.id()));
    out
}

fn step_name(context: &StepContext) -> String {
    match context.id.step {
        StepKind::Batch => format!("the batch script (step {})", context.id),
        StepKind::Numbered(_) => format!("srun step {}", context.id),
        _ => format!("step {}", context.id),
    }
}

fn processes(n: u64) -> String {
    if n == 1 {
        "1 process".into()
    } else {
        format!("{n} processes")
    }
}

fn times(factor: u64) -> String {
    match factor {
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}
