//! The `oom-explain` command: the caller's recent memory problems listed, past jobs explained,
//! the cluster's report, the plugin's settings checked, shell completions. The logic is in
//! [`history`](crate::history), [`fleet`](crate::fleet), [`sacct`](crate::sacct) and
//! [`config`](crate::config); this is the shell, one module per subcommand.

mod check;
mod cluster;
mod completions;
mod explain;
pub mod help;
mod jobs;
mod logs;
mod output;
mod recent;
mod report;
pub(crate) mod suggest;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueHint};

use crate::config;
use cluster::{Cluster, SlurmCluster};
pub use jobs::JobRef;
use output::{Stop, Streams};
pub use report::parse_since;
pub use suggest::job_name_option;

#[derive(Parser, Debug)]
#[command(
    name = "oom-explain",
    version = crate::VERSION_LINE,
    about = "Explains why a Slurm job ran out of memory, and what to request next time",
    long_about = "Explains why a Slurm job ran out of memory, and what to request next time.\n\n\
        With no JOBID: your jobs of the last 7 days that were killed for memory, came close to \
        their limit or asked for far more than they used, one line each, newest first.\n\n\
        `oom-explain JOBID...` gives each job the explanation its stderr got (from the records \
        the oom-explain SPANK plugin leaves on each node), or, for a job without records, what \
        Slurm's accounting (sacct) can tell. `oom-explain report` summarises the cluster's \
        memory failures for admins. `oom-explain check-config` validates the plugin's \
        settings. `oom-explain completions SHELL` prints a shell completion script.",
    after_help = help::after_help(),
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Jobs to explain, in turn: 1234 (as in slurm-1234.out; of an array job, all its tasks),
    /// 1234_5 (one array task) or 1234.0 (a step: its job). None: list your recent jobs.
    #[arg(value_name = "JOBID", value_parser = JobRef::parse)]
    jobs: Vec<JobRef>,
    /// With no JOBID: list every user's jobs (for those Slurm lets see them).
    #[arg(long, conflicts_with = "jobs")]
    all_users: bool,
    #[command(flatten)]
    global: Global,
}

/// Options taken before or after the subcommand.
#[derive(Args, Debug)]
struct Global {
    /// A job log (with its rotations: jobs.jsonl.1, …), or a folder of them (*.jsonl): where the
    /// nodes' logs are collected. Several may be given.
    #[arg(
        long = "log",
        value_name = "PATH",
        env = "OOM_EXPLAIN_LOG",
        value_delimiter = ':',
        default_value = config::DEFAULT_JOB_LOG,
        value_hint = ValueHint::AnyPath,
        global = true
    )]
    logs: Vec<PathBuf>,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Only jobs that ended in this last period (e.g. 7d, 12h, 4w) or since this date
    /// (2026-11-01): for the list of your jobs (default 7d), for `suggest` (default 90d) and
    /// for `report` (default: all of the job logs; with --from-sacct, 7d).
    #[arg(long, value_name = "PERIOD|DATE", global = true)]
    since: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// For admins: memory failures by cause, user and partition; memory requested but never
    /// used; the top advice.
    Report {
        /// Read the job lines the nodes left in Slurm's accounting (the plugin's
        /// accounting_field=: AdminComment or SystemComment, both read, ours told apart by
        /// `oe1:`) with sacct, instead of job logs: the whole cluster from any login node. Never
        /// chosen by itself: where the site does not store there, it would count nothing.
        /// Without --since: the last 7 days.
        #[arg(long)]
        from_sacct: bool,
        /// Only jobs that ended before this period ago (e.g. 1d) or this date (2026-11-01).
        #[arg(long, value_name = "PERIOD|DATE")]
        until: Option<String>,
        /// Only this user's jobs.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only this partition's jobs.
        #[arg(long, value_name = "PARTITION")]
        partition: Option<String>,
        /// Only this account's jobs (with --from-sacct).
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
        /// How many users, partitions and advice lines to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Sizes the next run of a job from your earlier runs of it (same job name, from Slurm's
    /// accounting, with the plugin's records where you may read them): the peaks of the runs
    /// that finished, the limits at which others were killed, and the request that follows.
    /// Without --since: the last 90 days.
    Suggest {
        /// A job: its name and owner say which runs. Or give --name or --script.
        #[arg(value_name = "JOBID", value_parser = JobRef::parse, conflicts_with_all = ["name", "script"])]
        job: Option<JobRef>,
        /// The job's name (sbatch --job-name; by default the script's file name).
        #[arg(long, value_name = "NAME", conflicts_with = "script")]
        name: Option<String>,
        /// A job script: the name sbatch gives its jobs (its #SBATCH --job-name, else its file
        /// name).
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        script: Option<PathBuf>,
        /// Whose runs (for admins; by default the job's owner, else you).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
    },
    /// Validates the plugin's arguments in plugstack.conf (and the TOML file they name) with
    /// the parser the plugin itself uses.
    CheckConfig {
        /// The plugstack.conf to read; by default the one Slurm reads: slurm.conf's
        /// PlugStackConfig, else plugstack.conf beside slurm.conf ($SLURM_CONF, else
        /// /etc/slurm/slurm.conf).
        #[arg(value_name = "PLUGSTACK", value_hint = ValueHint::FilePath)]
        plugstack: Option<PathBuf>,
    },
    /// Prints a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// For bash, e.g.: `oom-explain completions bash > /etc/bash_completion.d/oom-explain`;
    /// for zsh, into a file `_oom-explain` in a folder of `$fpath`; for fish, into
    /// `~/.config/fish/completions/oom-explain.fish`.
    Completions {
        /// The shell to complete in.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// The command on this process's arguments, output and Slurm.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let mut streams = Streams {
        out: &mut stdout.lock(),
        err: &mut stderr.lock(),
    };
    run_with(args, &mut streams, &SlurmCluster)
}

