//! `oom-explain suggest`: the next request of a job from the user's earlier runs of it (same
//! name), not from one run. A run that finished shows what the job needs, when its peak is
//! known (its record, or sacct's MaxRSS where the Slurm release makes it the kernel's peak);
//! a run killed at its limit only shows that the job needs more than that limit.

use serde::Serialize;

use crate::accounting::value;
use crate::next_request::{NextRequest, Source};
use crate::record::JobRecord;
use crate::size::human;

/// The fields asked of sacct for a job's runs (`sacct -n -P -o …`, steps included: their
/// states and MaxRSS); the last two may hold the job's lines (`accounting_field=`).
pub const FIELDS: &str = "JobIDRaw,JobID,JobName,State,ReqMem,MaxRSS,End,NNodes,NTasks,UID,\
                          AdminComment,SystemComment";

/// How many of the newest runs that finished or were killed for memory count: a job's needs
/// drift as its inputs change.
pub const NEWEST_RUNS: usize = 20;

/// Finished runs with a known peak from which the spread alone sets the margin; with fewer, the
/// site's headroom does.
const RUNS_FOR_SPREAD: usize = 3;
/// The least margin over the largest peak seen, with [`RUNS_FOR_SPREAD`] runs or more.
const LEAST_MARGIN_PERCENT: u64 = 10;

/// How a run ended, for its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ended {
    /// It finished (COMPLETED): its request was enough.
    Finished,
    /// The job or one of its steps was killed for memory: it needed more than its limit.
    Killed,
    /// Anything else (failed, cancelled, timed out, still running): says nothing of memory.
    Other,
}

/// Where a run's peak comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeakFrom {
    /// The plugin's record: the cgroup's own peak.
    Record,
    /// sacct's MaxRSS where it is the kernel's peak of a whole node's share: 24.11 on with
    /// cgroup gathering, one task per node.
    MaxRss,
}

/// One earlier run of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The raw job id.
    pub job: u32,
    /// As Slurm shows it (`1234`, `1234_5`).
    pub id: String,
    pub uid: Option<u32>,
    /// How it ended: finished, killed (for memory).
    #[serde(rename = "outcome")]
    pub ended: Ended,
    /// Its memory request on one node, in bytes (sacct's ReqMem is the whole job's: divided
    /// by its nodes).
    pub requested: Option<u64>,
    /// Its peak on one node (the largest), where trustworthy.
    pub peak: Option<u64>,
    pub peak_from: Option<PeakFrom>,
    /// When it ended (`2026-11-30T10:05:01`, as sacct prints it: the cluster's local time).
    #[serde(rename = "ended_at")]
    pub end: String,
    /// The plugin's estimate of the need, from evidence of where the killed run was going.
    #[serde(skip)]
    pub estimate: Option<u64>,
    /// Its report said more memory only puts the problem off (a leak, copies per worker…).
    #[serde(skip)]
    pub stop_gap: bool,
}

/// One of a job's steps as sacct lists it.
struct StepRow {
    job: u32,
    state: String,
    max_rss: Option<u64>,
    /// At most one task per node: its MaxRSS is the node's share, not one task's of many.
    one_task_per_node: bool,
}

