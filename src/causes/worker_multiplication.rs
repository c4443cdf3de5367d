//! Several processes of about the same, large size filled the limit together.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words, Workers, share};
use crate::size::human;

pub const DEFINITION: Definition = Definition {
    cause: Cause::WorkerMultiplication,
    id: "worker-multiplication",
    doc: "Three or more processes of about the same size (within a factor of two of their \
          median, each at least 4 % of the limit) held at least half the limit together. Taken \
          from the kernel's list of the job's processes at the kill when there is one (the same \
          job gives the same answer however lucky the sampler was), else from the sampler's \
          highest point. The report says what was seen (how many, how large, on how many CPUs) \
          and the fixes that follow: fewer at once, or room for each; a guess about why they \
          are large is worded as one.",
    detect,
    explain,
    also: Some(|d| {
        let w = d.workers.as_ref()?;
        Some(format!(
            "{} processes held about {} each.",
            w.count,
            human(w.each)
        ))
    }),
    // Fewer workers than CPUs do run in parallel: room for each is a fix.
    for_admins: "several processes of the same size: fewer at once than CPUs, or room for each",
    kill: true,
    need: Need::KilledAtTheLimit,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |d| {
        d.workers
            .as_ref()
            .is_some_and(|w| w.cpus.is_some_and(|c| w.count > c))
    },
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    let Some(limit) = f.own_limit_of_kill(d) else {
        return false;
    };
    let victim = d.victim.as_ref().map(|v| v.pid);
    let from_kernel = f.at_kill.and_then(|rows| {
        let sizes: Vec<Size> = rows
            .iter()
            .filter(|r| r.name != "slurmstepd")
            .map(|r| (r.pid, r.name.as_str(), r.rss))
            .collect();
        let sum = sizes.iter().map(|s| s.2).sum::<u64>();
        group(&sizes, limit, victim).map(|g| (g, rows.len() as u32, sum, true))
    });
    let from_series = || {
        let at_peak = f.series.as_deref()?.peak_with_processes()?;
        let sizes: Vec<Size> = at_peak
            .top
            .iter()
            .map(|p| (p.pid, p.name.as_str(), p.rss))
            .collect();
        let sum = sizes.iter().map(|s| s.2).sum::<u64>();
        group(&sizes, limit, None).map(|g| (g, at_peak.processes, sum, false))
    };
    d.workers = from_kernel.or_else(from_series).map(
        |((count, each, name), processes, resident_sum, at_kill)| Workers {
            count,
            each,
            name,
            processes,
            resident_sum,
            at_kill,
            cpus: f.context.cpus_per_task,
        },
    );
    d.workers.is_some()
}

/// A process: pid, name, resident size.
type Size<'a> = (u32, &'a str, u64);

/// Three or more processes of at least 4 % of the limit each, within a factor of two of their
/// median, holding together at least half the limit, among them the killed process (or the
/// largest one), and together more than any process outside them: they, not one big process
/// beside them, filled the limit. (count, median size, name)
fn group(sizes: &[Size], limit: u64, victim: Option<u32>) -> Option<(u32, u64, String)> {
    let mut large: Vec<&Size> = sizes.iter().filter(|s| share(s.2, limit, 4)).collect();
    if large.len() < 3 {
        return None;
    }
    large.sort_by_key(|s| std::cmp::Reverse(s.2));
    let median = large[large.len() / 2].2;
    let (members, outside): (Vec<&Size>, Vec<&Size>) = large
        .iter()
        .partition(|s| s.2 * 2 >= median && s.2 <= median * 2);
    let total: u64 = members.iter().map(|s| s.2).sum();
    let key = victim.unwrap_or(large[0].0);
    let outside_largest = outside.iter().map(|s| s.2).max().unwrap_or(0);
    (members.len() >= 3
        && share(total, limit, 50)
        && members.iter().any(|s| s.0 == key)
        && total > outside_largest)
        .then(|| (members.len() as u32, median, members[0].1.to_owned()))
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let workers = d
        .workers
        .as_ref()
        .expect("worker multiplication has its facts");
    let name = match workers.name.as_str() {
        "" => String::new(),
        name => format!(" ({name})"),
    };
    let on_cpus = workers
        .cpus
        .map(|c| format!(" on {c} CPU{}", if c == 1 { "" } else { "s" }))
        .unwrap_or_default();
    // Sizes that add up to more than the limit share pages (a fork's copy-on-write data).
    let shared = match workers.resident_sum > d.any_limit().unwrap_or(u64::MAX) {
        true => " (part of that memory they share)",
        false => "",
    };
    let (lead, then) = match workers.at_kill {
        true => ("", ", when the kernel killed"),
        false => ("At its highest, ", "; then the kernel killed"),
    };
    let todo = match workers.cpus.filter(|&c| workers.count > c) {
        Some(c) => format!(
            "Use no more workers than CPUs ({c} here: e.g. Pool({c})): extra ones take turns on \
             the CPUs, but each needs its own memory. If each loads the same data, load it once \
             and share it."
        ),
        None => "Give each the room it needs, or run fewer at once. If each loads the same \
                 data, load it once and share it."
            .into(),
    };
    Explanation {
        picture: None,
        headline: w.ran_out(),
        seen: vec![format!(
            "{lead}{} processes{name} of about {} each were running{on_cpus}, against its {} \
             limit{shared}{then} {}.",
            workers.count,
            human(workers.each),
            w.limit(),
            w.killed()
        )],
        todo: vec![todo],
    }
}
