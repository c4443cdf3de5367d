//! Records for admins and for the `oom-explain` command (schema in docs/records.md).
//!
//! Each analysed step leaves a [`StepRecord`] in the node's spool; the job epilog merges a job's
//! step records on that node into one [`JobRecord`], one JSON line in the node's job log. A job
//! that ran on several nodes has one line per node; readers merge them by job id.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::PathBuf;

use crate::classify::Cause;
use crate::recommend::{Certainty, Recommendation};
use crate::report::StepReport;
use crate::size::human;
use crate::step::{ArrayTask, MemoryRequest, StepContext};

/// The version of both record kinds; readers skip records of a schema they do not know.
pub const SCHEMA: u32 = 1;

/// Now, in Unix seconds: the records' clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a recorded cause id is a kill (an id this version does not know counts as one).
pub fn is_kill(cause: &str) -> bool {
    Cause::from_id(cause).is_none_or(Cause::is_kill)
}

/// Who ran the step and where: what the FFI layer learns from Slurm and the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub node: String,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub partition: Option<String>,
}

/// How much a job's outcome matters, the most first: a kill, a near miss, an over-request,
/// then the rest (`none`). A job's line names its worst step's cause.
pub fn outcome_rank(cause: &str) -> u8 {
    match cause {
        _ if is_kill(cause) => 0,
        "near-miss" => 1,
        "over-request" => 2,
        _ => 3,
    }
}

/// The user name of `uid`, from the system's user database: identity comes from Slurm's uid,
/// never from the job's environment (which the user controls, and which Slurm does not always
/// fill in time for the batch step).
pub fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// `<job>.<step>.<node>.<end>.json`: the name of a file about one step on one node (a spool
/// record, an evidence record). The node (several slurmd may share a host) and the end time (a
/// requeued job runs the same step on the same node again) keep names apart; the node's name is
/// kept to letters, digits and `-`.
pub fn file_name(job: u32, step: &str, node: &str, ended: u64) -> String {
    format!("{job}.{step}.{}.{ended}.json", name_part(node))
}

/// A node's name as a part of a file name: letters, digits and `-`; anything else `_`.
pub fn name_part(node: &str) -> String {
    node.chars()
        .map(|c| match c.is_ascii_alphanumeric() || c == '-' {
            true => c,
            false => '_',
        })
        .collect()
}

/// Memory asked for and never used, in GiB-hours: what the limit left above the peak, for as
/// long as the job ran (the cluster report and the Prometheus counters count the same).
pub fn unused_gib_hours(peak: Option<u64>, limit: Option<u64>, secs: Option<u64>) -> Option<f64> {
    const GIB: f64 = (1u64 << 30) as f64;
    let (peak, limit, secs) = (peak?, limit?, secs?);
    Some(limit.saturating_sub(peak) as f64 / GIB * secs as f64 / 3600.0)
}

/// The record in a job log line: the line itself, or what follows a syslog prefix
/// (`Nov 30 10:05:01 node1 oom-explain[42]: {…}`, where a site collects `job_log=syslog`).
pub fn json_of(line: &str) -> &str {
    line.find('{').map_or(line, |start| &line[start..])
}

/// A job log line read for a listing or a report: only the fields they need, borrowed; serde
/// skips the rest (the steps) without building them, which keeps a pass over a large log fast.
#[derive(Deserialize)]
pub struct JobLine<'a> {
    pub schema: u32,
    pub job: u32,
    #[serde(borrow)]
    pub node: Cow<'a, str>,
    #[serde(borrow, default)]
    pub user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub partition: Option<Cow<'a, str>>,
    #[serde(default)]
    pub uid: Option<u32>,
    pub ended: u64,
    #[serde(borrow)]
    pub cause: Cow<'a, str>,
    #[serde(default)]
    pub peak: Option<u64>,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub elapsed_s: Option<u64>,
    #[serde(borrow, default)]
    pub recommendation: Option<RecommendedLine<'a>>,
    #[serde(default)]
    pub array_job_id: Option<u32>,
    #[serde(default)]
    pub array_task_id: Option<u32>,
}

