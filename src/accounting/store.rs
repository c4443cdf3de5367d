//! The job epilog's half: each job this node recorded with something to say (a kill, a near
//! miss, an over-request) goes into the job's accounting field with Slurm's own tools, sacct to
//! read and `sacctmgr modify job` to write. Both talk to slurmdbd, never to slurmctld; a job
//! costs each of its nodes that has something to say two reads and one write, and nothing for
//! the others.
//!
//! The field is read, merged with this node's line and written whole, then read again: nodes of
//! one job that write at the same moment may replace each other's value, and the one that finds
//! its line gone merges again. A value that is not ours is never replaced.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::Field;
use super::value::{self, Current};
use crate::config::Config;
use crate::record::{JobRecord, outcome_rank};
use crate::spool::Dir;

/// One command may take this long; the whole store, [`BUDGET`]. The epilog holds the node (the
/// job is over by then), so an unreachable slurmdbd costs seconds, not a job.
const COMMAND_LIMIT: Duration = Duration::from_secs(5);
pub const BUDGET: Duration = Duration::from_secs(15);
/// Looks, a second apart, for a job slurmdbd has not heard of yet.
const NOT_YET_TRIES: u32 = 4;
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
        let folder = Dir::open_strict(dir)?;
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
    /// The job's id also names other jobs in Slurm's accounting (an array's tasks, an older
    /// job of the same id): sacctmgr would change theirs too.
    Ambiguous,
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
    let mut jobs: BTreeMap<u32, Vec<JobRecord>> = BTreeMap::new();
    for record in records.iter().filter(|r| worth_storing(r)) {
        jobs.entry(record.job).or_default().push(record.clone());
    }
    jobs.into_iter()
        .map(|(job, mine)| (job, store_job(tools, field, job, &mine, deadline)))
        .collect()
}

