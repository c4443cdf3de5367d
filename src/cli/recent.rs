//! `oom-explain` with no JOBID: the caller's recent jobs worth a look (killed, close to the
//! limit, asking far too much), one line each, newest first.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::cluster::Cluster;
use super::logs::LogFiles;
use super::output::{Stop, Streams};
use super::report::parse_since;
use crate::classify::Cause;
use crate::history::{self, RecentFilter, RecentJob};
use crate::size::{date, human};

/// How far back the list looks unless `--since` says.
const DEFAULT_PERIOD: &str = "7d";

pub struct Options<'a> {
    pub since: Option<&'a str>,
    pub all_users: bool,
    pub logs: &'a [PathBuf],
    pub json: bool,
}

#[derive(Serialize)]
struct Listing<'a> {
    /// Unix seconds: jobs that ended since then.
    since: u64,
    jobs: &'a [RecentJob],
}

pub fn run(
    options: Options,
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> Result<ExitCode, Stop> {
    let period = options.since.unwrap_or(DEFAULT_PERIOD);
    let since = parse_since(period)?;
    let uid = whose(options.all_users, streams, cluster);
    let logs = LogFiles::readable(options.logs, streams)?;
    logs.require_some()?;
    let jobs = history::recent_jobs(&logs.files, &RecentFilter { since, uid })?;
    if options.json {
        streams.json(&Listing { since, jobs: &jobs })?;
    } else if jobs.is_empty() {
        streams.line(&nothing_found(period, uid.is_none()))?;
        // An admin's own jobs are rarely the point: say where the others' are.
        if uid.is_some() && cluster.viewer().sees_all {
            streams.line(
                "Other users' jobs: oom-explain --all-users; the cluster: oom-explain report.",
            )?;
        }
    } else {
        streams.lines(&table(&jobs, uid.is_none()))?;
        streams.line("The full story of one: oom-explain JOBID")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whose jobs to list (None: everyone's): the caller's, or with `--all-users` everyone's for
/// those Slurm lets see them.
fn whose(all_users: bool, streams: &mut Streams, cluster: &dyn Cluster) -> Option<u32> {
    if !all_users {
        return Some(cluster.caller_uid());
    }
    let viewer = cluster.viewer();
    if viewer.sees_all {
        return None;
    }
    streams.warn(match viewer.slurm_asked {
        true => "--all-users: this cluster keeps jobs private (PrivateData=jobs); yours only",
        false => "--all-users: Slurm could not be asked who may see other users' jobs; yours only",
    });
    Some(viewer.uid)
}

/// The one line said when no job is listed, and how to look further.
fn nothing_found(period: &str, everyone: bool) -> String {
    let whose = if everyone { "any job" } else { "your jobs" };
    let when = match humantime::parse_duration(period) {
        Ok(_) => format!("in the last {period}"),
        Err(_) => format!("since {period}"),
    };
    format!(
        "No memory problems recorded for {whose} {when}. To look further back: \
         oom-explain --since 30d (or a date: --since 2026-01-01)."
    )
}

/// One line per job, in columns, under a header.
fn table(jobs: &[RecentJob], with_user: bool) -> Vec<String> {
    let mut rows = vec![header(with_user)];
    rows.extend(jobs.iter().map(|job| columns(job, with_user)));
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

fn header(with_user: bool) -> Vec<String> {
    let mut cells = vec![
        "JOB",
        "ENDED (UTC)",
        "NODE",
        "WHAT HAPPENED",
        "PEAK OF LIMIT",
        "NEXT TIME",
    ];
    if with_user {
        cells.insert(1, "USER");
    }
    cells.into_iter().map(str::to_owned).collect()
}

fn columns(job: &RecentJob, with_user: bool) -> Vec<String> {
    let use_ = match (job.peak, job.limit) {
        (Some(p), Some(l)) => format!("{} of {}", human(p), human(l)),
        (Some(p), None) => human(p),
        _ => "-".into(),
    };
    let mut cells = vec![
        job.array_task
            .clone()
            .unwrap_or_else(|| job.job.to_string()),
        date(job.ended),
        nodes(&job.nodes),
        in_plain_words(&job.cause).into(),
        use_,
        job.recommendation.clone().unwrap_or_else(|| "-".into()),
    ];
    if with_user {
        let user = job.user.clone().or_else(|| job.uid.map(|u| u.to_string()));
        cells.insert(1, user.unwrap_or_else(|| "?".into()));
    }
    cells
}

/// The nodes, at most two named.
fn nodes(nodes: &[String]) -> String {
    match nodes {
        [] => "-".into(),
        [one] => one.clone(),
        [a, b] => format!("{a},{b}"),
        [a, b, rest @ ..] => format!("{a},{b}+{}", rest.len()),
    }
}

/// What happened to the job, as its user would say it.
fn in_plain_words(cause: &str) -> &'static str {
    let Some(cause) = Cause::from_id(cause) else {
        return "killed for memory"; // a cause of a newer version: a kill, as records count it
    };
    match cause {
        Cause::UnderAllocation => "killed: needed more memory than it asked for",
        Cause::LoadSpike => "killed: memory jumped near the end (a large input read whole?)",
        Cause::WorkerMultiplication => "killed: several workers, each holding its own copy",
        Cause::SteadyGrowth => "killed: memory grew steadily until the limit (a leak?)",
        Cause::Tmpfs => "killed: files in /dev/shm filled its memory",
        Cause::RankImbalance => "killed: one task held far more than the others",
        Cause::OtherStep => "killed: its steps shared the job's memory",
        Cause::NodeOom => "killed: the node itself ran short of memory",
        Cause::OverMemoryKill => "killed by Slurm's memory check",
        Cause::Unknown => "killed for memory (no clear pattern)",
        Cause::NearMiss => "finished, but came close to its memory limit",
        Cause::OverRequest => "asked for far more memory than it used",
        Cause::None => "fine",
    }
}
