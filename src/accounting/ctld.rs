//! The step's end (`accounting_field=AdminComment`): after a step with something to say, the
//! node's job line so far goes into the job's AdminComment through slurmctld, while the job
//! still runs (`scontrol update`; slurmctld takes no update of a job that has ended).
//! slurmctld keeps the value on the job and hands it to slurmdbd with the job's completion
//! record, which makes no entry in slurmdbd's transaction log: unlike `sacctmgr modify job`
//! (the epilog's way, super::store), it is shown to no one Slurm's `PrivateData` would not show
//! the job to. The value goes to scontrol on its standard input, never on its command line,
//! which every user on the node can read. Where this fails (the job ended first, slurmctld too
//! slow), the epilog's way is left to try, where the site allows it.
//!
//! It holds up the step's end, so it is bounded: [`BUDGET`] in all, and only for a step whose
//! own outcome is worth telling, or the batch script's: one sacct read first (a value another
//! tool set in slurmdbd alone; at most 1 s, best effort), then squeue reads the field and the
//! job's node count, scontrol writes it, and on a job of several nodes (whose other nodes may
//! write meanwhile) squeue reads it back. The steps of one job on one node store one at a time
//! (a lock in the spool). A node whose slurmctld or slurmdbd gave no answer in time leaves it
//! alone for a while (super::backoff). scontrol runs in the job's memory cgroup (slurmstepd's):
//! a job close to its limit at the step's end is not written to, so that no task of the job is
//! killed for it (its other steps may still grow meanwhile: a small risk, said in the docs).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::backoff::{self, Service};
use super::command::{self, run, run_with_input};
use super::store::{self, Channel, Found, Message, Stored, merge_in, worth_storing};
use super::value::Current;
use super::{Field, value};
use crate::config::Config;
use crate::record::{self, JobRecord};
use crate::spool::Dir;
use crate::step::ArrayTask;

/// The step's end waits at most this long for slurmctld, lock included.
pub const BUDGET: Duration = Duration::from_secs(3);
/// One scontrol may take this long.
const COMMAND_LIMIT: Duration = Duration::from_secs(2);
/// The look in slurmdbd for another tool's value, this long.
const DBD_LOOK_LIMIT: Duration = Duration::from_secs(1);
/// The note of what the step's end stored is at most one job line.
const MAX_NOTE_BYTES: u64 = 1 << 20;
/// Room the job must have below its memory limit for scontrol and sacct to run in its cgroup.
const HEADROOM: u64 = 64 << 20;
/// scontrol built without readline reads input lines of less than 4096 bytes and would take a
/// longer one cut: the value written through it is at most this long (the update's own words
/// take the rest), its least telling lines left out (super::value::merged).
const MAX_VALUE: usize = 3968;

/// What Slurm told slurmstepd of the job whose step ended (never the job's environment).
#[derive(Debug, Clone)]
pub struct StepEnd {
    pub job: u32,
    pub array_task: Option<ArrayTask>,
    pub uid: u32,
    pub node: String,
    /// The batch script's step: the last on its node, which refreshes the stored line.
    pub batch: bool,
    /// How far the job's memory is below its limit now (None: no limit, or not known).
    pub headroom: Option<u64>,
}

/// Stores the node's line of `step`'s job through slurmctld, if `config` asks for it: what to
/// log (nothing for a site that does not store in the accounting, or for a line not worth it).
pub fn at_step_end(config: &Config, step: &StepEnd) -> Option<Message> {
    if config.accounting_field != Some(Field::AdminComment) {
        return None; // SystemComment: slurmctld takes no update of it; the epilog stores it
    }
    let started = Instant::now();
    let outcome = store_now(config, step, started + BUDGET);
    if let Err(e) = &outcome {
        backoff::pause_after(&config.spool_dir, Service::Slurmctld, e);
    }
    let (job, ms) = (step.job, started.elapsed().as_millis());
    let left = "left to the job epilog (which stores it through slurmdbd only where the site \
                allows that)";
    Some(match outcome {
        Ok(None) => return None,
        Ok(Some(Stored::Written(n))) => (
            false,
            format!(
                "job {job}: line stored in AdminComment through slurmctld in {ms} ms ({n} write(s))"
            ),
        ),
        Ok(Some(Stored::AlreadyThere)) => (
            false,
            format!("job {job}: line already in AdminComment ({ms} ms)"),
        ),
        Ok(Some(Stored::Unverified)) => (
            false,
            format!(
                "job {job}: line written in AdminComment through slurmctld in {ms} ms, not read \
                 back (no time left)"
            ),
        ),
        Ok(Some(Stored::Foreign)) => (
            true,
            format!(
                "job {job}: AdminComment holds another tool's value, left as it is (line in the \
                 job log only); give oom-explain SystemComment (accounting_field=)"
            ),
        ),
        Ok(Some(other)) => (
            true,
            format!("job {job}: not stored through slurmctld ({other:?}); {left}"),
        ),
        Err(e) => (
            true,
            format!(
                "job {job}: not stored through slurmctld at the step's end ({ms} ms): {e}; {left}"
            ),
        ),
    })
}