fn store_job(
    tools: &Tools,
    field: Field,
    job: u32,
    mine: &[JobRecord],
    deadline: Instant,
) -> Result<Stored, String> {
    let owned = (job, mine.first().and_then(|r| r.origin.uid));
    let mut found = read(tools, field, owned, deadline)?;
    // slurmctld tells slurmdbd of a job through a queue: a very short job (an array's task, whose
    // row slurmdbd makes only when it starts) may get here first. Seen on the lab: 1 s was not
    // always enough on a busy machine.
    for _ in 0..NOT_YET_TRIES {
        if found.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        found = read(tools, field, owned, deadline)?;
    }
    let Some(Found {
        selector,
        mut current,
    }) = found
    else {
        return Ok(Stored::NoSuchJob);
    };
    if current == Current::Foreign {
        return Ok(Stored::Foreign);
    }
    let Some(selector) = selector else {
        return Ok(Stored::Ambiguous);
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
        let writing = Instant::now();
        write(tools, field, &selector, &merged, deadline)?;
        // A node of the same job that read before this write would have written within this
        // pause: twice what a write takes here, at least.
        std::thread::sleep(pause(attempt).max(writing.elapsed() * 2));
        current = read(tools, field, owned, deadline)?.map_or(Current::Empty, |f| f.current);
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

/// A job as Slurm's accounting has it.
struct Found {
    /// How sacctmgr names exactly this job, if it can (see [`selector`]).
    selector: Option<String>,
    current: Current,
}

/// The job's row, if accounting has the job. Only its own: `-j N` also lists the tasks of an
/// array N and the components of a heterogeneous job N.
/// A job of another owner under the same id (Slurm gave the id out again, and slurmdbd has not
/// heard of this job yet) is not the job: `None`.
fn read(
    tools: &Tools,
    field: Field,
    job: Owner,
    deadline: Instant,
) -> Result<Option<Found>, String> {
    let id = job.0.to_string();
    let format = format!("JobIDRaw,JobID,UID,{}", field.name());
    let args = ["-n", "-P", "-X", "-j", &id, "-o", &format];
    let out = run(&tools.sacct, &args, deadline)?;
    let rows = out.lines().filter(|line| !line.is_empty()).count();
    Ok(out.lines().find_map(|line| {
        let mut fields = line.splitn(4, '|');
        let (raw, shown, uid, text) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        (raw == id && job.1.is_none_or(|owner| uid == owner.to_string())).then(|| Found {
            selector: selector(&id, shown, rows),
            current: Current::of(text),
        })
    }))
}

/// A job id and, when Slurm said, the job's owner.
type Owner = (u32, Option<u32>);

/// What names only job `id` (shown by sacct as `shown`, among `rows` rows for `-j id`) to
/// sacctmgr, which picks jobs as sacct does: a bare id N also names every task of an array N,
/// every component of a heterogeneous job N, and an older array that had the id. An array
/// task (`A_T`) or a component (`N+O`) is named exactly; a bare id only when it names one job.
fn selector(id: &str, shown: &str, rows: usize) -> Option<String> {
    match shown.contains(['_', '+']) {
        true => Some(shown.to_owned()),
        false => (shown == id && rows == 1).then(|| id.to_owned()),
    }
}

/// Sets the field of the job `selector` names.
fn write(
    tools: &Tools,
    field: Field,
    selector: &str,
    value: &str,
    deadline: Instant,
) -> Result<(), String> {
    let job = format!("jobid={selector}");
    let set = format!("{}={value}", field.name());
    let args = ["-i", "modify", "job", "where", &job, "set", &set];
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
    // Only what Slurm's tools need of the epilog's environment: where slurm.conf is.
    let mut command = Command::new(program);
    command.env_clear().args(args);
    if let Some(conf) = std::env::var_os("SLURM_CONF") {
        command.env("SLURM_CONF", conf);
    }
    let mut child = command
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
        // sacctmgr says some failures ("Nothing modified") on its standard output.
        let said = [&err, &out]
            .into_iter()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .find_map(|text| {
                text.lines()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.trim().to_owned())
            })
            .unwrap_or_default();
        return Err(format!("{name} failed ({status}): {said}"));
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

/// Why the lines must not go into the accounting where slurm.conf (`SLURM_CONF`, which slurmd
/// gives the epilog, else /etc/slurm/slurm.conf) keeps jobs private, if it does or cannot be
/// read: slurmdbd lists every change of a job's field, value included, to any user who asks
/// (`sacctmgr list transactions`; it checks no PrivateData there).
fn jobs_kept_private() -> Option<String> {
    let path = std::env::var_os("SLURM_CONF").unwrap_or_else(|| "/etc/slurm/slurm.conf".into());
    let path = Path::new(&path);
    match std::fs::read_to_string(path) {
        Ok(text) if !crate::access::jobs_private_in(&text) => None,
        Ok(_) => Some(
            "this cluster keeps jobs private (PrivateData=jobs), but slurmdbd shows every change \
             of a job's field, value included, to every user (sacctmgr list transactions); set \
             accounting_with_private_data=yes if that is acceptable here"
                .into(),
        ),
        Err(e) => Some(format!(
            "cannot tell from {} whether jobs are private here: {e}",
            path.display()
        )),
    }
}

/// A line for slurmd's log, and whether it tells of a failure.
pub type Message = (bool, String);

/// The job epilog's store of its job lines (`jobs`, as the job log got them) where `config`
/// says (`accounting_field`, `slurm_bin_dir`, `accounting_with_private_data`): what to log.
/// Jobs with nothing to say cost nothing.
pub fn from_epilog(config: &Config, jobs: &[JobRecord]) -> Vec<Message> {
    let Some(field) = config.accounting_field else {
        return Vec::new();
    };
    if !jobs.iter().any(worth_storing) {
        return Vec::new();
    }
    if !config.accounting_with_private_data
        && let Some(why) = jobs_kept_private()
    {
        return vec![(true, format!("accounting_field: not stored: {why}"))];
    }
    let dir = config.slurm_bin_dir.clone().or_else(Tools::default_dir);
    let Some(dir) = dir else {
        return vec![(
            true,
            "accounting_field: cannot tell where sacct is; set slurm_bin_dir".into(),
        )];
    };
    let tools = match Tools::in_dir(&dir) {
        Ok(tools) => tools,
        Err(e) => {
            return vec![(
                true,
                format!("accounting_field: not stored: {e} (slurm_bin_dir= names the folder)"),
            )];
        }
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
            Ok(Stored::Ambiguous) => (
                true,
                format!(
                    "job {job}: its id also names other jobs in Slurm's accounting (an array's \
                     tasks, or an older job); not stored, to leave theirs alone"
                ),
            ),
            Ok(Stored::NoSuchJob) => (
                true,
                format!("job {job}: Slurm's accounting does not know the job; line in the job log only"),
            ),
            Err(e) => (true, format!("job {job}: not stored in {name}: {e}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exact_name_is_given_to_sacctmgr() {
        assert_eq!(selector("77", "77", 1).as_deref(), Some("77"));
        // Array task 5 of array 70 (raw id 77), and a heterogeneous job's second component.
        assert_eq!(selector("77", "70_5", 3).as_deref(), Some("70_5"));
        assert_eq!(selector("77", "76+1", 2).as_deref(), Some("76+1"));
        // The bare id also lists other jobs (an array 77's tasks, an older job): sacctmgr
        // would change them all.
        assert_eq!(selector("77", "77", 2), None);
    }

    fn far() -> Instant {
        Instant::now() + BUDGET
    }

    #[test]
    fn a_command_is_run_with_its_output_and_its_failure_in_one_line() {
        let out = run(
            Path::new("/bin/sh"),
            &["-c", "echo '12|oe1:ab'; echo more"],
            far(),
        );
        assert_eq!(out.unwrap(), "12|oe1:ab\nmore\n");
        let failed = run(
            Path::new("/bin/sh"),
            &["-c", "echo ' Nothing modified'; exit 1"],
            far(),
        );
        assert_eq!(
            failed.unwrap_err(),
            "sh failed (exit status: 1): Nothing modified"
        );
        let missing = run(Path::new("/nonexistent/sacct"), &[], far()).unwrap_err();
        assert!(missing.starts_with("/nonexistent/sacct: "), "{missing}");
        // Only SLURM_CONF reaches it from the epilog's environment.
        let env = run(Path::new("/usr/bin/env"), &[], far()).unwrap();
        assert!(env.lines().all(|l| l.starts_with("SLURM_CONF=")), "{env}");
    }

    #[test]
    fn a_command_that_hangs_or_floods_is_cut_short() {
        let started = Instant::now();
        let deadline = Instant::now() + Duration::from_millis(300);
        let hung = run(Path::new("/bin/sleep"), &["30"], deadline).unwrap_err();
        assert!(hung.contains("no answer within"), "{hung}");
        assert!(started.elapsed() < Duration::from_secs(3));
        // An endless answer is read as it comes (never stalls on a full pipe), kept up to the
        // cap, and the command is stopped at its limit.
        let deadline = Instant::now() + Duration::from_millis(500);
        let flood = run(Path::new("/usr/bin/yes"), &[], deadline).unwrap_err();
        assert!(flood.contains("no answer within"), "{flood}");
        assert!(
            run(Path::new("/bin/true"), &[], Instant::now()).is_err(),
            "no time left"
        );
    }
}
