//! Killed by Slurm's own memory check (JobAcctGatherParams=OverMemoryKill), not the kernel.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words, reached, share};
use crate::size::human;

pub const DEFINITION: Definition = Definition {
    cause: Cause::OverMemoryKill,
    id: "overmemory-kill",
    doc: "Tasks ended by SIGKILL with no OOM kill, the cgroup limit was not reached, and what \
          the step held came near Slurm's own allocation (at least 75 %: Slurm adds up its \
          processes' resident sizes, which counts shared pages more than once, so its figure \
          is often higher than the kernel's). Slurm's accounting poll killed it; its own figures \
          are in the \"exceeded memory limit\" line above the report, which the report points \
          to rather than contradict.",
    detect,
    explain,
    also: None,
    for_admins: "killed by Slurm's memory poll: request the peak, not the average",
    kill: true,
    need: Need::AboveSlurmsAllocation,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| false,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    // Memory held, not file cache: a step SIGKILLed for another reason (a time limit, a user)
    // after writing files must not look like this.
    let seen = [d.peak_unreclaimable, f.processes_held]
        .into_iter()
        .flatten()
        .max();
    match (seen, d.slurm_allocation) {
        (Some(seen), Some(allocation)) => {
            d.oom_kills == 0
                && f.context.tasks_killed() > 0
                && share(seen, allocation, 75)
                && !reached(d.peak, d.limit)
        }
        _ => false,
    }
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    Explanation {
        picture: None,
        headline: format!(
            "{} was killed by Slurm{}: it used more memory than it asked for.",
            w.who(),
            w.after()
        ),
        seen: vec![format!(
            "Slurm checks each job's memory at regular intervals; it found this one above the {} \
             it was given and stopped it. Slurm's own figures are in the \"exceeded memory \
             limit\" line above.",
            human(d.slurm_allocation.unwrap_or(0))
        )],
        todo: vec!["Ask for more memory.".into()],
    }
}