/// None when there is nothing (new) to store.
fn store_now(config: &Config, step: &StepEnd, deadline: Instant) -> Result<Option<Stored>, String> {
    let so_far = || {
        crate::journal::node_line_so_far(&config.spool_dir, step.job, &step.node)
            .map(|line| line.filter(worth_storing))
            .map_err(|e| e.to_string())
    };
    if so_far()?.is_none() {
        return Ok(None);
    }
    if step.headroom.is_some_and(|room| room < HEADROOM) {
        return Err(format!(
            "the job is within {} MiB of its memory limit, where scontrol would run",
            HEADROOM >> 20
        ));
    }
    if let Some(why) = backoff::paused(&config.spool_dir, Service::Slurmctld) {
        return Err(why);
    }
    let dir = config.slurm_bin_dir.clone().or_else(command::default_dir);
    let dir = dir.ok_or("cannot tell where scontrol is; set slurm_bin_dir")?;
    let scontrol = command::tool(&dir, "scontrol").map_err(|e| e.to_string())?;
    let squeue = command::tool(&dir, "squeue").map_err(|e| e.to_string())?;
    let dbd_tools = store::Tools::in_dir(&dir).map_err(|e| e.to_string())?;
    let spool = Dir::open(&config.spool_dir).map_err(|e| e.to_string())?;
    let wait = deadline.saturating_duration_since(Instant::now());
    let mut note = spool
        .lock(&note_name(step.job, &step.node), wait)
        .map_err(|e| e.to_string())?;
    // Again under the lock: a step of the job that ended meanwhile is in it now.
    let Some(mut line) = so_far()? else {
        return Ok(None);
    };
    // No names or partition here: a user-database lookup may block, and the job's own text is
    // the user's to set. The uid is Slurm's; readers add the rest from Slurm's accounting.
    line.origin.user = None;
    line.origin.partition = None;
    line.origin.uid = Some(step.uid);
    let mut noted = String::new();
    let _ = note.read_to_string(&mut noted);
    let stored_already = match step.batch {
        // The last step on its node: its figures too (peaks, kills, run time).
        true => noted == line.to_line(),
        false => value::tells_the_same(&noted, &line),
    };
    if stored_already {
        return Ok(None);
    }
    // A value another tool set through slurmdbd while the job runs: slurmctld does not know it,
    // and the job's completion record would replace it with ours. Looked for before slurmctld
    // is read, so that the read and the write stay close.
    if look_in_slurmdbd(config, &dbd_tools, step, deadline) == Some(Current::Foreign) {
        return Ok(Some(Stored::Foreign));
    }
    let channel = Slurmctld {
        squeue,
        scontrol,
        step: step.clone(),
    };
    let Queued { found, nodes } = channel.read_job(deadline)?;
    // On one node no other node writes the value meanwhile: no read back.
    let verify = nodes != 1;
    let mine = [line];
    let stored = merge_in(&channel, step.job, &mine, found, deadline, verify)?;
    // Not after an unverified write: another node may have replaced it; the epilog still may.
    if matches!(stored, Stored::Written(_) | Stored::AlreadyThere) {
        // For the next step and the epilog: this line is in the accounting already.
        let _ = write_note(&mut note, &mine[0]);
    }
    Ok(Some(stored))
}

/// What slurmdbd holds in the job's AdminComment: best effort, briefly ([`DBD_LOOK_LIMIT`]),
/// and not at all while slurmdbd is paused for having given no answer. slurmdbd slow or down
/// does not stop the write through slurmctld.
fn look_in_slurmdbd(
    config: &Config,
    tools: &store::Tools,
    step: &StepEnd,
    deadline: Instant,
) -> Option<Current> {
    if backoff::paused(&config.spool_dir, Service::Slurmdbd).is_some() {
        return None;
    }
    let soon = deadline.min(Instant::now() + DBD_LOOK_LIMIT);
    match store::in_slurmdbd(tools, Field::AdminComment, step.job, step.uid, soon) {
        Ok(found) => found,
        Err(e) => {
            backoff::pause_after(&config.spool_dir, Service::Slurmdbd, &e);
            None
        }
    }
}

