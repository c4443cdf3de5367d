//! Leaving a node's job line in the job's accounting field, whichever way it goes there
//! ([`Channel`]): read the field, merge this node's line in, write it whole, and read it back
//! where other nodes may write at the same moment (they may replace each other's value; the one
//! that finds its line gone merges again). A value that is not ours is never replaced.
//!
//! Also the job epilog's way ([`from_epilog`]): Slurm's own sacct to read and
//! `sacctmgr modify job` to write, both to slurmdbd once the job is over. It costs each node
//! with something to say two reads and one write, and nothing for the others. The step's end
//! goes through slurmctld instead, while the job runs (super::ctld): where it stored a line,
//! the epilog leaves it be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Field;
use super::backoff::{self, Service};
use super::command::{self, run};
use super::value::{self, Current};
use crate::config::Config;
use crate::record::{JobRecord, outcome_rank};

/// One command may take this long; the whole store, [`BUDGET`]. The epilog holds the node (the
/// job is over by then), so an unreachable slurmdbd costs seconds, not a job.
const COMMAND_LIMIT: Duration = Duration::from_secs(5);
pub const BUDGET: Duration = Duration::from_secs(15);
/// Looks, a second apart, for a job slurmdbd has not heard of yet.
const NOT_YET_TRIES: u32 = 4;
/// Writes of one job's value, at most (the first, and merges after a concurrent node's).
const ATTEMPTS: u32 = 3;

/// Whether a job line is worth a write to the accounting database: a kill, a near miss or an
/// over-request (`none`, a job that went well, is not).
pub fn worth_storing(record: &JobRecord) -> bool {
    worth_telling(&record.cause)
}

/// Whether an outcome (a step's or a job's cause) is one the accounting keeps.
pub fn worth_telling(cause: &str) -> bool {
    outcome_rank(cause) < 3
}

/// Slurm's sacct and sacctmgr, as root runs them.
#[derive(Debug, Clone)]
pub struct Tools {
    sacct: PathBuf,
    sacctmgr: PathBuf,
}

impl Tools {
    /// sacct and sacctmgr in `dir` ([`command::tool`]).
    pub fn in_dir(dir: &Path) -> std::io::Result<Tools> {
        Ok(Tools {
            sacct: command::tool(dir, "sacct")?,
            sacctmgr: command::tool(dir, "sacctmgr")?,
        })
    }
}

/// Where a job's field is read and written.
pub trait Channel {
    /// The job as found now; None where this way knows no such job (yet).
    fn read(&self, deadline: Instant) -> Result<Option<Found>, String>;
    /// Sets the field of the job `selector` names to `value`.
    fn write(&self, selector: &str, value: &str, deadline: Instant) -> Result<(), String>;
    /// The longest value this way takes whole.
    fn max_value(&self) -> usize {
        value::MAX_VALUE_BYTES
    }
}

/// A job as found.
pub struct Found {
    /// How to name exactly this job when writing, if it can be (see [`selector`]).
    pub selector: Option<String>,
    pub current: Current,
}

/// What became of one job's line.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Written (after this many attempts).
    Written(u32),
    /// The field already held it.
    AlreadyThere,
    /// Written, but no time was left to read it back (another node may have replaced it).
    Unverified,
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
    let channel = Slurmdbd {
        tools,
        field,
        job: (job, mine.first().and_then(|r| r.origin.uid)),
    };
    let mut found = channel.read(deadline)?;
    // slurmctld tells slurmdbd of a job through a queue: a very short job (an array's task, whose
    // row slurmdbd makes only when it starts) may get here first. Seen on the lab: 1 s was not
    // always enough on a busy machine.
    for _ in 0..NOT_YET_TRIES {
        if found.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        found = channel.read(deadline)?;
    }
    match found {
        Some(found) => merge_in(&channel, job, mine, found, deadline, true),
        None => Ok(Stored::NoSuchJob),
    }
}

/// The job's field as slurmdbd holds it now (None: it has no such job of this owner yet).
pub fn in_slurmdbd(
    tools: &Tools,
    field: Field,
    job: u32,
    owner: u32,
    deadline: Instant,
) -> Result<Option<Current>, String> {
    let channel = Slurmdbd {
        tools,
        field,
        job: (job, Some(owner)),
    };
    Ok(channel.read(deadline)?.map(|found| found.current))
}

