//! `oom-explain suggest`: the next request of a job from the user's earlier runs of it, found
//! in Slurm's accounting by the job's name (given, read from a job script, or a job's own), with
//! the plugin's records where the caller may read them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use super::cluster::Cluster;
use super::jobs::JobRef;
use super::logs::LogFiles;
use super::output::{Stop, Streams};
use crate::history::{self, Wanted};
use crate::next_request::NextRequest;
use crate::record::JobRecord;
use crate::suggest::{self, Run};

/// Which job's runs.
pub enum Which {
    Job(JobRef),
    Name(String),
    Script(PathBuf),
}

pub struct Options<'a> {
    pub which: Which,
    /// Whose runs; by default the job's owner, else the caller.
    pub user: Option<String>,
    /// Runs that ended in this last period (e.g. 90d) or since this date.
    pub since: Option<&'a str>,
    pub logs: &'a [PathBuf],
    pub json: bool,
}

/// The period looked back over without `--since`.
const DEFAULT_SINCE: &str = "90d";

/// What `--json` prints (docs/users.md describes it).
#[derive(Serialize)]
struct Suggested<'a> {
    name: &'a str,
    user: &'a str,
    runs: &'a [Run],
    /// The smallest and the largest peak of the runs that finished, in bytes.
    peaks: Option<Peaks>,
    killed_at: &'a [u64],
    next_request: Option<&'a NextRequest>,
}

#[derive(Serialize)]
struct Peaks {
    lowest: u64,
    highest: u64,
}

pub fn run(
    options: Options,
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> Result<ExitCode, Stop> {
    let since = options.since.unwrap_or(DEFAULT_SINCE);
    let start = sacct_start(since)?;
    let (name, owner) = match &options.which {
        Which::Job(job) => name_of_job(job, cluster)?,
        Which::Name(name) => (name.clone(), None),
        Which::Script(path) => (name_in_script(path)?, None),
    };
    let user = options.user.or(owner).unwrap_or_else(|| {
        let uid = cluster.caller_uid();
        crate::record::user_name(uid).unwrap_or_else(|| uid.to_string())
    });
    let args = [
        "-n", "-P", "-u", &user, "--name", &name, "-S", &start, "-E", "now",
    ];
    let text = cluster
        .sacct(&[&args[..], &["-o", suggest::FIELDS]].concat())
        .map_err(|why| Stop::Failed(format!("suggest needs Slurm's accounting: {why}")))?;
    let (mut runs, stored) = suggest::parse_runs(&text, max_rss_is_peak(cluster));
    add_readable_records(&mut runs, stored, options.logs, streams, cluster)?;
    let site = suggest::Site {
        // The plugin's default: the command does not read the nodes' plugstack.conf.
        headroom_percent: crate::config::Config::default().headroom_percent,
        node_max: cluster.largest_node_mib().map(|mib| mib << 20),
    };
    let s = suggest::suggest(&name, &runs, site);
    if options.json {
        streams.json(&Suggested {
            name: &name,
            user: &user,
            runs: &s.runs,
            peaks: s.peaks.map(|(lowest, highest)| Peaks { lowest, highest }),
            killed_at: &s.killed_at,
            next_request: s.next.as_ref(),
        })?;
    } else if runs.is_empty() {
        streams.line(&format!(
            "No run of {name} by {user} in Slurm's accounting since {since}. Further back: \
             --since 180d; another user's runs: --user NAME (where Slurm lets you see them)."
        ))?;
    } else {
        streams.lines(&s.words)?;
    }
    Ok(match s.next {
        Some(_) => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    })
}

/// sacct's MaxRSS is the kernel's peak from Slurm 24.11 on where Slurm gathers through
/// cgroups (sacct's own release says which Slurm recorded it, for recent runs); elsewhere it is
/// sampled and may miss the top.
fn max_rss_is_peak(cluster: &dyn Cluster) -> bool {
    let gather = cluster.slurm_config();
    let gather = gather
        .as_deref()
        .and_then(|t| crate::access::setting(t, "JobAcctGatherType"));
    gather.is_some_and(|g| g.contains("cgroup"))
        && cluster.sacct_release().is_some_and(|r| r.max_rss_is_peak())
}

/// The job's name and owner, as Slurm's accounting has them.
fn name_of_job(job: &JobRef, cluster: &dyn Cluster) -> Result<(String, Option<String>), Stop> {
    let id = job.to_string();
    let text = cluster
        .sacct(&["-j", &id, "-X", "-n", "-P", "-o", "JobName,User"])
        .map_err(|why| Stop::Failed(format!("suggest needs Slurm's accounting: {why}")))?;
    let line = text
        .lines()
        .next()
        .ok_or_else(|| Stop::Failed(format!("job {id}: Slurm's accounting knows no such job")))?;
    let (name, user) = line.split_once('|').unwrap_or((line, ""));
    Ok((
        name.to_owned(),
        Some(user.to_owned()).filter(|u| !u.is_empty()),
    ))
}

/// The name sbatch gives a job from this script: its `#SBATCH --job-name`/`-J`, else the
/// script's file name.
fn name_in_script(path: &Path) -> Result<String, Stop> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Stop::Failed(format!("{}: {e}", path.display())))?;
    if let Some(name) = job_name_option(&text) {
        return Ok(name);
    }
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Stop::Failed(format!("{}: not a file name", path.display())))
}