/// The spool file that serialises the node's steps of `job` while they store, and then tells
/// the epilog which line is stored (not a record: its name does not end in `.json`).
fn note_name(job: u32, node: &str) -> String {
    format!("{job}.{}.accounting", record::name_part(node))
}

fn write_note(note: &mut File, line: &JobRecord) -> std::io::Result<()> {
    note.set_len(0)?;
    note.rewind()?;
    note.write_all(line.to_line().as_bytes())
}

/// The note a step's end left for `line`'s job on its node, taken: the epilog is the last to
/// look. Whether it says that what `line` (as the epilog merged it) tells is stored already.
fn take_note(spool: &Dir, line: &JobRecord) -> bool {
    let name = note_name(line.job, &line.origin.node);
    let noted = spool.read_capped(&name, MAX_NOTE_BYTES);
    let _ = spool.remove(&name);
    noted.is_ok_and(|bytes| value::tells_the_same(&String::from_utf8_lossy(&bytes), line))
}

/// The epilog's share of `jobs` (its job lines): those worth storing that no step's end stored
/// through slurmctld (`through_slurmctld`: the site's field is AdminComment). The steps' notes
/// are removed either way.
pub fn not_yet_stored(
    spool_dir: &Path,
    jobs: &[JobRecord],
    through_slurmctld: bool,
) -> Vec<JobRecord> {
    let spool = Dir::open(spool_dir).ok();
    jobs.iter()
        .filter(|line| {
            let stored = spool.as_ref().is_some_and(|spool| take_note(spool, line));
            worth_storing(line) && !(through_slurmctld && stored)
        })
        .cloned()
        .collect()
}

/// slurmctld: squeue reads the step's job, scontrol writes it.
struct Slurmctld {
    squeue: PathBuf,
    scontrol: PathBuf,
    step: StepEnd,
}

/// What squeue prints of a job: Slurm's ids, then the field last (it may hold anything an admin
/// put there, `|` included). Nothing of the job's own text (its name, command, comment), which
/// is the user's to fill: `scontrol show job` prints that beside the field, and a name holding
/// `AdminComment=…` could not be told apart from it.
const QUEUE_FORMAT: &str =
    "JobID:|,ArrayJobID:|,ArrayTaskID:|,HetJobID:|,HetJobOffset:|,NumNodes:|,admin_comment:0";

/// A job as squeue lists it: as found, and on how many nodes it runs.
struct Queued {
    found: Found,
    nodes: u32,
}

impl Slurmctld {
    /// The job as slurmctld has it: an array task by its `A_T`, which names it alone.
    fn read_job(&self, deadline: Instant) -> Result<Queued, String> {
        let name = match self.step.array_task {
            Some(task) => task.to_string(),
            None => self.step.job.to_string(),
        };
        let args = ["-h", "-j", &name, "-O", QUEUE_FORMAT];
        let out = run(&self.squeue, &args, deadline, COMMAND_LIMIT)?;
        parse_queue(&out, self.step.job)
    }
}

impl Channel for Slurmctld {
    fn read(&self, deadline: Instant) -> Result<Option<Found>, String> {
        self.read_job(deadline).map(|queued| Some(queued.found))
    }

    fn max_value(&self) -> usize {
        MAX_VALUE
    }

    fn write(&self, selector: &str, value: &str, deadline: Instant) -> Result<(), String> {
        let update = format!("update JobId={selector} AdminComment={value}\n");
        run_with_input(
            &self.scontrol,
            &[],
            update.as_bytes(),
            deadline,
            COMMAND_LIMIT,
        )
        .map(drop)
    }
}

