//! `oom-explain report`: the cluster's memory failures, for admins: from the job logs, or from
//! Slurm's accounting (`--from-sacct`, where the epilogs keep the job lines:
//! `accounting_field=`).

use std::path::PathBuf;
use std::process::ExitCode;

use super::cluster::Cluster;
use super::logs::LogFiles;
use super::output::{Stop, Streams};
use crate::accounting::value;
use crate::{fleet, history};

pub struct Options<'a> {
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub user: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub from_sacct: bool,
    pub top: usize,
    pub logs: &'a [PathBuf],
    pub json: bool,
}

/// From Slurm's accounting, without --since: the last week (all of it would be a heavy query
/// for slurmdbd).
const SACCT_DEFAULT_SINCE: &str = "7d";

pub fn run(
    options: Options,
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> Result<ExitCode, Stop> {
    if options.account.is_some() && !options.from_sacct {
        return Err(Stop::Failed(
            "--account needs --from-sacct: the job logs do not name accounts".into(),
        ));
    }
    let since = match (options.since, options.from_sacct) {
        (None, true) => Some(SACCT_DEFAULT_SINCE),
        (since, _) => since,
    };
    let since = since.map(parse_since).transpose()?;
    let until = options
        .until
        .map(|text| parse_moment("--until", text))
        .transpose()?;
    let viewer = cluster.viewer();
    let uid = (!viewer.sees_all).then_some(viewer.uid);
    let filter = fleet::Filter {
        since,
        until,
        user: options.user.clone(),
        uid,
        partition: options.partition.clone(),
    };
    let mut builder = fleet::Builder::new(filter);
    let source = match options.from_sacct {
        true => Some(from_sacct(&options, since, until, cluster, &mut builder)?),
        false => {
            let logs = LogFiles::readable(options.logs, streams)?;
            logs.require_some()?;
            history::for_each_line(&logs.files, |line| builder.add_line(line))?;
            None
        }
    };
    if uid.is_some() {
        streams.warn("your own jobs only (this cluster keeps jobs private)");
    }
    let mut report = builder.finish(options.top);
    report.source = source;
    match options.json {
        true => streams.json(&report)?,
        false => streams.lines(&report.lines())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Streams `sacct -a -X` over the period through `builder`: each job's lines from its
/// accounting field. What the report says of its source.
fn from_sacct(
    options: &Options,
    since: Option<u64>,
    until: Option<u64>,
    cluster: &dyn Cluster,
    builder: &mut fleet::Builder,
) -> Result<String, Stop> {
    let now = crate::record::unix_now();
    let ago = |t: u64| format!("now-{}", now.saturating_sub(t));
    let mut args: Vec<String> = [
        "-a",
        "-X",
        "-n",
        "-P",
        "-o",
        "JobIDRaw,UID,Partition,AdminComment,SystemComment",
    ]
    .map(String::from)
    .into();
    if let Some(since) = since {
        args.extend(["-S".into(), ago(since)]);
    }
    if let Some(until) = until {
        args.extend(["-E".into(), ago(until)]);
    }
    for (flag, value) in [
        ("-u", &options.user),
        ("-r", &options.partition),
        ("-A", &options.account),
    ] {
        if let Some(value) = value {
            args.extend([flag.into(), value.clone()]);
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut jobs = 0u64;
    let mut buffer = Vec::new();
    cluster
        .sacct_each_line(&args, &mut |row| {
            jobs += 1;
            let owner = row_owner(row);
            if let Some(text) =
                value::find_in_row(row).and_then(|v| value::text_into(v, &mut buffer))
            {
                text.lines()
                    .for_each(|line| builder.add_line_of(line, Some(owner)));
            }
        })
        .map_err(Stop::Failed)?;
    Ok(format!(
        "From Slurm's accounting: the lines of the jobs with something to say, among {jobs} \
         job(s) sacct listed (unused memory counts theirs only)."
    ))
}

/// The job, owner and partition of a sacct row (`JobIDRaw|UID|Partition|…`): the lines in its
/// fields must be theirs. A row that does not say whose it is matches no line (no job has id
/// u32::MAX).
fn row_owner(row: &[u8]) -> fleet::Row<'_> {
    let mut fields = row.splitn(4, |&b| b == b'|');
    let mut number = || -> Option<u32> { std::str::from_utf8(fields.next()?).ok()?.parse().ok() };
    let (job, uid) = match (number(), number()) {
        (Some(job), Some(uid)) => (job, uid),
        _ => (u32::MAX, u32::MAX),
    };
    let partition = fields
        .next()
        .and_then(|p| std::str::from_utf8(p).ok())
        .filter(|p| !p.is_empty());
    fleet::Row {
        job,
        uid,
        partition,
    }
}

/// "7d", "12h", "4w" before now, or a date "2026-11-01" (UTC): Unix seconds.
pub fn parse_since(text: &str) -> Result<u64, String> {
    parse_moment("--since", text)
}

/// A moment given to `option` as [`parse_since`] reads it.
fn parse_moment(option: &str, text: &str) -> Result<u64, String> {
    let now = std::time::SystemTime::now();
    let moment = match humantime::parse_duration(text) {
        Ok(ago) => now.checked_sub(ago),
        Err(_) => humantime::parse_rfc3339_weak(&format!("{text} 00:00:00"))
            .or_else(|_| humantime::parse_rfc3339_weak(text))
            .ok(),
    };
    moment
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or_else(|| {
            format!("{option} {text:?}: expected a period (7d, 12h, 4w) or a date (2026-11-01)")
        })
}