/// `#SBATCH --job-name=X`, `--job-name X`, `-J X` or `-JX` among the script's leading
/// directives (sbatch stops reading them at the first command).
pub fn job_name_option(script: &str) -> Option<String> {
    let mut found = None;
    // As sbatch reads them: from the first column, up to the first command.
    for line in script.lines() {
        if line.trim().is_empty() || (line.starts_with('#') && !line.starts_with("#SBATCH")) {
            continue;
        }
        let Some(directive) = line.strip_prefix("#SBATCH") else {
            break;
        };
        let words = shlex::split(directive).unwrap_or_default();
        for (i, word) in words.iter().enumerate() {
            let next = words.get(i + 1).cloned();
            let name = match word.strip_prefix("--job-name") {
                Some(rest) => rest.strip_prefix('=').map(str::to_owned).or(next),
                None => match word.strip_prefix("-J") {
                    Some("") => next,
                    Some(rest) => Some(rest.to_owned()),
                    None => continue,
                },
            };
            found = name.or(found);
        }
    }
    found.filter(|n| !n.is_empty())
}

/// The plugin's records of these runs: the lines in Slurm's accounting (`stored`), and the job
/// logs the caller may read. Slurm's PrivateData and slurm.conf's decide whose, as for
/// `oom-explain JOBID`.
fn add_readable_records(
    runs: &mut [Run],
    stored: Vec<JobRecord>,
    logs: &[PathBuf],
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> Result<(), Stop> {
    if runs.is_empty() {
        return Ok(());
    }
    let logs = LogFiles::readable(logs, streams)?;
    let wanted = Wanted {
        jobs: runs.iter().map(|r| r.job).collect(),
        ..Wanted::default()
    };
    let mut records = stored;
    if !logs.files.is_empty() {
        records.extend(history::find_jobs(&logs.files, &wanted)?);
    }
    let viewer = cluster.viewer();
    records.retain(|r| viewer.may_see(r.origin.uid));
    suggest::add_records(runs, &records);
    Ok(())
}

/// sacct's `-S` for a period (`now-7776000`) or a date as given (sacct reads 2026-11-01).
fn sacct_start(since: &str) -> Result<String, Stop> {
    super::parse_since(since).map_err(Stop::Failed)?;
    Ok(match humantime::parse_duration(since) {
        Ok(period) => format!("now-{}", period.as_secs()),
        // sacct reads 2026-11-01 and 2026-11-01T10:00.
        Err(_) => since.trim().replacen(' ', "T", 1),
    })
}
