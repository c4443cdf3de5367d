//! The job epilog's half: each job this node recorded with something to say (a kill, a near
//! miss, an over-request) goes into the job's accounting field with Slurm's own tools, sacct to
//! read and `sacctmgr modify job` to write. Both talk to slurmdbd, never to slurmctld; a job
//! costs each of its nodes that has something to say two reads and one write, and nothing for
//! the others.
//!
//! The field is read, merged with this node's line and written whole, then read again: nodes of
//! one job that write at the same moment may replace each other's value, and the one that finds
//! its line gone merges again. A value that is not ours is never replaced.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::Field;
use super::value::{self, Current};
use crate::record::{JobRecord, outcome_rank};
use crate::spool::Dir;

/// One command may take this long; the whole store, [`BUDGET`]. The epilog holds the node (the
/// job is over by then), so an unreachable slurmdbd costs seconds, not a job.
const COMMAND_LIMIT: Duration = Duration::from_secs(5);
pub const BUDGET: Duration = Duration::from_secs(15);
/// Writes of one job's value, at most (the first, and merges after a concurrent node's).
const ATTEMPTS: u32 = 3;
/// sacct's answer is one field of one job: more than this is not an answer.
const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// Whether a job line is worth a write to the accounting database: a kill, a near miss or an
/// over-request (`none`, a job that went well, is not).
pub fn worth_storing(record: &JobRecord) -> bool {
    outcome_rank(&record.cause) < 3
}

/// Slurm's sacct and sacctmgr, as root runs them.
#[derive(Debug, Clone)]
pub struct Tools {
    sacct: PathBuf,
    sacctmgr: PathBuf,
}

impl Tools {
    /// sacct and sacctmgr in `dir`: the folder and every folder above it root's and writable
    /// by no one else, the programs root's regular files (root runs them).
    pub fn in_dir(dir: &Path) -> io::Result<Tools> {
        let folder = Dir::open(dir)?;
        let sacct = folder.root_file("sacct")?;
        let sacctmgr = folder.root_file("sacctmgr")?;
        Ok(Tools { sacct, sacctmgr })
    }

    /// Where Slurm's programs are when the site does not say (`slurm_bin_dir=`): `bin` beside
    /// the `sbin` of the running slurmstepd (/usr/sbin/slurmstepd: /usr/bin). The epilog's
    /// environment has no PATH.
    pub fn default_dir() -> Option<PathBuf> {
        let exe = std::env::current_exe().ok()?;
        Some(exe.parent()?.parent()?.join("bin"))
    }
}

/// What became of one job's line.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Written (after this many attempts).
    Written(u32),
    /// The field already held it.
    AlreadyThere,
    /// The field holds another tool's value, left as it is.
    Foreign,
    /// The value is full of other nodes' more telling lines (kills, on a job of hundreds of
    /// nodes): this node's line stays in its job log only.
    Full,
    /// Slurm's accounting has no such job (slurmdbd has not heard of it yet, or it is not
    /// kept).
    NoSuchJob,
}

/// Stores `records` (this node's job lines; those not worth it are skipped) in `field`, within
/// [`BUDGET`]. Each job's outcome, or why it failed.
pub fn store(
    tools: &Tools,
    field: Field,
    records: &[JobRecord],
) -> Vec<(u32, Result<Stored, String>)> {
    let deadline = Instant::now() + BUDGET;
    let mut jobs: Vec<u32> = records
        .iter()
        .filter(|r| worth_storing(r))
        .map(|r| r.job)
        .collect();
    jobs.sort_unstable();
    jobs.dedup();
    jobs.into_iter()
        .map(|job| {
            let mine: Vec<JobRecord> = records
                .iter()
                .filter(|r| r.job == job && worth_storing(r))
                .cloned()
                .collect();
            (job, store_job(tools, field, job, &mine, deadline))
        })
        .collect()
}

fn store_job(
    tools: &Tools,
    field: Field,
    job: u32,
    mine: &[JobRecord],
    deadline: Instant,
) -> Result<Stored, String> {
    let mut found = read(tools, field, job, deadline)?;
    if found.is_none() {
        // slurmctld tells slurmdbd of a job through a queue: a very short job may get here first.
        std::thread::sleep(Duration::from_secs(1));
        found = read(tools, field, job, deadline)?;
    }
    let Some(Found {
        submitted,
        mut current,
    }) = found
    else {
        return Ok(Stored::NoSuchJob);
    };
    for attempt in 1..=ATTEMPTS {
        let before = match current {
            Current::Foreign => return Ok(Stored::Foreign),
            ref c if value::holds(c, mine) => {
                return Ok(match attempt {
                    1 => Stored::AlreadyThere,
                    n => Stored::Written(n - 1),
                });
            }
            Current::Empty => String::new(),
            Current::Ours(text) => text,
        };
        let Some(merged) = value::merged(job, &before, mine) else {
            return Ok(Stored::Full);
        };
        write(tools, field, (job, &submitted), &merged, deadline)?;
        // A node of the same job writing at this moment would be done within this pause.
        std::thread::sleep(pause(attempt));
        current = read(tools, field, job, deadline)?.map_or(Current::Empty, |f| f.current);
        if value::holds(&current, mine) {
            return Ok(Stored::Written(attempt));
        }
    }
    Err(format!(
        "job {job}: other nodes kept replacing the value; this node's line is in its job log only"
    ))
}

/// 0.2 s to 1 s, different on each node, so that two nodes' retries drift apart.
fn pause(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % 800;
    Duration::from_millis(200 + u64::from(jitter) / u64::from(attempt.max(1)))
}