/// Parses `sacct -n -P -o FIELDS` output into runs, oldest first (steps folded into their
/// job: a step killed for memory, their largest MaxRSS), and the job lines the nodes left in
/// the accounting field. `trust_max_rss`: this cluster's MaxRSS is the kernel's peak.
pub fn parse_runs(text: &str, trust_max_rss: bool) -> (Vec<Run>, Vec<JobRecord>) {
    let mut runs: Vec<Run> = Vec::new();
    let mut steps: Vec<StepRow> = Vec::new();
    let mut stored: Vec<JobRecord> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 10 {
            continue;
        }
        if let Some((job, step)) = f[0].split_once('.') {
            if let (Ok(job), false) = (job.parse(), step == "extern") {
                steps.push(StepRow {
                    job,
                    state: first_word(f[3]).into(),
                    max_rss: crate::sacct::parse_bytes(f[5]),
                    one_task_per_node: f[8].parse::<u32>().ok() <= f[7].parse::<u32>().ok(),
                });
            }
            continue;
        }
        // A pending array's remaining tasks (`1234_[5-99]`) have not run.
        let (Ok(job), false) = (f[0].parse::<u32>(), f[1].contains('[')) else {
            continue;
        };
        let lines = f.iter().skip(10).find_map(|field| value::decode(field));
        stored.extend(lines.into_iter().flatten().filter(|r| r.job == job));
        let nodes = f[7].parse::<u64>().ok().filter(|&n| n > 0).unwrap_or(1);
        runs.push(Run {
            job,
            id: f[1].into(),
            uid: f[9].parse().ok(),
            ended: match first_word(f[3]) {
                "COMPLETED" => Ended::Finished,
                "OUT_OF_MEMORY" => Ended::Killed,
                _ => Ended::Other,
            },
            requested: crate::sacct::req_mem(f[4]).map(|total| total / nodes),
            peak: None,
            peak_from: None,
            end: f[6].into(),
            estimate: None,
            stop_gap: false,
        });
    }
    for run in &mut runs {
        let own: Vec<&StepRow> = steps.iter().filter(|s| s.job == run.job).collect();
        // With `srun prog` in the script, the step is killed and the job only fails.
        if own.iter().any(|s| s.state == "OUT_OF_MEMORY") {
            run.ended = Ended::Killed;
        }
        if trust_max_rss && run.ended == Ended::Finished && own.iter().all(|s| s.one_task_per_node)
        {
            run.peak = own.iter().filter_map(|s| s.max_rss).max();
            run.peak_from = run.peak.map(|_| PeakFrom::MaxRss);
        }
    }
    runs.sort_by(|a, b| (&a.end, a.job).cmp(&(&b.end, b.job)));
    (runs, stored)
}

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

/// What the plugin's records add: the true peak of a finished run, a kill sacct did not see
/// (a step killed while the job went on), the estimate of a killed run's need.
pub fn add_records(runs: &mut [Run], records: &[JobRecord]) {
    for run in runs {
        // The run's own records: a job id Slurm gave out again is another user's job.
        let own: Vec<&JobRecord> = records
            .iter()
            .filter(|r| r.job == run.job && (run.uid.is_none() || r.origin.uid == run.uid))
            .collect();
        if own.is_empty() {
            continue;
        }
        if own.iter().any(|r| r.oom_kills > 0) {
            run.ended = Ended::Killed;
            run.peak = None;
            run.peak_from = None;
        }
        run.requested = run.requested.or(own.iter().filter_map(|r| r.limit).max());
        if run.ended == Ended::Finished
            && let Some(peak) = own.iter().filter_map(|r| r.peak).max()
        {
            run.peak = Some(peak);
            run.peak_from = Some(PeakFrom::Record);
        }
        let recommended: Vec<_> = own
            .iter()
            .filter_map(|r| r.recommendation.as_ref())
            .collect();
        run.estimate = recommended
            .iter()
            .filter(|r| r.certainty == "estimated")
            .map(|r| r.bytes)
            .max();
        run.stop_gap = recommended.iter().any(|r| r.stop_gap);
    }
}

/// The suggestion, with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// The runs that count (the newest [`NEWEST_RUNS`] that finished or were killed for
    /// memory), oldest first.
    pub runs: Vec<Run>,
    /// The smallest and largest peak of the finished runs whose peak is known.
    pub peaks: Option<(u64, u64)>,
    /// The requests at which runs were killed, ascending, each once.
    pub killed_at: Vec<u64>,
    pub next: Option<NextRequest>,
    /// What it says, for people.
    #[serde(skip)]
    pub words: Vec<String>,
}

/// What the site allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    /// Over a need known from one or two runs (percent).
    pub headroom_percent: u32,
    /// The most memory one node offers (bytes), where known: doubling stops there.
    pub node_max: Option<u64>,
}

