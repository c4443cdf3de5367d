//! The step's end (`accounting_field=AdminComment`): after a step with something to say, the
//! node's job line so far goes into the job's AdminComment through slurmctld, while the job
//! still runs (`scontrol update`; slurmctld takes no update of a job that has ended).
//! slurmctld keeps the value on the job and hands it to slurmdbd with the job's completion
//! record, which makes no entry in slurmdbd's transaction log: unlike `sacctmgr modify job`
//! (the epilog's way, super::store), it is shown to no one Slurm's `PrivateData` would not show
//! the job to. Where this fails (the job ended first, slurmctld too slow), the epilog's way is
//! left to try, where the site allows it.
//!
//! It holds up the step's end, so it is bounded: [`BUDGET`] in all, and only for a step whose
//! own outcome is worth telling: two or three scontrol calls (read, write, and on a job of
//! several nodes a read back) and one sacct read (a value another tool set in slurmdbd alone;
//! at most 1 s, and not needed for the write). A node whose slurmctld gave no answer in time
//! leaves it alone for a while (super::backoff). The steps of one job on one node store one at a time (a lock
//! in the spool); only a job on several nodes reads its value back after writing.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::backoff::{self, Service};
use super::command::{self, run};
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

/// What Slurm told slurmstepd of the job whose step ended (never the job's environment).
#[derive(Debug, Clone)]
pub struct StepEnd {
    pub job: u32,
    pub array_task: Option<ArrayTask>,
    pub uid: u32,
    pub node: String,
    /// The job's node count: on one node, no other node writes the value meanwhile.
    pub job_nodes: u32,
}

/// Stores the node's line of `step`'s job through slurmctld, if `config` asks for it: what to
/// log (nothing for a site that does not store in the accounting, or for a line not worth it).
pub fn at_step_end(config: &Config, step: &StepEnd) -> Option<Message> {
    if config.accounting_field != Some(Field::AdminComment) {
        return None; // SystemComment: slurmctld takes no update of it; the epilog stores it
    }
    let started = Instant::now();
    let deadline = started + BUDGET;
    let job = step.job;
    let outcome = store_now(config, step, deadline);
    if outcome.as_ref().is_err_and(|e| command::gave_no_answer(e)) {
        backoff::pause(&config.spool_dir, Service::Slurmctld);
    }
    let ms = started.elapsed().as_millis();
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
        Ok(Some(Stored::Foreign)) => (
            true,
            format!(
                "job {job}: AdminComment holds another tool's value, left as it is (line in the \
                 job log only); give oom-explain SystemComment (accounting_field=)"
            ),
        ),
        Ok(Some(other)) => (
            true,
            format!("job {job}: not stored through slurmctld ({other:?}); left to the epilog"),
        ),
        Err(e) => (
            true,
            format!(
                "job {job}: not stored through slurmctld at the step's end ({ms} ms): {e}; left \
                 to the epilog"
            ),
        ),
    })
}