/// Job `raw` in squeue's [`QUEUE_FORMAT`] output, and the exact name to update it by: `A_T` for
/// an array task, else its id. A heterogeneous job is left to the epilog (its leader's id
/// would update every component).
fn parse_queue(out: &str, raw: u32) -> Result<Queued, String> {
    let row = out
        .lines()
        .map(|line| line.splitn(7, '|').collect::<Vec<&str>>())
        .find(|f| f.len() == 7 && f[0].trim() == raw.to_string())
        .ok_or_else(|| format!("slurmctld lists no job {raw}"))?;
    fn set(field: &str) -> Option<&str> {
        Some(field.trim()).filter(|f| !f.is_empty() && *f != "N/A")
    }
    if set(row[3]).is_some() {
        return Err("a heterogeneous job's component".into());
    }
    let selector = match (set(row[1]), set(row[2])) {
        (Some(array), Some(task)) if task.parse::<u32>().is_ok() => format!("{array}_{task}"),
        (Some(_), Some(_)) => return Err("an array's pending tasks, not one job".into()),
        _ => raw.to_string(),
    };
    let nodes = row[5]
        .trim()
        .parse()
        .map_err(|_| format!("squeue's node count of job {raw}: {:?}", row[5]))?;
    // squeue prints an unset field as "(null)".
    let value = row[6].trim_end();
    let current = match value {
        "(null)" => Current::Empty,
        _ => Current::of(value),
    };
    Ok(Queued {
        found: Found {
            selector: Some(selector),
            current,
        },
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// squeue's answer on the lab (Slurm 22.05, two nodes): a job with our value set through
    /// scontrol (its name was "x AdminComment=oe1:7b7d y", which squeue does not print), two
    /// array tasks, and a two-node job waiting for its nodes.
    const QUEUE: &str = include_str!("../../tests/fixtures/squeue/admin-comment-22.05.txt");

    #[test]
    fn the_job_is_found_with_its_value_nodes_and_an_array_task_by_its_exact_name() {
        let job = parse_queue(QUEUE, 1).unwrap();
        assert_eq!(job.found.selector.as_deref(), Some("1"));
        assert_eq!(job.found.current, Current::of("oe1:abcd"));
        assert_eq!(job.nodes, 1);
        let task = parse_queue(QUEUE, 4).unwrap();
        assert_eq!(task.found.selector.as_deref(), Some("2_1"));
        assert_eq!(task.found.current, Current::Empty);
        assert_eq!(parse_queue(QUEUE, 3).unwrap().nodes, 2);
        // A job squeue did not list is not found under another's id.
        assert!(parse_queue(QUEUE, 5).is_err());
    }

    #[test]
    fn a_het_component_and_an_arrays_pending_tasks_are_left_to_the_epilog() {
        let component = QUEUE.replace("1|1|N/A|N/A|N/A|", "1|1|N/A|7|1|");
        assert!(parse_queue(&component, 1).is_err());
        let pending = QUEUE.replace("2|2|2|", "2|2|2-9|");
        assert!(parse_queue(&pending, 2).is_err());
    }

    #[test]
    fn another_tools_value_even_with_bars_or_spaces_is_foreign() {
        for value in [
            "JS1:H4sIAAAA",
            "oe1:7b7d and more",
            "a|b",
            "a note by the admin",
        ] {
            let shown = QUEUE.replace("oe1:abcd", value);
            assert_eq!(
                parse_queue(&shown, 1).unwrap().found.current,
                Current::Foreign,
                "{value}"
            );
        }
    }

    fn line(node: &str, cause: &str) -> JobRecord {
        let line = format!(
            r#"{{"schema":1,"job":41,"node":"{node}","user":"alice","uid":1001,"partition":"debug",
            "ended":1700000000,"cause":"{cause}","oom_kills":1,"peak":1,"limit":1,"elapsed_s":60,
            "recommendation":null,"recovered":false,"steps":[]}}"#
        );
        serde_json::from_str(&line.replace('\n', "")).unwrap()
    }

    fn leave_note(dir: &Dir, line: &JobRecord) {
        let mut note = dir
            .lock(&note_name(41, &line.origin.node), Duration::ZERO)
            .unwrap();
        write_note(&mut note, line).unwrap();
    }

    #[test]
    fn the_epilog_leaves_alone_only_what_a_step_end_stored_and_takes_every_note() {
        let spool = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
        let dir = Dir::open(spool.path()).unwrap();
        let stored = line("node1", "under-allocation");
        leave_note(&dir, &stored);
        leave_note(&dir, &line("node3", "none"));
        // node2 stored nothing, and a fine job is never stored.
        let jobs = [
            stored.clone(),
            line("node2", "near-miss"),
            line("node3", "none"),
        ];
        assert_eq!(not_yet_stored(spool.path(), &jobs, true), [jobs[1].clone()]);
        assert!(dir.names().unwrap().is_empty(), "every note is taken");
        // A note of a line that tells another outcome (a later step was killed) does not count.
        leave_note(&dir, &line("node1", "near-miss"));
        assert_eq!(
            not_yet_stored(spool.path(), &jobs[..1], true),
            std::slice::from_ref(&stored)
        );
        // Nor one left while the field was AdminComment, once the site chose SystemComment.
        leave_note(&dir, &stored);
        assert_eq!(not_yet_stored(spool.path(), &jobs[..1], false), [stored]);
        assert!(dir.names().unwrap().is_empty());
    }
}