/// The next request from `runs` (oldest first).
pub fn suggest(name: &str, runs: &[Run], site: Site) -> Suggestion {
    let all_runs = runs.len();
    let mut runs: Vec<Run> = runs
        .iter()
        .filter(|r| r.ended != Ended::Other)
        .cloned()
        .collect();
    runs.drain(..runs.len().saturating_sub(NEWEST_RUNS));
    let peaks: Vec<u64> = runs.iter().filter_map(|r| r.peak).collect();
    let peak_range = Some((
        *peaks.iter().min().unwrap_or(&0),
        *peaks.iter().max().unwrap_or(&0),
    ))
    .filter(|_| !peaks.is_empty());
    let mut killed_at: Vec<u64> = runs
        .iter()
        .filter(|r| r.ended == Ended::Killed)
        .filter_map(|r| r.requested)
        .collect();
    killed_at.sort_unstable();
    killed_at.dedup();
    let (mut next, why) = choose(&runs, peak_range, &killed_at, site);
    let mut words = vec![match runs.is_empty() {
        false => summary(name, &runs, peak_range, &killed_at),
        true => nothing_to_go_by(name, all_runs),
    }];
    words.extend(why);
    if let Some(next) = &mut next {
        words.push(format!(
            "  Next time: {} (in place of your --mem or --mem-per-cpu line)",
            next.line
        ));
        next.stop_gap = runs.last().is_some_and(|r| r.stop_gap);
        if next.stop_gap {
            words.push(format!(
                "  But more memory only puts it off: `oom-explain {}` says what to fix.",
                runs.last().map_or("", |r| r.id.as_str())
            ));
        }
    }
    Suggestion {
        runs,
        peaks: peak_range,
        killed_at,
        next,
        words,
    }
}

/// The request and why, from the peaks seen and the limits that were too small.
fn choose(
    runs: &[Run],
    peaks: Option<(u64, u64)>,
    killed_at: &[u64],
    site: Site,
) -> (Option<NextRequest>, Vec<String>) {
    let too_small = killed_at.last().copied();
    if let Some((low, high)) = peaks
        && too_small.is_none_or(|limit| high > limit)
    {
        return from_peaks(runs, low, high, site);
    }
    let Some(limit) = too_small else {
        return finished_without_peaks(runs);
    };
    // Killed above every peak seen, or never seen finishing: more than the largest limit.
    let worked = runs
        .iter()
        .filter(|r| r.ended == Ended::Finished)
        .filter_map(|r| r.requested)
        .filter(|&r| r > limit)
        .min();
    if let Some(worked) = worked {
        let why = format!(
            "  It needs between {} and {}: a run finished with {}.",
            human(limit),
            human(worked),
            human(worked)
        );
        let next = NextRequest::mem(worked, "estimated", Source::History);
        return (Some(next), vec![why]);
    }
    let newest_kill = runs.iter().rev().find(|r| r.ended == Ended::Killed);
    if let Some(estimate) = newest_kill.and_then(|r| r.estimate).filter(|&e| e > limit) {
        let why = "  From the last kill's report: where its memory was going.".to_owned();
        let next = NextRequest::mem(estimate, "estimated", Source::History);
        return (Some(next), vec![why]);
    }
    doubled(limit, site.node_max)
}

/// From the peaks of finished runs: the largest plus a margin, never more than the request of
/// the run that had it (that one finished).
fn from_peaks(runs: &[Run], low: u64, high: u64, site: Site) -> (Option<NextRequest>, Vec<String>) {
    let known = runs.iter().filter(|r| r.peak.is_some()).count();
    let margin = match known >= RUNS_FOR_SPREAD {
        // The spread itself says how much one run differs from another.
        true => LEAST_MARGIN_PERCENT.max(percent_of(high - low, high) / 2),
        false => u64::from(site.headroom_percent),
    };
    // A request below the peak it "carried" (a limit not enforced, a figure off) proves nothing.
    let carried = runs
        .iter()
        .filter(|r| r.peak == Some(high))
        .filter_map(|r| r.requested)
        .filter(|&c| c >= high)
        .min();
    let need = high.saturating_add(
        u64::try_from(u128::from(high) * u128::from(margin) / 100).unwrap_or(u64::MAX),
    );
    let why = match carried.filter(|&c| c < need) {
        Some(carried) => format!(
            "  The largest peak, {}, plus up to {margin} % to be safe: {} was enough for it.",
            human(high),
            human(carried)
        ),
        None => format!(
            "  The largest peak, {}, plus {margin} % to be safe{}.",
            human(high),
            if known >= RUNS_FOR_SPREAD {
                ""
            } else {
                " (few runs to go by)"
            }
        ),
    };
    let next = NextRequest::mem(
        need.min(carried.unwrap_or(need)),
        "measured",
        Source::History,
    );
    (Some(next), vec![why])
}

