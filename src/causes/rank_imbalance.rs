//! One task of a multi-task step used far more than the others.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, HeavyTask, Need, Words, share};
use crate::cgroup::MemorySnapshot;
use crate::size::human;

pub const DEFINITION: Definition = Definition {
    cause: Cause::RankImbalance,
    id: "rank-imbalance",
    doc: "One task of the step (srun -n N) peaked at half the limit or more and at least twice \
          any other task. The report gives the figures; if the program is an MPI one where one \
          task reads or gathers the data for all, the fix is that each reads its own part \
          (MPI-IO, parallel HDF5) — worded as a possibility, since the kernel cannot tell what \
          the program is.",
    detect,
    explain,
    also: Some(|d| {
        let h = d.heavy_task?;
        Some(format!(
            "task {} used {}, far more than the others.",
            h.task,
            human(h.peak)
        ))
    }),
    for_admins: "one task holds far more: distribute the data, or place that task alone",
    kill: true,
    need: Need::KilledAtTheLimit,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| true,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    d.heavy_task = f
        .own_limit_of_kill(d)
        .and_then(|l| heavy_task(f.snapshot, l));
    d.heavy_task.is_some()
}

/// One task whose peak is at least half the limit and at least twice any other task's.
fn heavy_task(snapshot: &MemorySnapshot, limit: u64) -> Option<HeavyTask> {
    let mut peaks: Vec<(u32, u64)> = snapshot
        .tasks
        .iter()
        .filter_map(|t| Some((t.task, t.peak?)))
        .collect();
    if peaks.len() < 2 {
        return None;
    }
    peaks.sort_by_key(|p| std::cmp::Reverse(p.1));
    let (task, peak) = peaks[0];
    let others = peaks[1].1;
    (share(peak, limit, 50) && peak >= others.saturating_mul(2)).then_some(HeavyTask {
        task,
        peak,
        others,
        tasks: peaks.len(),
    })
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let h = d.heavy_task.expect("rank imbalance has its facts");
    Explanation {
        picture: None,
        headline: w.ran_out(),
        seen: vec![format!(
            "One of its {} tasks (task {}) used {}, {} {}. Together they filled the {} \
             limit, and the kernel killed {}.",
            h.tasks,
            h.task,
            human(h.peak),
            if h.tasks == 2 {
                "the other"
            } else {
                "the others at most"
            },
            human(h.others),
            w.limit(),
            w.killed()
        )],
        todo: vec![format!(
            "If task {} reads or collects the data for all the others (common in MPI \
             programs), have each task read its own part (MPI-IO, parallel HDF5).",
            h.task
        )],
    }
}
