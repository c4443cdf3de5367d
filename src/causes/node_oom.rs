//! Killed while below its own limit: memory ran short outside the job.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words};

pub const DEFINITION: Definition = Definition {
    cause: Cause::NodeOom,
    id: "node-oom",
    doc: "The kernel killed a process of the step, but the limit it hit lay outside the job (the \
          kernel's report says so), or the job stayed well below its own limits and neither \
          the kernel's report nor the job's limit counters show its own limit being hit. The node, or a limit the site sets above each job, \
          ran short: the request was not the problem, so no larger one is suggested.",
    detect,
    explain,
    also: None,
    for_admins: "killed by the node running short: an admin matter (node memory, other jobs)",
    kill: true,
    need: Need::Nothing,
    ask_support: true,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| false,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    d.oom_kills > 0 && (f.kernel_says_node || (f.kernel_reports == 0 && !f.job_reached))
}

fn explain(_: &Diagnosis, w: &Words) -> Explanation {
    Explanation {
        picture: None,
        headline: format!(
            "{} was killed{}: memory ran out outside your job, not within its own limit.",
            w.who(),
            w.after()
        ),
        seen: vec![format!(
            "It stayed below its own limit, at {}. The kernel killed {} because memory ran \
             out on the node as a whole, or in a limit the site sets for all your jobs \
             together.",
            w.peak_of_limit(),
            w.killed()
        )],
        todo: vec![
            "More --mem will not help: your request was not the problem. Resubmit it; if \
             it stops again the same way, send this report to your cluster's support."
                .into(),
        ],
    }
}