/// None when there is nothing to store.
fn store_now(config: &Config, step: &StepEnd, deadline: Instant) -> Result<Option<Stored>, String> {
    let dir = config.slurm_bin_dir.clone().or_else(command::default_dir);
    let dir = dir.ok_or("cannot tell where scontrol is; set slurm_bin_dir")?;
    let scontrol = command::tool(&dir, "scontrol").map_err(|e| e.to_string())?;
    let dbd_tools = store::Tools::in_dir(&dir).map_err(|e| e.to_string())?;
    let spool = Dir::open(&config.spool_dir).map_err(|e| e.to_string())?;
    let wait = deadline.saturating_duration_since(Instant::now());
    let mut note = spool
        .lock(&note_name(step.job, &step.node), wait)
        .map_err(|e| e.to_string())?;
    let line = crate::journal::node_line_so_far(&config.spool_dir, step.job, &step.node)
        .map_err(|e| e.to_string())?;
    let Some(mut line) = line.filter(worth_storing) else {
        return Ok(None);
    };
    let mut noted = String::new();
    let _ = note.read_to_string(&mut noted);
    if value::tells_the_same(&noted, &line) {
        return Ok(None); // an earlier step stored what this line tells
    }
    if let Some(why) = backoff::paused(&config.spool_dir, Service::Slurmctld) {
        return Err(why);
    }
    let channel = Slurmctld {
        scontrol,
        step: step.clone(),
    };
    let Some((found, told)) = channel.read_job(deadline)? else {
        return Err("slurmctld knows no such job of this owner".into());
    };
    // slurmctld's word for the owner's name and the partition: no user-database lookup here
    // (it may block), and the job's environment is the user's to set.
    line.origin.user = told.user;
    line.origin.partition = told.partition;
    line.origin.uid = Some(step.uid);
    // A value another tool set through slurmdbd while the job runs: slurmctld does not know it,
    // and the job's completion record would replace it with ours.
    // Best effort, briefly: slurmdbd slow or down does not stop the write through slurmctld.
    let soon = deadline.min(Instant::now() + DBD_LOOK_LIMIT);
    let in_dbd = store::in_slurmdbd(&dbd_tools, Field::AdminComment, step.job, step.uid, soon);
    if matches!(in_dbd, Ok(Some(Current::Foreign))) {
        return Ok(Some(Stored::Foreign));
    }
    let mine = [line];
    let verify = step.job_nodes > 1;
    let stored = merge_in(&channel, step.job, &mine, found, deadline, verify)?;
    if matches!(stored, Stored::Written(_) | Stored::AlreadyThere) {
        // For the epilog: this line is in the accounting already.
        let _ = write_note(&mut note, &mine[0]);
    }
    Ok(Some(stored))
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

/// Whether a step's end already stored what `line` (as the epilog merged it) tells, through
/// slurmctld, by the note it left in `spool_dir`. The note is removed: the epilog is the last
/// to look.
pub fn stored_at_step_end(spool_dir: &Path, line: &JobRecord) -> bool {
    let Ok(spool) = Dir::open(spool_dir) else {
        return false;
    };
    let name = note_name(line.job, &line.origin.node);
    let Ok(bytes) = spool.read_capped(&name, MAX_NOTE_BYTES) else {
        return false;
    };
    let _ = spool.remove(&name);
    value::tells_the_same(&String::from_utf8_lossy(&bytes), line)
}

/// What slurmctld says of the job besides its field.
#[derive(Debug, Default, PartialEq)]
struct Told {
    user: Option<String>,
    partition: Option<String>,
}

/// slurmctld, through scontrol: the step's job.
struct Slurmctld {
    scontrol: PathBuf,
    step: StepEnd,
}

impl Slurmctld {
    /// The job as slurmctld has it: an array task by its `A_T`, which names it alone.
    fn read_job(&self, deadline: Instant) -> Result<Option<(Found, Told)>, String> {
        let name = match self.step.array_task {
            Some(task) => task.to_string(),
            None => self.step.job.to_string(),
        };
        let args = ["-o", "show", "job", &name];
        let out = run(&self.scontrol, &args, deadline, COMMAND_LIMIT)?;
        Ok(parse_show_job(&out, self.step.job, self.step.uid))
    }
}

impl Channel for Slurmctld {
    fn read(&self, deadline: Instant) -> Result<Option<Found>, String> {
        Ok(self.read_job(deadline)?.map(|(found, _)| found))
    }

    fn write(&self, selector: &str, value: &str, deadline: Instant) -> Result<(), String> {
        let job = format!("JobId={selector}");
        let set = format!("AdminComment={value}");
        let args = ["update", &job, &set];
        run(&self.scontrol, &args, deadline, COMMAND_LIMIT).map(drop)
    }
}

/// The record of job `raw` owned by `uid` in `scontrol -o show job` output (one line per job:
/// a heterogeneous job's leader lists every component), and the exact name to update it by:
/// `A_T` for an array task, `N+O` for a component (a bare leader id would update them all),
/// else the id.
fn parse_show_job(out: &str, raw: u32, uid: u32) -> Option<(Found, Told)> {
    let line = out
        .lines()
        .find(|line| field(line, "JobId") == Some(raw.to_string().as_str()))?;
    let owner = field(line, "UserId")?;
    let owner_uid = owner.rsplit_once('(')?.1.trim_end_matches(')');
    if owner_uid != uid.to_string() {
        return None;
    }
    let selector = match (
        field(line, "ArrayJobId").zip(field(line, "ArrayTaskId")),
        field(line, "HetJobId").zip(field(line, "HetJobOffset")),
    ) {
        (Some((array, task)), _) if task.parse::<u32>().is_ok() => format!("{array}_{task}"),
        (Some(_), _) => return None, // an array's pending tasks, not one job
        (None, Some((leader, offset))) => format!("{leader}+{offset}"),
        (None, None) => raw.to_string(),
    };
    let user = owner.split_once('(').map(|(name, _)| name.to_owned());
    let told = Told {
        user: user.filter(|u| !u.is_empty()),
        partition: field(line, "Partition").map(str::to_owned),
    };
    let found = Found {
        selector: Some(selector),
        current: Current::of(field(line, "AdminComment").unwrap_or("")),
    };
    Some((found, told))
}

/// The value of `key` in one `scontrol -o` line: from `key=` to the next ` Key=` (a value may
/// hold spaces; ours never does).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line
        .match_indices(&format!("{key}="))
        .find(|(at, _)| *at == 0 || line.as_bytes()[at - 1] == b' ')?
        .0
        + key.len()
        + 1;
    let rest = &line[start..];
    let end = rest
        .match_indices(' ')
        .map(|(at, _)| at)
        .find(|&at| starts_a_field(&rest[at + 1..]))
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end())
}

/// `Key=…` (or `AllocNode:Sid=…`) as scontrol starts each field.
fn starts_a_field(text: &str) -> bool {
    let Some((key, _)) = text.split_once('=') else {
        return false;
    };
    key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_' || c == '/')
}

