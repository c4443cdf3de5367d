//! Killed by the OOM killer, and the evidence fits nothing known.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words};

pub const DEFINITION: Definition = Definition {
    cause: Cause::Unknown,
    id: "unknown",
    doc: "The kernel's OOM killer killed a process of the step, but the step stayed below its \
          limits and no pattern fits (or no limit is known). The report says what was measured \
          and asks to resubmit once, then to send the report to support: more memory may not \
          help.",
    detect,
    explain,
    also: None,
    for_admins: "read the job's report (oom-explain JOBID)",
    kill: true,
    need: Need::Nothing,
    ask_support: true,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| false,
};

fn detect(_: &Facts, d: &mut Diagnosis) -> bool {
    d.oom_kills > 0
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let below = match d.any_limit() {
        Some(_) => format!(
            "yet the step stayed below its own limit, at {},",
            w.peak_of_limit()
        ),
        None => "though no memory limit was set for the step,".into(),
    };
    Explanation {
        picture: None,
        headline: format!(
            "{} was killed{} by the kernel's out-of-memory killer.",
            w.who(),
            w.after()
        ),
        seen: vec![format!(
            "The kernel killed {}, {below} and nothing shows why.",
            w.killed()
        )],
        todo: vec![
            "More memory may not help. Resubmit once; if it happens again, send this report \
             to your cluster's support."
                .into(),
        ],
    }
}