/// `part` as a whole percentage of `whole` (sizes near u64's end do not overflow).
fn percent_of(part: u64, whole: u64) -> u64 {
    u64::try_from(u128::from(part) * 100 / u128::from(whole.max(1))).unwrap_or(u64::MAX)
}

/// Only kills, and nothing shows how much more: twice the largest limit, up to a node's memory.
fn doubled(limit: u64, node_max: Option<u64>) -> (Option<NextRequest>, Vec<String>) {
    match node_max {
        Some(max) if limit >= max => {
            let why = format!(
                "  It needs more than one node here has ({}): ask your cluster's support.",
                human(max)
            );
            (None, vec![why])
        }
        Some(max) if limit.saturating_mul(2) > max => {
            let why = format!(
                "  How much more, no run has shown: all of a node here ({}) is the next try; \
                 beyond that, ask your cluster's support.",
                human(max)
            );
            // Slurm's own rounding of a node's memory: its MiB as sinfo gives them.
            let next = NextRequest::exact_mib(max >> 20, "at-least", Source::History);
            (Some(next), vec![why])
        }
        _ => {
            let why = format!(
                "  How much more, no run has shown: twice {} is the next try.",
                human(limit)
            );
            let next = NextRequest::mem(limit.saturating_mul(2), "at-least", Source::History);
            (Some(next), vec![why])
        }
    }
}

/// Finished runs whose peaks are not known (no record, and a sacct whose MaxRSS is sampled):
/// the newest one's request was enough.
fn finished_without_peaks(runs: &[Run]) -> (Option<NextRequest>, Vec<String>) {
    let finished = runs.iter().rev().filter(|r| r.ended == Ended::Finished);
    let Some(enough) = finished.filter_map(|r| r.requested).next() else {
        return (None, Vec::new()); // the summary says there is nothing to go by
    };
    let why = format!(
        "  The last run finished with {}; how much of it the job used is not known (no \
         oom-explain record, and sacct's MaxRSS here is measured only now and then).",
        human(enough)
    );
    let next = NextRequest::mem(enough, "estimated", Source::History);
    (Some(next), vec![why])
}

/// "7 runs of train: 5 finished, peak 3.1–3.6 GiB; killed at 200 MiB, 300 MiB and 400 MiB: it
/// needs more than 400 MiB."
fn summary(name: &str, runs: &[Run], peaks: Option<(u64, u64)>, killed_at: &[u64]) -> String {
    let finished = match runs.iter().filter(|r| r.ended == Ended::Finished).count() {
        0 => "none".to_owned(),
        n => n.to_string(),
    };
    let mut parts = vec![format!(
        "{} run{} of {name}: {finished} finished",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    )];
    if let Some((low, high)) = peaks {
        parts[0] += &format!(", peak {}", range(low, high));
    }
    if let Some((&largest, smaller)) = killed_at.split_last() {
        let smaller: Vec<String> = smaller.iter().map(|&l| human(l)).collect();
        let limits = match smaller.is_empty() {
            true => human(largest),
            false => format!("{} and at {}", smaller.join(", "), human(largest)),
        };
        // What the kills show, unless a finished run already showed more.
        match peaks.is_some_and(|(_, high)| high > largest) {
            true => parts.push(format!("killed at {limits}")),
            false => parts.push(format!(
                "killed at {limits}: it needs more than {}",
                human(largest)
            )),
        }
    }
    parts.join("; ") + "."
}

/// Runs were found, but none finished or ran out of memory.
fn nothing_to_go_by(name: &str, found: usize) -> String {
    match found {
        0 => format!("No run of {name} finished or ran out of memory: nothing to go by."),
        1 => format!(
            "1 run of {name}, which neither finished nor ran out of memory (it failed, timed \
             out or was cancelled): nothing to go by."
        ),
        n => format!(
            "{n} runs of {name}, none finished or ran out of memory (they failed, timed out or \
             were cancelled): nothing to go by."
        ),
    }
}

/// "3.1–3.6 GiB", "900 MiB–1.2 GiB", "305 MiB" (the same as people say it).
fn range(low: u64, high: u64) -> String {
    let (low, high) = (human(low), human(high));
    if low == high {
        return high;
    }
    match (low.split_once(' '), high.split_once(' ')) {
        (Some((number, unit)), Some((_, same))) if unit == same => format!("{number}–{high}"),
        _ => format!("{low}–{high}"),
    }
}

#[cfg(test)]
mod tests;