/// The epilog's share when the step's end stored through slurmctld: the lines it stored are
/// left alone (their note says so); the others go the epilog's way, where the site allows.
pub fn not_yet_stored(spool_dir: &Path, jobs: &[JobRecord]) -> Vec<JobRecord> {
    jobs.iter()
        .filter(|line| store::worth_storing(line) && !stored_at_step_end(spool_dir, line))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scontrol -o show job` of a running job on Slurm 22.05 (the lab), shortened.
    const SHOWN: &str = "JobId=41 JobName=grow UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A Priority=1 Nice=0 Account=lab QOS=normal JobState=RUNNING Reason=None Dependency=(null) Partition=debug AllocNode:Sid=localhost:123 AdminComment=oe1:7b7d Comment=keep this Command=/home/alice/job.sh";

    #[test]
    fn the_job_is_found_with_its_owner_partition_and_value() {
        let (found, told) = parse_show_job(SHOWN, 41, 1001).unwrap();
        assert_eq!(found.selector.as_deref(), Some("41"));
        assert_eq!(found.current, Current::Ours("{}".into()));
        assert_eq!(told.user.as_deref(), Some("alice"));
        assert_eq!(told.partition.as_deref(), Some("debug"));
        assert_eq!(field(SHOWN, "Comment"), Some("keep this"));
        // Another owner under the id, or another job: not ours to write.
        assert!(parse_show_job(SHOWN, 41, 1002).is_none());
        assert!(parse_show_job(SHOWN, 4, 1001).is_none());
    }

    #[test]
    fn an_array_task_and_a_het_component_are_named_exactly() {
        let task = SHOWN.replace("JobId=41 ", "JobId=41 ArrayJobId=38 ArrayTaskId=3 ");
        let (found, _) = parse_show_job(&task, 41, 1001).unwrap();
        assert_eq!(found.selector.as_deref(), Some("38_3"));
        let pending = SHOWN.replace("JobId=41 ", "JobId=41 ArrayJobId=41 ArrayTaskId=4-9 ");
        assert!(parse_show_job(&pending, 41, 1001).is_none());
        // A leader lists all its components; each is updated by its own name.
        let leader = SHOWN.replace("JobId=41 ", "JobId=41 HetJobId=41 HetJobOffset=0 ");
        let other = SHOWN.replace("JobId=41 ", "JobId=42 HetJobId=41 HetJobOffset=1 ");
        let both = format!("{leader}\n{other}\n");
        let (found, _) = parse_show_job(&both, 42, 1001).unwrap();
        assert_eq!(found.selector.as_deref(), Some("41+1"));
        let (found, _) = parse_show_job(&both, 41, 1001).unwrap();
        assert_eq!(found.selector.as_deref(), Some("41+0"));
    }

    fn line(node: &str, cause: &str) -> JobRecord {
        let line = format!(
            r#"{{"schema":1,"job":41,"node":"{node}","user":"alice","uid":1001,"partition":"debug",
            "ended":1700000000,"cause":"{cause}","oom_kills":1,"peak":1,"limit":1,"elapsed_s":60,
            "recommendation":null,"recovered":false,"steps":[]}}"#
        );
        serde_json::from_str(&line.replace('\n', "")).unwrap()
    }

    #[test]
    fn the_epilog_leaves_alone_only_the_line_the_step_end_stored() {
        let spool = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
        let dir = Dir::open(spool.path()).unwrap();
        let stored = line("node1", "under-allocation");
        let mut note = dir.lock(&note_name(41, "node1"), Duration::ZERO).unwrap();
        write_note(&mut note, &stored).unwrap();
        drop(note);
        // node2 stored nothing, and a fine job is never stored.
        let jobs = [
            stored.clone(),
            line("node2", "near-miss"),
            line("node3", "none"),
        ];
        let left = not_yet_stored(spool.path(), &jobs);
        assert_eq!(left, [jobs[1].clone()]);
        assert!(dir.names().unwrap().is_empty(), "the note is taken");
        // A note of a line that tells another outcome (a later step was killed) does not count.
        let mut note = dir.lock(&note_name(41, "node1"), Duration::ZERO).unwrap();
        write_note(&mut note, &line("node1", "near-miss")).unwrap();
        drop(note);
        assert_eq!(not_yet_stored(spool.path(), &jobs[..1]), [stored]);
    }

    #[test]
    fn another_tools_value_even_with_spaces_is_foreign() {
        for value in ["JS1:H4sIAAAA", "oe1:7b7d and more", "a note by the admin"] {
            let shown = SHOWN.replace("AdminComment=oe1:7b7d", &format!("AdminComment={value}"));
            let (found, _) = parse_show_job(&shown, 41, 1001).unwrap();
            assert_eq!(found.current, Current::Foreign, "{value}");
        }
        let unset = SHOWN.replace("AdminComment=oe1:7b7d ", "");
        let (found, _) = parse_show_job(&unset, 41, 1001).unwrap();
        assert_eq!(found.current, Current::Empty);
    }
}
