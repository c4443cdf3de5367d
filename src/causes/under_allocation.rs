//! Killed at the job's own limit, and nothing points to a pattern: the request was too small.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words};
use crate::size::human;

pub const DEFINITION: Definition = Definition {
    cause: Cause::UnderAllocation,
    id: "under-allocation",
    doc: "Killed at the job's own limit, and no pattern explains the use: the job asked for \
          less memory than it needs. The limit stopped it, so one run rarely shows how much more \
          it needed. Where the kill left evidence (a large block being filled, a rise levelling \
          off, workers still to start) the request is sized from it; otherwise it is twice the \
          limit, and the report says how far doubling can go (all of a node's memory) and whom \
          to ask beyond.",
    detect,
    explain,
    also: None,
    for_admins: "requests too small: use the recommendation in the job's report",
    kill: true,
    need: Need::KilledAtTheLimit,
    ask_support: false,
    sacct_may_mislead: true,
    memory_is_a_workaround: |_| false,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    f.killed_at_own_limit(d) && f.job_reached
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let rising = d
        .still_rising
        .map(|rate| {
            format!(
                " Its memory was still rising, about {}/min, at that moment.",
                human(rate)
            )
        })
        .unwrap_or_default();
    Explanation {
        picture: None,
        headline: w.ran_out(),
        seen: vec![format!(
            "It used all {} it was given, and the kernel killed {}.{rising}",
            w.limit(),
            w.killed()
        )],
        todo: vec!["Ask for more memory.".into()],
    }
}
