//! The `oom-explain` command: a past job explained, the cluster's report, the plugin's settings
//! checked. The logic is in [`history`], [`fleet`], [`sacct`] and [`config`]; this is the shell.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::access::Viewer;
use crate::config::{self, check_plugstack};
use crate::slurm::SlurmRelease;
use crate::{fleet, history, sacct};

#[derive(Parser, Debug)]
#[command(
    name = "oom-explain",
    version = crate::VERSION_LINE,
    about = "Explains why a Slurm job ran out of memory, and what to request next time",
    long_about = "Explains why a Slurm job ran out of memory, and what to request next time.\n\n\
        `oom-explain JOBID` gives the explanation the job's stderr got (from the records the \
        oom-explain SPANK plugin leaves on each node), or, for a job without records, what \
        Slurm's accounting (sacct) can tell. `oom-explain report` summarises the cluster's \
        memory failures for admins. `oom-explain check-config` validates the plugin's settings.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    explain: Explain,
}

#[derive(Args, Debug)]
struct Logs {
    /// A job log, or a folder of them (*.jsonl): where the nodes' logs are collected.
    /// Several may be given.
    #[arg(
        long = "log",
        value_name = "PATH",
        env = "OOM_EXPLAIN_LOG",
        value_delimiter = ':',
        default_value = config::DEFAULT_JOB_LOG
    )]
    logs: Vec<PathBuf>,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct Explain {
    /// The job's id (as in slurm-JOBID.out), or an array task's (1234_5: its raw id is asked
    /// of sacct).
    #[arg(value_name = "JOBID")]
    job: Option<String>,
    #[command(flatten)]
    logs: Logs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// For admins: memory failures by cause, user and partition; memory requested but never
    /// used; the top advice.
    Report {
        /// Only jobs that ended in this last period (e.g. 7d, 12h, 4w) or since this date
        /// (2026-11-01).
        #[arg(long, value_name = "PERIOD|DATE")]
        since: Option<String>,
        /// Only this user's jobs.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// How many users, partitions and advice lines to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        logs: Logs,
    },
    /// Validates the plugin's arguments in plugstack.conf (and the TOML file they name) with
    /// the parser the plugin itself uses.
    CheckConfig {
        /// The plugstack.conf to read.
        #[arg(value_name = "PLUGSTACK", default_value = "/etc/slurm/plugstack.conf")]
        plugstack: PathBuf,
    },
}

pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Some(Command::Report {
            since,
            user,
            top,
            logs,
        }) => report(since, user, top, &logs),
        Some(Command::CheckConfig { plugstack }) => check(&plugstack),
        None => match cli.explain.job {
            Some(job) => explain(&job, &cli.explain.logs),
            None => Err("a JOBID, or a command (see --help)".into()),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("oom-explain: {e}");
            ExitCode::FAILURE
        }
    }
}

