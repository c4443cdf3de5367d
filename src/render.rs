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
            out.push(format!("{PREFIX} {step} ran out of memory."));
            out.push(format!(
                "  What happened: it used all {} it was given, so the Linux kernel",
                human(limit)
            ));
            out.push(format!(
                "    killed {} (signal 9, exit code 137){after}.",
                processes(diagnosis.oom_kills)
            ));
            out.push("  Why: the job asked for less memory than this step needs. Use".into());
            out.push(format!(
                "    cannot pass the limit, so the real need is unknown: more than {}.",
                human(limit)
            ));
        }
        Cause::Unknown => {
            out.push(format!("{PREFIX} {step} was killed by the OOM killer."));
            let peak = match (diagnosis.peak, diagnosis.limit) {
                (Some(p), Some(l)) => format!("peak {}", of_limit(p, l)),
                (Some(p), None) => format!("peak {}, no limit", human(p)),
                _ => "its peak is unknown".into(),
            };
            out.push(format!(
                "  What happened: the kernel killed {}{after},",
                processes(diagnosis.oom_kills)
            ));
            out.push(format!(
                "    yet the step stayed below its own limit ({peak})."
            ));
            out.push("  Why: the evidence fits no known pattern.".into());
            out.push("  What to do: more memory may not help. Resubmit once; if it happens".into());
            out.push("    again, send this report to your cluster's support.".into());
        }
        Cause::NearMiss => {
            let (peak, limit) = (diagnosis.peak.unwrap_or(0), diagnosis.limit.unwrap_or(0));
            let counted = diagnosis.peak_unreclaimable.unwrap_or(peak);
            out.push(format!("{PREFIX} {step} nearly ran out of memory."));
            out.push(format!(
                "  Peak use: {}. A little more data, and it is killed.",
                of_limit(counted, limit)
            ));
            if diagnosis.throttled > 0 {
                let soft = diagnosis
                    .soft_limit
                    .map_or_else(|| "its soft limit".into(), human);
                out.push(format!(
                    "  The kernel slowed it down {} times to keep it under {soft} (memory.high).",
                    diagnosis.throttled
                ));
            }
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
                "{PREFIX} job {} used at most {} ({} %) of the {} requested.",
                context.id.job,
                human(peak),
                percent(peak, limit).unwrap_or(0),
                human(limit)
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
            out.push(format!("{PREFIX} step {}: {summary}: OK.", context.id));
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
            out.push("    If it is killed again, double the request again.".into());
            out.push(
                "  (sacct shows OUT_OF_MEMORY; its MaxRSS may read lower, as it is sampled.)"
                    .into(),
            );
        }
    }
    out.push(format!("  cause: {}", diagnosis.cause.id()));
    out
}

fn step_name(context: &StepContext) -> String {
    match context.id.step {
        StepKind::Batch => format!("the batch script ({})", context.id),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::recommend::recommend;
    use crate::step::StepId;
    use std::time::Duration;

    const GIB: u64 = 1 << 30;

    fn diagnosis(cause: Cause) -> Diagnosis {
        let killed = matches!(cause, Cause::UnderAllocation | Cause::Unknown);
        Diagnosis {
            cause,
            oom_kills: if killed { 12 } else { 0 },
            limit: Some(512 * GIB),
            throttled: if cause == Cause::NearMiss { 123_456 } else { 0 },
            soft_limit: Some(500 * GIB),
            peak: Some(if cause == Cause::Unknown {
                300 * GIB
            } else {
                500 * GIB
            }),
            peak_unreclaimable: Some(470 * GIB),
            job_peak: Some(100 * GIB),
            job_limit: Some(512 * GIB),
        }
    }

    #[test]
    fn every_line_fits_a_terminal_even_with_long_ids() {
        let causes = [
            Cause::UnderAllocation,
            Cause::Unknown,
            Cause::NearMiss,
            Cause::OverRequest,
            Cause::None,
        ];
        for step in [
            StepKind::Batch,
            StepKind::Numbered(99_999),
            StepKind::Interactive,
        ] {
            let context = StepContext {
                id: StepId {
                    job: 67_043_328, // Slurm's default MaxJobId: job ids have at most 8 digits
                    step,
                },
                elapsed: Some(Duration::from_secs(7 * 24 * 3600 - 1)),
                exit_statuses: vec![9],
            };
            for cause in causes {
                let d = diagnosis(cause);
                let rec = recommend(&d, &Config::default());
                let lines = render(&d, rec.as_ref(), &context);
                assert!(lines[0].starts_with(PREFIX));
                assert_eq!(lines.last().unwrap(), &format!("  cause: {}", cause.id()));
                assert!(lines.len() <= 12, "{lines:#?}");
                for line in &lines {
                    assert!(
                        line.chars().count() <= 80,
                        "{} chars: {line}",
                        line.chars().count()
                    );
                }
            }
        }
    }

    #[test]
    fn modes_choose_causes() {
        assert!(wanted(Mode::Oom, Cause::UnderAllocation));
        assert!(!wanted(Mode::Oom, Cause::NearMiss));
        assert!(!wanted(Mode::Auto, Cause::None));
        assert!(wanted(Mode::Always, Cause::None));
    }
}
