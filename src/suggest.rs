//! `oom-explain suggest`: the next request of a job from the user's earlier runs of it (same
//! name), not from one run. A run that finished shows what the job needs, when its peak is
//! known (its record, or sacct's MaxRSS where the Slurm release makes it the kernel's peak);
//! a run killed at its limit only shows that the job needs more than that limit.

use serde::Serialize;

use crate::accounting::value;
use crate::next_request::{NextRequest, Source};
use crate::record::JobRecord;
use crate::size::{self, human};

/// The fields asked of sacct for a job's runs (`sacct -n -P -o …`, steps included: MaxRSS is
/// the steps'); the last two may hold the job's lines (`accounting_field=`).
pub const FIELDS: &str =
    "JobIDRaw,JobID,JobName,State,ReqMem,MaxRSS,End,AdminComment,SystemComment";

/// How many of the newest runs count: a job's needs drift as its inputs change.
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
    /// Killed for memory at its limit: it needed more.
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
    /// sacct's MaxRSS on a release where it is the kernel's peak (24.11 on, cgroup gathering).
    MaxRss,
}

/// One earlier run of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The raw job id.
    pub job: u32,
    /// As Slurm shows it (`1234`, `1234_5`).
    pub id: String,
    pub ended: Ended,
    /// Its memory request on one node, in bytes.
    pub requested: Option<u64>,
    /// Its peak on one node (the largest), where trustworthy.
    pub peak: Option<u64>,
    pub peak_from: Option<PeakFrom>,
    /// When it ended (`2026-11-30T10:05:01`, as sacct prints it), for ordering.
    pub end: String,
    /// The plugin's estimate of the need, from evidence of where the killed run was going.
    #[serde(skip)]
    pub estimate: Option<u64>,
}

/// Parses `sacct -n -P -o FIELDS` output into runs, oldest first (steps folded into their
/// job: their largest MaxRSS), and the job lines the nodes left in the accounting field.
/// `trust_max_rss`: this release's MaxRSS is the kernel's peak.
pub fn parse_runs(text: &str, trust_max_rss: bool) -> (Vec<Run>, Vec<JobRecord>) {
    let mut runs: Vec<Run> = Vec::new();
    let mut stored: Vec<JobRecord> = Vec::new();
    let mut max_rss: Vec<(String, u64)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 7 {
            continue;
        }
        if let Some((job, _step)) = f[0].split_once('.') {
            if let Some(rss) = crate::sacct::parse_bytes(f[5]) {
                max_rss.push((job.to_owned(), rss));
            }
            continue;
        }
        let Ok(job) = f[0].parse::<u32>() else {
            continue;
        };
        let lines = f.iter().skip(7).find_map(|field| value::decode(field));
        stored.extend(lines.into_iter().flatten().filter(|r| r.job == job));
        let state = f[3].split_whitespace().next().unwrap_or("");
        let requested = size::parse_slurm_size_mib(f[4].trim_end_matches(['n', 'c']))
            .and_then(|m| m.checked_mul(1 << 20));
        runs.push(Run {
            job,
            id: f[1].into(),
            ended: match state {
                "COMPLETED" => Ended::Finished,
                "OUT_OF_MEMORY" => Ended::Killed,
                _ => Ended::Other,
            },
            requested,
            peak: None,
            peak_from: None,
            end: f[6].into(),
            estimate: None,
        });
    }
    for run in &mut runs {
        let job = run.job.to_string();
        let rss = max_rss.iter().filter(|(j, _)| *j == job).map(|(_, r)| *r);
        if trust_max_rss && run.ended == Ended::Finished {
            run.peak = rss.max();
            run.peak_from = run.peak.map(|_| PeakFrom::MaxRss);
        }
    }
    runs.sort_by(|a, b| (&a.end, a.job).cmp(&(&b.end, b.job)));
    (runs, stored)
}

/// What the plugin's records add: the true peak of a finished run, a kill sacct did not see
/// (a step killed while the job went on), the estimate of a killed run's need.
pub fn add_records(runs: &mut [Run], records: &[JobRecord]) {
    for run in runs {
        let own: Vec<&JobRecord> = records.iter().filter(|r| r.job == run.job).collect();
        if own.is_empty() {
            continue;
        }
        if own.iter().any(|r| r.oom_kills > 0) {
            run.ended = Ended::Killed;
        }
        run.requested = run.requested.or(own.iter().filter_map(|r| r.limit).max());
        if run.ended == Ended::Finished
            && let Some(peak) = own.iter().filter_map(|r| r.peak).max()
        {
            run.peak = Some(peak);
            run.peak_from = Some(PeakFrom::Record);
        }
        let estimated = own.iter().filter_map(|r| r.recommendation.as_ref());
        run.estimate = estimated
            .filter(|r| r.certainty == "estimated")
            .map(|r| r.bytes)
            .max();
    }
}