/// The command, writing to `streams` and asking `cluster`. A closed output (`| head`) ends it
/// quietly, with status 0.
fn run_with(
    args: impl IntoIterator<Item = OsString>,
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help, the version, or a usage error (status 2); a closed pipe is no matter here.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let result = dispatch(cli, streams, cluster).and_then(|code| {
        streams.out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(Stop::OutputClosed) => ExitCode::SUCCESS,
        Err(Stop::Failed(why)) => {
            streams.warn(&why);
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli, streams: &mut Streams, cluster: &dyn Cluster) -> Result<ExitCode, Stop> {
    let global = &cli.global;
    match cli.command {
        Some(Command::Report {
            from_sacct,
            until,
            user,
            partition,
            account,
            top,
        }) => report::run(
            report::Options {
                since: global.since.as_deref(),
                until: until.as_deref(),
                user,
                partition,
                account,
                from_sacct,
                top,
                logs: &global.logs,
                json: global.json,
            },
            streams,
            cluster,
        ),
        Some(Command::Suggest {
            job,
            name,
            script,
            user,
        }) => {
            let which = match (job, name, script) {
                (Some(job), _, _) => suggest::Which::Job(job),
                (_, Some(name), _) => suggest::Which::Name(name),
                (_, _, Some(script)) => suggest::Which::Script(script),
                (None, None, None) => {
                    streams.warn("suggest: give a JOBID, --name NAME or --script FILE (--help)");
                    return Ok(ExitCode::from(2));
                }
            };
            let options = suggest::Options {
                which,
                user,
                since: global.since.as_deref(),
                logs: &global.logs,
                json: global.json,
            };
            suggest::run(options, streams, cluster)
        }
        Some(Command::CheckConfig { plugstack }) => {
            let plugstack = plugstack.unwrap_or_else(check::slurms_plugstack);
            check::run(&plugstack, streams, cluster)
        }
        Some(Command::Completions { shell }) => completions::run(shell, streams),
        None if cli.jobs.is_empty() => recent::run(
            recent::Options {
                since: global.since.as_deref(),
                all_users: cli.all_users,
                logs: &global.logs,
                json: global.json,
            },
            streams,
            cluster,
        ),
        None => explain::run(&cli.jobs, &global.logs, global.json, streams, cluster),
    }
}

#[cfg(test)]
mod tests;
