//! `oom-explain report`: the cluster's memory failures, for admins.

use std::path::PathBuf;
use std::process::ExitCode;

use super::cluster::Cluster;
use super::logs::LogFiles;
use super::output::{Stop, Streams};
use crate::{fleet, history};

pub struct Options<'a> {
    pub since: Option<&'a str>,
    pub user: Option<String>,
    pub top: usize,
    pub logs: &'a [PathBuf],
    pub json: bool,
}

pub fn run(
    options: Options,
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> Result<ExitCode, Stop> {
    let since = options.since.map(parse_since).transpose()?;
    let logs = LogFiles::readable(options.logs, streams)?;
    logs.require_some()?;
    let viewer = cluster.viewer();
    let uid = (!viewer.sees_all).then_some(viewer.uid);
    if uid.is_some() {
        streams.warn("your own jobs only (this cluster keeps jobs private)");
    }
    let filter = fleet::Filter {
        since,
        user: options.user,
        uid,
    };
    let mut builder = fleet::Builder::new(filter);
    history::for_each_line(&logs.files, |line| builder.add_line(line))?;
    let report = builder.finish(options.top);
    match options.json {
        true => streams.json(&report)?,
        false => streams.lines(&report.lines())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// "7d", "12h", "4w" before now, or a date "2026-11-01" (UTC): Unix seconds.
pub fn parse_since(text: &str) -> Result<u64, String> {
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
            format!("--since {text:?}: expected a period (7d, 12h, 4w) or a date (2026-11-01)")
        })
}