fn explain(job: &str, logs: &Logs) -> Result<ExitCode, String> {
    let id = job_id(job)?;
    let (files, private) = readable_logs(&logs.logs)?;
    let looked_in = match (files.is_empty(), private) {
        (true, true) => "a job log you may read (here they are for the administrators; your \
                         job's report is also at the end of its .err file)"
            .to_owned(),
        _ => shown(&files),
    };
    let found = history::find_job(&files, id).map_err(|e| e.to_string())?;
    let viewer = viewer();
    let records: Vec<_> = found
        .iter()
        .filter(|r| viewer.may_see(r.origin.uid))
        .cloned()
        .collect();
    if records.is_empty() && !found.is_empty() {
        let why = match viewer.slurm_asked {
            true => "this cluster keeps jobs private: PrivateData=jobs",
            false => {
                "Slurm could not be asked who may see other users' jobs, so only yours are shown"
            }
        };
        return Err(format!("job {id}'s records are not yours to see ({why})"));
    }
    if !records.is_empty() {
        if logs.json {
            let doc = serde_json::json!({"job": id, "source": "records", "records": records});
            println!("{doc:#}");
        } else {
            history::explain(id, &records)
                .iter()
                .for_each(|l| println!("{l}"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // No record: what Slurm's accounting knows.
    let out = std::process::Command::new("sacct")
        .args(["-j", &id.to_string(), "-P", "-n", "-o", sacct::FIELDS])
        .output()
        .map_err(|e| {
            format!(
                "job {id}: no record in {}, and sacct could not run: {e}",
                looked_in
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "job {id}: no record in {}, and sacct failed: {}",
            looked_in,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let rows = sacct::parse(&String::from_utf8_lossy(&out.stdout));
    let text = sacct::explain(&id.to_string(), &rows, sacct_release());
    if logs.json {
        let doc =
            serde_json::json!({"job": id, "source": "sacct", "sacct": rows, "explanation": text});
        println!("{doc:#}");
    } else {
        text.iter().for_each(|l| println!("{l}"));
    }
    Ok(if rows.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The job logs that exist and that the caller may read, and whether any was private. A log
/// the site keeps private (`job_log_mode=0600`) is said once and left out: a user still gets
/// what sacct knows.
fn readable_logs(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, bool), String> {
    let files = history::log_files(paths).map_err(|e| e.to_string())?;
    let mut private = false;
    let readable = files
        .into_iter()
        .filter(|f| match std::fs::File::open(f) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!(
                    "oom-explain: {}: readable by the administrators only on this cluster",
                    f.display()
                );
                private = true;
                false
            }
            Err(_) => false,
        })
        .collect();
    Ok((readable, private))
}

/// The job's numeric id: `1234`, `1234.0` (a step: its job), or an array task `1234_5` /
/// heterogeneous component `1234+1`, which records know by their own raw id (asked of sacct).
fn job_id(job: &str) -> Result<u32, String> {
    let job = job.split('.').next().unwrap_or(job);
    if let Ok(id) = job.parse() {
        return Ok(id);
    }
    let valid = |c: char| c.is_ascii_digit() || c == '_' || c == '+';
    if job.is_empty() || !job.chars().all(valid) {
        return Err(format!("{job:?} is not a job id"));
    }
    let out = std::process::Command::new("sacct")
        .args(["-j", job, "-X", "-n", "-P", "-o", "JobIDRaw"])
        .output()
        .map_err(|e| format!("{job}: cannot ask sacct for its raw job id: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| {
            format!("{job}: sacct knows no such job (its raw id: sacct -j {job} -o JobIDRaw)")
        })
}

fn shown(files: &[PathBuf]) -> String {
    if files.is_empty() {
        "any job log (none found; see --log)".into()
    } else {
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn report(
    since: Option<String>,
    user: Option<String>,
    top: usize,
    logs: &Logs,
) -> Result<ExitCode, String> {
    let since = since.map(|s| parse_since(&s)).transpose()?;
    let (files, _) = readable_logs(&logs.logs)?;
    let viewer = viewer();
    let uid = (!viewer.sees_all).then_some(viewer.uid);
    if uid.is_some() {
        eprintln!("oom-explain: your own jobs only (this cluster keeps jobs private)");
    }
    let mut builder = fleet::Builder::new(fleet::Filter { since, user, uid });
    history::for_each_line(&files, |line| builder.add_line(line)).map_err(|e| e.to_string())?;
    let report = builder.finish(top);
    if logs.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("plain data")
        );
    } else {
        report.lines().iter().for_each(|l| println!("{l}"));
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

fn check(plugstack: &std::path::Path) -> Result<ExitCode, String> {
    let lines = check_plugstack(plugstack).map_err(|e| e.to_string())?;
    if lines.is_empty() {
        return Err(format!(
            "{}: no line loads oom-explain",
            plugstack.display()
        ));
    }
    let mut ok = true;
    for line in &lines {
        let at = format!("{}:{}", line.file.display(), line.line);
        match &line.config {
            Ok(c) => {
                println!("{at}: OK");
                println!(
                    "  headroom {} %, near_miss {} %, over_request {} % (and at least {} MiB unused)",
                    c.headroom_percent,
                    c.near_miss_percent,
                    c.over_request_percent,
                    c.over_request_min_unused_mib
                );
                println!(
                    "  records {}, spool_dir {}, job_log {} (mode {:04o}), leftover_after {} s",
                    c.records.name(),
                    c.spool_dir.display(),
                    c.job_log.display(),
                    c.job_log_mode,
                    c.leftover_after_s
                );
                println!(
                    "  default_mode {}{}",
                    c.default_mode.name(),
                    match c.default_mode {
                        crate::options::Mode::Off =>
                            " (only steps given --oom-explain are watched)",
                        _ => " (EVERY step is watched like an opted-in one)",
                    }
                );
                if let Some(m) = c.max_mem {
                    println!("  max_mem {}", crate::size::human(m));
                }
                for (key, value) in [
                    ("highmem_partition", &c.highmem_partition),
                    ("support", &c.support),
                    ("help_url", &c.help_url),
                ] {
                    if let Some(v) = value {
                        println!("  {key} {v}");
                    }
                }
            }
            Err(e) => {
                ok = false;
                println!("{at}: error: {e}");
                println!("  (slurmd would log this and the plugin would step aside: no reports)");
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Who runs the command, and what Slurm lets them see (`scontrol show config`).
fn viewer() -> Viewer {
    let uid = nix::unistd::getuid().as_raw();
    if uid == 0 {
        return Viewer::new(uid, None); // root sees all: no need to ask Slurm
    }
    // At most 10 s: with slurmctld down scontrol would wait longer (coreutils' timeout).
    let config = std::process::Command::new("timeout")
        .args(["10", "scontrol", "show", "config"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
    Viewer::new(uid, config.as_deref())
}

/// The Slurm release sacct belongs to (`sacct --version`), if it says.
fn sacct_release() -> Option<SlurmRelease> {
    let out = std::process::Command::new("sacct")
        .arg("--version")
        .output()
        .ok()?;
    SlurmRelease::parse(&String::from_utf8_lossy(&out.stdout))
}
