//! Files in /dev/shm (a filesystem in memory) filled the limit.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words, share};
use crate::size::human;

pub const DEFINITION: Definition = Definition {
    cause: Cause::Tmpfs,
    id: "tmpfs",
    doc: "Files in /dev/shm (or another filesystem kept in memory) held at least 30 % of the \
          limit: seen in the shmem figures at the end, in any sample or in the kernel's figures \
          at the kill, or as the gap between what the job had charged (its limit) and what its \
          processes held then (a burst of writes can be faster than the kernel's statistics). \
          Such files count against the job's memory until deleted. The fix is to delete them or \
          write scratch files to disk; a larger request must at least hold the files.",
    detect,
    explain,
    also: Some(|d| Some(format!("files in /dev/shm held {}.", human(d.shmem?)))),
    for_admins: "writes files to /dev/shm: use local disk ($TMPDIR) instead",
    kill: true,
    need: Need::KilledAtTheLimit,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| true,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    let Some(limit) = f.own_limit_of_kill(d) else {
        return false;
    };
    // At a kill at the limit, page cache would have been dropped before any process was
    // killed: what the job had charged beyond what its processes held was files in memory —
    // unless the kernel's own figures at the kill show file pages it could not drop yet
    // (a fast writer's pages waiting for the disk) filling that gap.
    let unheld = f
        .at_kill
        .map(|rows| rows.iter().map(|p| p.rss).sum::<u64>())
        .filter(|&held| f.job_reached && !share(held, limit, 30))
        .map(|held| limit.saturating_sub(held))
        .filter(|&gap| f.cache_at_kill.is_none_or(|cache| cache < gap / 2));
    match [d.shmem, unheld].into_iter().flatten().max() {
        Some(files) if share(files, limit, 30) => {
            d.shmem = Some(files);
            true
        }
        _ => false,
    }
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    Explanation {
        picture: None,
        headline: w.ran_out(),
        seen: vec![format!(
            "Files in /dev/shm held about {} of its {} limit when the kernel killed {}. \
             /dev/shm is kept in memory: its files count as memory used until deleted.",
            human(d.shmem.unwrap_or(0)),
            w.limit(),
            w.killed()
        )],
        todo: vec![
            "Delete those files as soon as they are no longer needed, or write scratch files \
             to disk instead ($TMPDIR or your scratch space)."
                .into(),
        ],
    }
}
