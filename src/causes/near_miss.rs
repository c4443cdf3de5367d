//! Finished, with the memory it could not give back close to the limit.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words, share};
use crate::size::human;

pub const DEFINITION: Definition = Definition {
    cause: Cause::NearMiss,
    id: "near-miss",
    doc: "The step finished, and the memory the kernel cannot drop on demand (program memory, \
          files in /dev/shm, kernel memory) came within the near-miss share of the limit (90 % \
          by default). File cache never counts: the kernel frees it when needed, so a job that \
          streams large files through memory gets no warning. The report starts by saying the \
          job finished, then suggests the peak plus headroom.",
    detect,
    explain,
    also: None,
    for_admins: "finished close to the limit: the report suggests some room",
    kill: false,
    need: Need::PeakHeld,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| false,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    let near = |limit: Option<u64>| match (d.peak_unreclaimable, limit) {
        (Some(held), Some(limit)) => share(held, limit, f.config.near_miss_percent as u64),
        _ => false,
    };
    d.oom_kills == 0 && (near(d.limit) || near(d.soft_limit))
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    // Held at memory.high without a hard limit, that level is the one that counts.
    let held = d.peak_unreclaimable.or(d.peak).unwrap_or(0);
    let used = match d.limit.or(d.soft_limit) {
        Some(limit) => w.of_limit(held, limit),
        None => w.amount(held),
    };
    let mut seen = vec![format!(
        "Its highest memory use was {used}. A little more, and it would have been killed."
    )];
    if let (Some(all), Some(held)) = (d.peak, d.peak_unreclaimable)
        && all > held + all / 20
    {
        seen.push(format!(
            "(Not counted: {} of file cache, which the kernel frees when it needs to.)",
            human(all - held)
        ));
    }
    if d.throttled > 0 {
        seen.push(format!(
            "The kernel slowed it down {} times to keep it under {}.",
            d.throttled,
            human(d.soft_limit.or(d.limit).unwrap_or(0))
        ));
    }
    Explanation {
        picture: None,
        headline: format!("{} finished, but came close to its memory limit.", w.who()),
        seen,
        todo: vec!["To be safe next time, give it some room.".into()],
    }
}