/// The field of `job` as sacct shows it; `None` when accounting has no such job.
/// A job as Slurm's accounting has it: when it was submitted (as sacct prints it), and what
/// its field holds.
struct Found {
    submitted: String,
    current: Current,
}

/// The job's row, if accounting has the job. Only its own: `-j N` also lists the tasks of an
/// array N.
fn read(tools: &Tools, field: Field, job: u32, deadline: Instant) -> Result<Option<Found>, String> {
    let id = job.to_string();
    let format = format!("JobIDRaw,Submit,{}", field.name());
    let args = ["-n", "-P", "-X", "-j", &id, "-o", &format];
    let out = run(&tools.sacct, &args, deadline)?;
    Ok(out.lines().find_map(|line| {
        let (submitted, text) = line.strip_prefix(&format!("{id}|"))?.split_once('|')?;
        Some(Found {
            submitted: submitted.to_owned(),
            current: Current::of(text),
        })
    }))
}

/// Sets the field of `job`, submitted at `submitted`. sacctmgr picks jobs as sacct does, so a
/// bare id would also name an older array of that id (Slurm gave it out again): only jobs that
/// ended after this one's submission are asked for.
fn write(
    tools: &Tools,
    field: Field,
    (job, submitted): (u32, &str),
    value: &str,
    deadline: Instant,
) -> Result<(), String> {
    let job = format!("jobid={job}");
    let start = format!("starttime={submitted}");
    let set = format!("{}={value}", field.name());
    let args = ["-i", "modify", "job", "where", &job, &start, "set", &set];
    run(&tools.sacctmgr, &args, deadline).map(drop)
}

/// Runs `program` with `args`, for at most [`COMMAND_LIMIT`] and never past `deadline`: its
/// standard output, or one line saying what failed. Polled, not waited on: no thread and no
/// SIGCHLD handler in Slurm's process.
fn run(program: &Path, args: &[&str], deadline: Instant) -> Result<String, String> {
    let name = program.file_name().map_or_else(
        || program.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let limit = deadline
        .saturating_duration_since(Instant::now())
        .min(COMMAND_LIMIT);
    if limit.is_zero() {
        return Err(format!("{name}: no time left ({BUDGET:?} in all)"));
    }
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let status = loop {
        // Read while it runs: a long answer must not fill the pipe and stall it.
        drain(&mut stdout, &mut out);
        drain(&mut stderr, &mut err);
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(POLL),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{name}: no answer within {limit:?}"));
            }
        }
    };
    drain(&mut stdout, &mut out);
    drain(&mut stderr, &mut err);
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let said = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!("{name} failed ({status}): {}", said.trim()));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// How often a running command is looked at.
const POLL: Duration = Duration::from_millis(10);

/// Reads what the pipe holds now into `into` (up to [`MAX_OUTPUT_BYTES`]; the rest is read
/// and dropped), without waiting; the pipe is closed at its end or on an error.
fn drain(pipe: &mut Option<impl Read + AsFd>, into: &mut Vec<u8>) {
    let Some(p) = pipe else { return };
    let fd = p.as_fd();
    let nonblocking = fcntl(fd, FcntlArg::F_GETFL)
        .map(|flags| OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK)
        .and_then(|flags| fcntl(fd, FcntlArg::F_SETFL(flags)));
    if nonblocking.is_err() {
        *pipe = None;
        return;
    }
    let mut buffer = [0u8; 8192];
    loop {
        match p.read(&mut buffer) {
            Ok(0) => break *pipe = None,
            Ok(n) if into.len() < MAX_OUTPUT_BYTES => into.extend_from_slice(&buffer[..n]),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break *pipe = None,
        }
    }
}

/// A line for slurmd's log, and whether it tells of a failure.
pub type Message = (bool, String);

/// The job epilog's store of its job lines (`jobs`, as the job log got them) in `field`, with
/// the programs in `bin_dir` (else [`Tools::default_dir`]): what to log. Jobs with nothing to
/// say cost nothing.
pub fn from_epilog(field: Field, bin_dir: Option<&Path>, jobs: &[JobRecord]) -> Vec<Message> {
    if !jobs.iter().any(worth_storing) {
        return Vec::new();
    }
    let Some(dir) = bin_dir.map(Path::to_path_buf).or_else(Tools::default_dir) else {
        return vec![(
            true,
            "accounting_field: cannot tell where sacct is; set slurm_bin_dir".into(),
        )];
    };
    let tools = match Tools::in_dir(&dir) {
        Ok(tools) => tools,
        Err(e) => return vec![(true, format!("accounting_field: not stored: {e}"))],
    };
    let name = field.name();
    store(&tools, field, jobs)
        .into_iter()
        .map(|(job, outcome)| match outcome {
            Ok(Stored::Written(1)) => (false, format!("job {job}: line stored in {name}")),
            Ok(Stored::Written(n)) => (
                false,
                format!("job {job}: line stored in {name} (merged again {} time(s) after other nodes' writes)", n - 1),
            ),
            Ok(Stored::AlreadyThere) => (false, format!("job {job}: line already in {name}")),
            Ok(Stored::Foreign) => (
                true,
                format!(
                    "job {job}: {name} holds another tool's value, left as it is (line in the \
                     job log only); give oom-explain the other field (accounting_field=)"
                ),
            ),
            Ok(Stored::Full) => (
                false,
                format!("job {job}: {name} is full of other nodes' lines; this one is in the job log only"),
            ),
            Ok(Stored::NoSuchJob) => (
                true,
                format!("job {job}: Slurm's accounting does not know the job; line in the job log only"),
            ),
            Err(e) => (true, format!("job {job}: not stored in {name}: {e}")),
        })
        .collect()
}
