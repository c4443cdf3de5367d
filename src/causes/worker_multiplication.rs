//! Several processes of about the same, large size filled the limit together.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Words, Workers, share};
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
    memory_is_a_workaround: true,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    if !f.killed_at_own_limit(d) {
        return false;
    }
    let Some(limit) = d.any_limit() else {
        return false;
    };
    let from_kernel = f.at_kill.and_then(|rows| {
        let sizes = rows
            .iter()
            .filter(|r| r.name != "slurmstepd")
            .map(|r| (r.name.as_str(), r.rss));
        similar(sizes, limit, rows.len() as u32, true)
    });
    let from_series = || {
        let at_peak = f.series.as_ref()?.peak_with_processes()?;
        let sizes = at_peak.top.iter().map(|p| (p.name.as_str(), p.rss));
        similar(sizes, limit, at_peak.processes, false)
    };
    d.workers = from_kernel.or_else(from_series);
    d.workers.is_some()
}

/// Three or more processes of at least 4 % of the limit each, within a factor of two of their
/// median, holding together at least half the limit.
fn similar<'a>(
    sizes: impl Iterator<Item = (&'a str, u64)>,
    limit: u64,
    processes: u32,
    at_kill: bool,
) -> Option<Workers> {
    let mut large: Vec<(&str, u64)> = sizes.filter(|&(_, rss)| share(rss, limit, 4)).collect();
    if large.len() < 3 {
        return None;
    }
    large.sort_by_key(|&(_, rss)| std::cmp::Reverse(rss));
    let median = large[large.len() / 2].1;
    let similar: Vec<_> = large
        .iter()
        .filter(|(_, rss)| rss * 2 >= median && *rss <= median * 2)
        .collect();
    let total: u64 = similar.iter().map(|(_, rss)| rss).sum();
    (similar.len() >= 3 && share(total, limit, 50)).then(|| Workers {
        count: similar.len() as u32,
        each: median,
        name: similar[0].0.to_owned(),
        processes,
        at_kill,
    })
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
    let cpus = w
        .context
        .cpus_per_task
        .map(|c| format!(", on {c} CPU{}", if c == 1 { "" } else { "s" }))
        .unwrap_or_default();
    let when = if workers.at_kill {
        "when the kernel killed"
    } else {
        "at its highest; then the kernel killed"
    };
    let fewer = w
        .context
        .cpus_per_task
        .filter(|&c| workers.count > c)
        .map(|c| {
            format!(
                " (no more than its {c} CPU{})",
                if c == 1 { "" } else { "s" }
            )
        })
        .unwrap_or_default();
    Explanation {
        headline: format!("{} ran out of memory{} and was killed.", w.who(), w.after()),
        seen: vec![format!(
            "{} processes{name} of about {} each were running{cpus} against its {} limit \
             {when} {}.",
            workers.count,
            human(workers.each),
            w.limit(),
            w.killed()
        )],
        todo: vec![format!(
            "Run fewer at once{fewer}, or give each room. If each loads the same data, load \
             it once and share it."
        )],
    }
}