/// The pasteable line of a [`JobLine`]'s recommendation.
#[derive(Deserialize)]
pub struct RecommendedLine<'a> {
    #[serde(borrow)]
    pub line: Cow<'a, str>,
}

/// What was recommended, as the report gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRecommendation {
    /// The line to paste, e.g. `#SBATCH --mem=620M`.
    pub line: String,
    /// The whole request on the node, in bytes.
    pub bytes: u64,
    /// "measured", "estimated" or "at-least".
    pub certainty: String,
    /// More memory is only a stop-gap for this cause.
    pub stop_gap: bool,
}

impl From<&Recommendation> for RecordedRecommendation {
    fn from(r: &Recommendation) -> Self {
        RecordedRecommendation {
            line: r.sbatch_line(),
            bytes: r.bytes,
            certainty: match r.basis.certainty() {
                Certainty::Measured => "measured",
                Certainty::Estimated => "estimated",
                Certainty::AtLeast => "at-least",
            }
            .into(),
            stop_gap: r.stop_gap,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub schema: u32,
    pub job: u32,
    /// For an array task (`1234_5`): the array's job id (1234) and the task's index (5), from
    /// slurmstepd. Absent for other jobs, and in records written before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_job_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<u32>,
    /// `batch`, `extern`, `interactive` or the srun step number.
    pub step: String,
    #[serde(flatten)]
    pub origin: Origin,
    /// When the step ended (Unix seconds) and how long it ran.
    pub ended: u64,
    pub elapsed_s: Option<u64>,
    /// `cgroup v1` or `cgroup v2`.
    pub cgroup: String,
    /// The job's cgroup directory while it ran. A later epilog takes this record as a leftover
    /// (its own job's epilog never ran) only once that directory is gone.
    pub job_cgroup: Option<PathBuf>,
    /// The user gave `--oom-explain` (the report went to the job's stderr).
    pub opted_in: bool,
    pub cause: String,
    pub secondary: Option<String>,
    pub oom_kills: u64,
    pub peak: Option<u64>,
    pub limit: Option<u64>,
    pub job_peak: Option<u64>,
    pub job_limit: Option<u64>,
    pub request: Option<MemoryRequest>,
    pub recommendation: Option<RecordedRecommendation>,
    /// The report as the job's stderr got it (for a step that did not opt in: as it would have).
    /// Empty when all was well.
    pub report: Vec<String>,
}

impl StepRecord {
    /// `text` is the report as rendered for the step ([`StepReport::text`]); it is kept only
    /// when there was something to report.
    pub fn new(
        report: &StepReport,
        context: &StepContext,
        origin: Origin,
        job_cgroup: Option<PathBuf>,
        opted_in: bool,
        ended: u64,
        text: Vec<String>,
    ) -> Self {
        let d = &report.diagnosis;
        let lines = if d.cause == Cause::None {
            Vec::new()
        } else {
            text
        };
        StepRecord {
            schema: SCHEMA,
            job: context.id.job,
            array_job_id: context.array_task.map(|a| a.job),
            array_task_id: context.array_task.map(|a| a.task),
            step: context
                .id
                .step
                .dir_name()
                .trim_start_matches("step_")
                .to_owned(),
            origin,
            ended,
            elapsed_s: context.elapsed.map(|e| e.as_secs()),
            cgroup: report.snapshot.version.name().into(),
            job_cgroup,
            opted_in,
            cause: d.cause.id().into(),
            secondary: d.secondary.map(|c| c.id().into()),
            oom_kills: d.oom_kills,
            peak: d.peak,
            limit: d.limit,
            job_peak: d.job_peak,
            job_limit: d.job_limit,
            request: context.request,
            recommendation: report.recommendation.as_ref().map(Into::into),
            report: lines,
        }
    }

    /// The spool file name ([`file_name`]).
    pub fn file_name(&self) -> String {
        file_name(self.job, &self.step, &self.origin.node, self.ended)
    }

    pub fn array_task(&self) -> Option<ArrayTask> {
        ArrayTask::from_parts(self.array_job_id, self.array_task_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub schema: u32,
    pub job: u32,
    /// As in its step records (from the batch script's, if it has them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_job_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<u32>,
    #[serde(flatten)]
    pub origin: Origin,
    /// When the last step ended (Unix seconds).
    pub ended: u64,
    /// The job's outcome on this node: the first killed step's cause, else a near miss, else
    /// an over-request, else `none`.
    pub cause: String,
    pub oom_kills: u64,
    /// The job's peak and limit on this node.
    pub peak: Option<u64>,
    pub limit: Option<u64>,
    /// The longest step's run time (the batch script's, on the first node).
    pub elapsed_s: Option<u64>,
    /// The recommendation of the step that gave the cause.
    pub recommendation: Option<RecordedRecommendation>,
    /// Picked up by a later job's epilog, because this job's own epilog never ran here.
    pub recovered: bool,
    pub steps: Vec<StepRecord>,
}

impl JobRecord {
    /// Merges one job's step records from one node (at least one).
    pub fn merge(mut steps: Vec<StepRecord>, recovered: bool) -> Option<JobRecord> {
        steps.sort_by(|a, b| (a.ended, &a.step).cmp(&(b.ended, &b.step)));
        let first = steps.first()?;
        let main = steps
            .iter()
            .min_by_key(|s| outcome_rank(&s.cause))
            .expect("not empty");
        let max = |f: fn(&StepRecord) -> Option<u64>| steps.iter().filter_map(f).max();
        let array = array_step(&steps).and_then(StepRecord::array_task);
        Some(JobRecord {
            schema: SCHEMA,
            job: first.job,
            array_job_id: array.map(|a| a.job),
            array_task_id: array.map(|a| a.task),
            origin: first.origin.clone(),
            ended: steps.iter().map(|s| s.ended).max().unwrap_or(0),
            cause: main.cause.clone(),
            oom_kills: steps.iter().fold(0, |n, s| n.saturating_add(s.oom_kills)),
            peak: max(|s| s.job_peak.or(s.peak)),
            limit: max(|s| s.job_limit.or(s.limit)),
            elapsed_s: max(|s| s.elapsed_s),
            recommendation: main.recommendation.clone(),
            recovered,
            steps,
        })
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("plain data always serializes")
    }

    /// The line, at most `cap` bytes where a transport has a limit (syslog): a larger record
    /// keeps only its steps that have something to say, then only the step that gave the
    /// job's cause, then none (the job's own figures and advice always stay).
    pub fn to_line_within(&self, cap: usize) -> String {
        let line = self.to_line();
        if line.len() <= cap {
            return line;
        }
        let mut shrunk = self.clone();
        shrunk
            .steps
            .retain(|s| !s.report.is_empty() || s.cause != "none");
        let line = shrunk.to_line();
        if line.len() <= cap {
            return line;
        }
        let main = shrunk.steps.iter().position(|s| s.cause == self.cause);
        shrunk.steps = main
            .map(|i| shrunk.steps.swap_remove(i))
            .into_iter()
            .collect();
        let line = shrunk.to_line();
        if line.len() <= cap {
            return line;
        }
        shrunk.steps.clear();
        shrunk.to_line()
    }

    /// When its first step began on this node, as far as the steps say (Unix seconds).
    pub fn began(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| s.ended.saturating_sub(s.elapsed_s.unwrap_or(0)))
            .min()
            .unwrap_or(self.ended)
    }

    pub fn array_task(&self) -> Option<ArrayTask> {
        ArrayTask::from_parts(self.array_job_id, self.array_task_id)
    }
}

/// The step whose array ids the job's line carries: the batch script's only. Slurm gives them
/// to it from the job itself; an srun step's come from the step's environment
/// (`SLURM_ARRAY_*`, slurmstepd_job.c), which its user controls. A node without the batch step
/// leaves them out: the command finds that node's line by the raw job id.
fn array_step(steps: &[StepRecord]) -> Option<&StepRecord> {
    steps
        .iter()
        .find(|s| s.step == "batch" && s.array_task().is_some())
}

/// One line for admins about a job's record (slurmd's log, `oom-explain report`).
pub fn job_summary(r: &JobRecord) -> String {
    let who = match (&r.origin.user, &r.origin.partition) {
        (Some(u), Some(p)) => format!(" (user {u}, partition {p})"),
        (Some(u), None) => format!(" (user {u})"),
        _ => String::new(),
    };
    let use_ = match (r.peak, r.limit) {
        (Some(p), Some(l)) => format!(", peak {} of {}", human(p), human(l)),
        (Some(p), None) => format!(", peak {}", human(p)),
        _ => String::new(),
    };
    let kills = match r.oom_kills {
        0 => String::new(),
        1 => ", 1 OOM kill".into(),
        n => format!(", {n} OOM kills"),
    };
    let advice = r
        .recommendation
        .as_ref()
        .map(|a| format!("; recommended {}", a.line))
        .unwrap_or_default();
    let recovered = if r.recovered {
        " (recovered: its own epilog never ran here)"
    } else {
        ""
    };
    let array = r
        .array_task()
        .map(|task| format!(" (array task {task})"))
        .unwrap_or_default();
    format!(
        "job {}{array} on {}{who}: {}{kills}{use_}{advice}; {} step(s){recovered}",
        r.job,
        r.origin.node,
        r.cause,
        r.steps.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: &str, cause: &str, array: Option<(u32, u32)>) -> StepRecord {
        StepRecord {
            schema: SCHEMA,
            job: 2003,
            array_job_id: array.map(|a| a.0),
            array_task_id: array.map(|a| a.1),
            step: step.into(),
            origin: Origin {
                node: "node1".into(),
                ..Origin::default()
            },
            ended: 1_795_000_000,
            elapsed_s: None,
            cgroup: "cgroup v2".into(),
            job_cgroup: None,
            opted_in: true,
            cause: cause.into(),
            secondary: None,
            oom_kills: 0,
            peak: None,
            limit: None,
            job_peak: None,
            job_limit: None,
            request: None,
            recommendation: None,
            report: Vec::new(),
        }
    }

    #[test]
    fn a_jobs_line_carries_the_array_task_of_its_batch_step() {
        // An srun step's ids come from its environment: the batch script's are Slurm's own.
        let steps = vec![
            step("0", "none", Some((1, 9))),
            step("batch", "near-miss", Some((2000, 3))),
        ];
        let job = JobRecord::merge(steps, false).unwrap();
        assert_eq!(
            job.array_task().map(|a| a.to_string()).as_deref(),
            Some("2000_3")
        );
        assert_eq!(job.cause, "near-miss");
        assert!(job_summary(&job).starts_with("job 2003 (array task 2000_3) on node1: near-miss"));
        let plain = JobRecord::merge(vec![step("batch", "none", None)], false).unwrap();
        assert_eq!(plain.array_task(), None);
        // A job that is no array, whose srun step says it is one (SLURM_ARRAY_* set by its
        // user), and a node that ran only srun steps: no array ids.
        for steps in [
            vec![step("batch", "none", None), step("0", "none", Some((7, 1)))],
            vec![step("0", "none", Some((7, 1)))],
        ] {
            let job = JobRecord::merge(steps, false).unwrap();
            assert_eq!(job.array_task(), None);
        }
    }

    #[test]
    fn array_fields_are_left_out_when_unknown_and_older_records_still_read() {
        let line = JobRecord::merge(vec![step("batch", "none", None)], false)
            .unwrap()
            .to_line();
        assert!(!line.contains("array_"), "{line}");
        let read: JobRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(read.array_job_id, None);
        let task = step("batch", "none", Some((2000, 0)));
        let json = serde_json::to_string(&task).unwrap();
        assert!(
            json.contains(r#""array_job_id":2000,"array_task_id":0"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<StepRecord>(&json).unwrap(), task);
    }

    #[test]
    fn outcomes_rank_kills_first() {
        assert!(outcome_rank("tmpfs") < outcome_rank("near-miss"));
        assert!(outcome_rank("near-miss") < outcome_rank("over-request"));
        assert!(outcome_rank("over-request") < outcome_rank("none"));
        assert_eq!(outcome_rank("a-cause-of-a-newer-version"), 0);
    }

    #[test]
    fn a_user_name_comes_from_the_uid() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(4_000_000_000), None);
    }
}