/// The suggestion, with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// The runs that count (the newest [`NEWEST_RUNS`]), oldest first.
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

/// The next request from `runs` (oldest first), with `headroom_percent` over a need from one
/// or two runs.
pub fn suggest(name: &str, runs: &[Run], headroom_percent: u32) -> Suggestion {
    let runs: Vec<Run> = runs[runs.len().saturating_sub(NEWEST_RUNS)..].to_vec();
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
    let (next, why) = choose(&runs, peak_range, &killed_at, headroom_percent);
    let mut words = vec![summary(name, &runs, peak_range, &killed_at)];
    words.extend(why);
    if let Some(next) = &next {
        words.push(format!("  Next time: {}", next.line));
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
    headroom_percent: u32,
) -> (Option<NextRequest>, Vec<String>) {
    let too_small = killed_at.last().copied();
    let known_peaks = runs.iter().filter(|r| r.peak.is_some()).count();
    if let Some((low, high)) = peaks
        && too_small.is_none_or(|limit| high > limit)
    {
        let margin = match known_peaks >= RUNS_FOR_SPREAD {
            // The spread itself says how much one run differs from another.
            true => LEAST_MARGIN_PERCENT.max((high - low) * 100 / high.max(1) / 2),
            false => u64::from(headroom_percent),
        };
        let need = high + high * margin / 100;
        let next = NextRequest::mem(need, "measured", Source::History);
        let why = format!(
            "  The largest peak plus {margin} % (for the difference from run to run{}).",
            if known_peaks >= RUNS_FOR_SPREAD {
                ""
            } else {
                ", with few runs"
            }
        );
        return (Some(next), vec![why]);
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
    let estimate = runs
        .iter()
        .filter_map(|r| r.estimate)
        .filter(|&e| e > limit)
        .max();
    if let Some(worked) = worked {
        let why = format!(
            "  It needs between {} and {}: a run finished with {}.",
            human(limit),
            human(worked),
            human(worked)
        );
        return (
            Some(NextRequest::mem(worked, "estimated", Source::History)),
            vec![why],
        );
    }
    if let Some(estimate) = estimate {
        let why = "  From the last kill's report: where its memory was going.".to_owned();
        return (
            Some(NextRequest::mem(estimate, "estimated", Source::History)),
            vec![why],
        );
    }
    let why = format!(
        "  How much more, no run has shown: twice {} is the next try.",
        human(limit)
    );
    let next = NextRequest::mem(limit.saturating_mul(2), "at-least", Source::History);
    (Some(next), vec![why])
}

/// Finished runs whose peaks are not known (no record, and a release whose MaxRSS is
/// sampled): the newest one's request was enough.
fn finished_without_peaks(runs: &[Run]) -> (Option<NextRequest>, Vec<String>) {
    let finished = runs.iter().rev().filter(|r| r.ended == Ended::Finished);
    let Some(enough) = finished.filter_map(|r| r.requested).next() else {
        return (
            None,
            vec!["  No run finished or was killed for memory: nothing to go by.".into()],
        );
    };
    let why = format!(
        "  The last run finished with {}; how much of it the job used is not known (no \
         oom-explain record, and this Slurm's MaxRSS is sampled).",
        human(enough)
    );
    (
        Some(NextRequest::mem(enough, "estimated", Source::History)),
        vec![why],
    )
}

/// "7 runs of train: 5 finished, peak 3.1–3.6 GiB; killed at 200 MiB and at 400 MiB."
fn summary(name: &str, runs: &[Run], peaks: Option<(u64, u64)>, killed_at: &[u64]) -> String {
    let finished = runs.iter().filter(|r| r.ended == Ended::Finished).count();
    let mut parts = vec![format!(
        "{} run{} of {name}: {finished} finished",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    )];
    if let Some((low, high)) = peaks {
        parts[0] += &match low == high {
            true => format!(", peak {}", human(high)),
            false => format!(", peak {}", range(low, high)),
        };
    }
    if !killed_at.is_empty() {
        let limits: Vec<String> = killed_at.iter().map(|&l| human(l)).collect();
        let largest = human(*killed_at.last().expect("not empty"));
        parts.push(format!(
            "killed at {}: it needs more than {largest}",
            limits.join(" and at ")
        ));
    }
    parts.join("; ") + "."
}

/// "3.1–3.6 GiB", "900 MiB–1.2 GiB".
fn range(low: u64, high: u64) -> String {
    let (low, high) = (human(low), human(high));
    match (low.split_once(' '), high.split_once(' ')) {
        (Some((number, unit)), Some((_, same))) if unit == same => format!("{number}–{high}"),
        _ => format!("{low}–{high}"),
    }
}

#[cfg(test)]
mod tests;
