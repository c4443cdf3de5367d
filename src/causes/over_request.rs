//! Finished, having used a small share of a large request.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words, percent, share};
use crate::size::human;
use crate::step::StepKind;

pub const DEFINITION: Definition = Definition {
    cause: Cause::OverRequest,
    id: "over-request",
    doc: "Judged by the batch step only (it ends after the job's srun lines, and judging each \
          step alone would call every small helper wasteful), on the whole job's figures: the \
          memory it could not give back stayed under the over-request share of the request (50 \
          % by default) and at least 1 GiB went unused. Asking for less gets jobs started \
          sooner.",
    detect,
    explain,
    also: None,
    for_admins: "asked far more than used: smaller requests start sooner",
    kill: false,
    need: Need::JobPeak,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| false,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    // On the job's whole peak, file cache included: which part of it the kernel could have
    // dropped is only known for this step, and a note that the job asked too much must never
    // be wrong (the request below is made from the same figure).
    let (Some(peak), Some(limit)) = (d.job_peak, d.job_limit) else {
        return false;
    };
    d.oom_kills == 0
        && f.context.id.step == StepKind::Batch
        && !share(peak, limit, f.config.over_request_percent as u64)
        && limit.saturating_sub(peak) >= f.config.over_request_min_unused_mib << 20
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let peak = d.job_peak.unwrap_or(0);
    let limit = d.job_limit.unwrap_or(0);
    Explanation {
        picture: None,
        headline: format!(
            "job {} finished fine, using at most {} ({} %) of the {} it asked for.",
            w.context.id.job,
            w.amount(peak),
            percent(peak, limit).unwrap_or(0),
            human(limit)
        ),
        seen: Vec::new(),
        todo: vec![
            "Asking for less gets your jobs started sooner and leaves room for others.".into(),
        ],
    }
}