/// Merges `mine` (this node's lines of `job`) into the value `found`, and writes it. With
/// `verify`, reads it back after a pause and merges again if another writer replaced it
/// ([`ATTEMPTS`] in all); without, the caller knows no one else writes meanwhile.
pub fn merge_in(
    channel: &dyn Channel,
    job: u32,
    mine: &[JobRecord],
    found: Found,
    deadline: Instant,
    verify: bool,
) -> Result<Stored, String> {
    let Found {
        selector,
        mut current,
    } = found;
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
        let Some(merged) = value::merged(job, &before, mine, channel.max_value()) else {
            return Ok(Stored::Full);
        };
        let writing = Instant::now();
        channel.write(&selector, &merged, deadline)?;
        if !verify {
            return Ok(Stored::Written(1));
        }
        // A node of the same job that read before this write would have written within this
        // pause: twice what a write takes here, at least. Never past the deadline.
        let pause = pause(attempt).max(writing.elapsed() * 2);
        if deadline.saturating_duration_since(Instant::now()) < pause + READ_BACK_TIME {
            return Ok(Stored::Unverified);
        }
        std::thread::sleep(pause);
        current = channel
            .read(deadline)?
            .map_or(Current::Empty, |f| f.current);
        if value::holds(&current, mine) {
            return Ok(Stored::Written(attempt));
        }
    }
    Err(format!(
        "job {job}: other nodes kept replacing the value; this node's line is in its job log only"
    ))
}

/// What a read back needs at least, of what is left before the deadline.
const READ_BACK_TIME: Duration = Duration::from_millis(200);

/// 0.2 s to 1 s, different on each node, so that two nodes' retries drift apart.
fn pause(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % 800;
    Duration::from_millis(200 + u64::from(jitter) / u64::from(attempt.max(1)))
}

/// slurmdbd, through sacct and sacctmgr: job `job` (and its owner, where Slurm said).
struct Slurmdbd<'a> {
    tools: &'a Tools,
    field: Field,
    job: Owner,
}

/// A job id and, when Slurm said, the job's owner.
type Owner = (u32, Option<u32>);

impl Channel for Slurmdbd<'_> {
    /// The job's row, if accounting has the job. Only its own: `-j N` also lists the tasks of
    /// an array N and the components of a heterogeneous job N. A job of another owner under the
    /// same id (Slurm gave the id out again, and slurmdbd has not heard of this job yet) is not
    /// the job: `None`.
    fn read(&self, deadline: Instant) -> Result<Option<Found>, String> {
        let (job, owner) = self.job;
        let id = job.to_string();
        let format = format!("JobIDRaw,JobID,UID,{}", self.field.name());
        let args = ["-n", "-P", "-X", "-j", &id, "-o", &format];
        let out = run(&self.tools.sacct, &args, deadline, COMMAND_LIMIT)?;
        let rows = out.lines().filter(|line| !line.is_empty()).count();
        Ok(out.lines().find_map(|line| {
            let mut fields = line.splitn(4, '|');
            let (raw, shown, uid, text) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            (raw == id && owner.is_none_or(|owner| uid == owner.to_string())).then(|| Found {
                selector: selector(&id, shown, rows),
                current: Current::of(text),
            })
        }))
    }

    fn write(&self, selector: &str, value: &str, deadline: Instant) -> Result<(), String> {
        let job = format!("jobid={selector}");
        let set = format!("{}={value}", self.field.name());
        let args = ["-i", "modify", "job", "where", &job, "set", &set];
        run(&self.tools.sacctmgr, &args, deadline, COMMAND_LIMIT).map(drop)
    }
}

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
    // What the steps' ends stored through slurmctld is left alone (AdminComment only).
    let through_slurmctld = field == Field::AdminComment;
    let jobs = super::ctld::not_yet_stored(&config.spool_dir, jobs, through_slurmctld);
    if jobs.is_empty() {
        return Vec::new();
    }
    if !config.accounting_with_private_data
        && let Some(why) = jobs_kept_private()
    {
        return vec![(true, format!("accounting_field: not stored: {why}"))];
    }
    let dir = config.slurm_bin_dir.clone().or_else(command::default_dir);
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
    if let Some(why) = backoff::paused(&config.spool_dir, Service::Slurmdbd) {
        return vec![(true, format!("accounting_field: not stored: {why}"))];
    }
    let name = field.name();
    let outcomes = store(&tools, field, &jobs);
    if outcomes
        .iter()
        .any(|(_, o)| o.as_ref().is_err_and(|e| command::gave_no_answer(e)))
    {
        backoff::pause(&config.spool_dir, Service::Slurmdbd);
    }
    outcomes
        .into_iter()
        .map(|(job, outcome)| match outcome {
            Ok(Stored::Written(1)) => (false, format!("job {job}: line stored in {name}")),
            Ok(Stored::Written(n)) => (
                false,
                format!("job {job}: line stored in {name} (merged again {} time(s) after other nodes' writes)", n - 1),
            ),
            Ok(Stored::AlreadyThere) => (false, format!("job {job}: line already in {name}")),
            Ok(Stored::Unverified) => (
                false,
                format!("job {job}: line written in {name}, not read back (no time left)"),
            ),
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
}
