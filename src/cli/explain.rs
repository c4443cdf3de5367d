//! `oom-explain JOBID...`: each job explained in turn, from its records, else from what Slurm's
//! accounting (sacct) knows. Every log is read once for all the jobs (twice when sacct names
//! array tasks the first pass did not look for).

use std::cell::{Cell, OnceCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::cluster::{self, Cluster};
use super::jobs::JobRef;
use super::logs::LogFiles;
use super::output::{Stop, Streams};
use crate::access::Viewer;
use crate::history::{self, Wanted};
use crate::next_request::NextRequest;
use crate::record::JobRecord;
use crate::sacct::{self, SacctJobId, SacctRow};
use crate::slurm::SlurmRelease;

/// Explains `jobs` in turn. Status 0 when every one was explained, else 1.
pub fn run(
    jobs: &[JobRef],
    logs: &[PathBuf],
    json: bool,
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> Result<ExitCode, Stop> {
    // The same id twice is explained once.
    let mut unique: Vec<JobRef> = Vec::new();
    for job in jobs {
        if !unique.contains(job) {
            unique.push(job.clone());
        }
    }
    let jobs = unique.as_slice();
    let logs = LogFiles::readable(logs, streams)?;
    let mut wanted = Wanted::default();
    jobs.iter().for_each(|job| job.add_to(&mut wanted));
    let viewer = OnceCell::new();
    let mut hidden = Hidden::default();
    let mut records = hidden.split(history::find_jobs(&logs.files, &wanted)?, &viewer, cluster);
    let sources: Vec<Source> = jobs
        .iter()
        .map(|job| Source::of(job, &records, cluster))
        .collect();
    // Records written before array tasks were recorded know a task only by its raw id.
    let raw_ids: BTreeSet<u32> = sources
        .iter()
        .flat_map(Source::sacct_raw_ids)
        .filter(|raw| !wanted.jobs.contains(raw))
        .collect();
    if !raw_ids.is_empty() && !logs.files.is_empty() {
        let by_raw_id = Wanted {
            jobs: raw_ids,
            ..Wanted::default()
        };
        let found = history::find_jobs(&logs.files, &by_raw_id)?;
        records.extend(hidden.split(found, &viewer, cluster));
    }
    let explainer = Explainer::new(records, logs, json, cluster);
    let mut all_explained = true;
    for (job, source) in jobs.iter().zip(&sources) {
        if let Some(why) = hidden.of(job) {
            streams.warn(&format!(
                "job {job}: the records here are not yours to see ({why}); asking Slurm's \
                 accounting instead"
            ));
        }
        all_explained &= explainer.explain(job, source, streams)?;
    }
    Ok(match all_explained {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

/// The records the caller may not see (another user's, where Slurm keeps jobs private): left
/// out before anything is decided, so that such a record never stands in for the caller's own
/// job of the same id (Slurm gave the id out again); Slurm's accounting answers instead.
#[derive(Default)]
struct Hidden {
    records: Vec<JobRecord>,
    why: &'static str,
}

impl Hidden {
    /// The records `viewer` (asked of Slurm once, only when there are records) may see; keeps
    /// the others.
    fn split(
        &mut self,
        found: Vec<JobRecord>,
        viewer: &OnceCell<Viewer>,
        cluster: &dyn Cluster,
    ) -> Vec<JobRecord> {
        if found.is_empty() {
            return found;
        }
        let viewer = viewer.get_or_init(|| cluster.viewer());
        let (visible, hidden): (Vec<_>, Vec<_>) = found
            .into_iter()
            .partition(|r| viewer.may_see(r.origin.uid));
        if !hidden.is_empty() {
            self.why = match viewer.slurm_asked {
                true => "this cluster keeps jobs private: PrivateData=jobs",
                false => "Slurm could not be asked who may see other users' jobs",
            };
        }
        self.records.extend(hidden);
        visible
    }

    /// Why `job`'s records were left out, if they were.
    fn of(&self, job: &JobRef) -> Option<&'static str> {
        self.records
            .iter()
            .any(|r| job.matches(r))
            .then_some(self.why)
    }
}

/// Where a job's explanation comes from.
enum Source {
    /// Its records.
    Records,
    /// It has no record under the id given: the jobs sacct knows under it (an array job's
    /// tasks, with their raw ids), or why sacct could not say.
    Sacct(Result<Vec<SacctJobId>, String>),
}

impl Source {
    /// What `--json` says a job's lines came from: the job logs, or Slurm's accounting field.
    const RECORDS: &'static str = "records";
    const ACCOUNTING: &'static str = "accounting";

    fn of(job: &JobRef, records: &[JobRecord], cluster: &dyn Cluster) -> Source {
        match records.iter().any(|r| job.matches(r)) {
            true => Source::Records,
            false => Source::Sacct(cluster::job_ids(cluster, &job.to_string())),
        }
    }

    fn sacct_raw_ids(&self) -> Vec<u32> {
        match self {
            Source::Sacct(Ok(ids)) => ids.iter().map(|id| id.raw).collect(),
            _ => Vec::new(),
        }
    }
}

/// One JSON document per job (per array task), one after another.
#[derive(Serialize)]
struct Explained<'a> {
    /// The raw job id, as records carry it; null for a job nobody knows.
    job: Option<u32>,
    /// As Slurm shows it: `1234`, or `1234_5` for an array task.
    id: String,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<&'a [JobRecord]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sacct: Option<&'a [SacctRow]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a [String]>,
    /// What to ask for next time, for programs (workflow engines' retries): null when the job
    /// needs no change of its request, or nothing tells what it should be.
    next_request: Option<NextRequest>,
}

struct Explainer<'a> {
    records: Vec<JobRecord>,
    logs: LogFiles,
    json: bool,
    cluster: &'a dyn Cluster,
    release: OnceCell<Option<SlurmRelease>>,
    viewer: OnceCell<Viewer>,
    /// Something was printed: the next explanation is set apart by a blank line.
    printed: Cell<bool>,
}

impl<'a> Explainer<'a> {
    fn new(records: Vec<JobRecord>, logs: LogFiles, json: bool, cluster: &'a dyn Cluster) -> Self {
        Explainer {
            records,
            logs,
            json,
            cluster,
            release: OnceCell::new(),
            viewer: OnceCell::new(),
            printed: Cell::new(false),
        }
    }

    /// Whether the job was explained.
    fn explain(&self, job: &JobRef, source: &Source, streams: &mut Streams) -> Result<bool, Stop> {
        match source {
            Source::Records => {
                let own = self.records.iter().filter(|r| job.matches(r));
                self.shown_records(own.collect(), streams)
            }
            Source::Sacct(Err(why)) => {
                streams.warn(&format!(
                    "job {job}: no record in {}, and {why}",
                    self.logs.looked_in()
                ));
                Ok(false)
            }
            Source::Sacct(Ok(ids)) if ids.is_empty() => {
                let text = sacct::explain(&job.to_string(), &[], None);
                let raw = match job {
                    JobRef::Job(id) => Some(*id),
                    _ => None,
                };
                self.print(streams, raw, &job.to_string(), &text, &[])?;
                Ok(false)
            }
            Source::Sacct(Ok(ids)) => {
                let mut explained = true;
                for id in ids {
                    explained &= self.by_sacct_id(id, streams)?;
                }
                Ok(explained)
            }
        }
    }

    /// A job sacct named: from its records if there are some after all (written before array
    /// tasks were recorded), else from sacct.
    fn by_sacct_id(&self, id: &SacctJobId, streams: &mut Streams) -> Result<bool, Stop> {
        let own: Vec<&JobRecord> = self.records.iter().filter(|r| r.job == id.raw).collect();
        if !own.is_empty() {
            return self.shown_records(own, streams);
        }
        let rows = match cluster::accounting(self.cluster, id) {
            Ok(rows) => rows,
            Err(why) => {
                let looked_in = self.logs.looked_in();
                streams.warn(&format!(
                    "job {}: no record in {looked_in}, and {why}",
                    id.id
                ));
                return Ok(false);
            }
        };
        // The job's lines its nodes left in Slurm's accounting (accounting_field=). sacct
        // applies slurmdbd's PrivateData; the command applies slurm.conf's too, as for the job
        // logs (a site may have set it in one file only).
        let viewer = self.viewer.get_or_init(|| self.cluster.viewer());
        let own_row = rows.iter().find(|row| row.id == id.id);
        let stored: Vec<JobRecord> = rows
            .iter()
            .filter(|row| row.id == id.id)
            .filter_map(|row| row.stored.clone())
            .flatten()
            .filter(|record| record.job == id.raw && viewer.may_see(record.origin.uid))
            .map(|mut record| {
                // A step's end leaves the owner's name and the partition out (it looks no
                // names up, and the job's own text is the user's): the uid's, and sacct's.
                if record.origin.user.is_none() {
                    record.origin.user = record.origin.uid.and_then(crate::record::user_name);
                }
                if record.origin.partition.is_none() {
                    record.origin.partition = own_row.and_then(|r| r.partition.clone());
                }
                record
            })
            .collect();
        if !stored.is_empty() {
            for job in per_job(stored) {
                self.print_records(&job, Source::ACCOUNTING, streams)?;
            }
            return Ok(true);
        }
        let release = *self.release.get_or_init(|| self.cluster.sacct_release());
        let text = sacct::explain_for(&id.id, &rows, release, self.logs.private);
        self.print(streams, Some(id.raw), &id.id, &text, &rows)?;
        Ok(!rows.is_empty())
    }

    /// The records of a job, job by job (an array's tasks in order).
    fn shown_records(&self, records: Vec<&JobRecord>, streams: &mut Streams) -> Result<bool, Stop> {
        let records: Vec<JobRecord> = records.into_iter().cloned().collect();
        for job in per_job(records) {
            self.print_records(&job, Source::RECORDS, streams)?;
        }
        Ok(true)
    }

    /// A job's lines, from the job logs or from Slurm's accounting (`source`).
    fn print_records(
        &self,
        records: &[JobRecord],
        source: &'static str,
        streams: &mut Streams,
    ) -> Result<(), Stop> {
        let raw = records[0].job;
        if self.json {
            let id = records.iter().find_map(JobRecord::array_task);
            return streams.json(&Explained {
                job: Some(raw),
                id: id.map_or_else(|| raw.to_string(), |task| task.to_string()),
                source,
                records: Some(records),
                sacct: None,
                explanation: None,
                next_request: next_request(records),
            });
        }
        self.set_apart(streams)?;
        streams.lines(&history::explain(raw, records))
    }

    /// What sacct said of a job.
    fn print(
        &self,
        streams: &mut Streams,
        raw: Option<u32>,
        id: &str,
        text: &[String],
        rows: &[SacctRow],
    ) -> Result<(), Stop> {
        if self.json {
            return streams.json(&Explained {
                job: raw,
                id: id.into(),
                source: "sacct",
                records: None,
                sacct: Some(rows),
                explanation: Some(text),
                next_request: sacct::next_request(id, rows),
            });
        }
        self.set_apart(streams)?;
        streams.lines(text)
    }

    /// A blank line between two jobs' explanations.
    fn set_apart(&self, streams: &mut Streams) -> Result<(), Stop> {
        if self.printed.replace(true) {
            streams.line("")?;
        }
        Ok(())
    }
}

/// The job's next request from its records: the largest its nodes' reports gave (each is for
/// one node, and every node gets the same request).
fn next_request(records: &[JobRecord]) -> Option<NextRequest> {
    let recommended = records.iter().filter_map(|r| r.recommendation.as_ref());
    recommended
        .max_by_key(|r| r.bytes)
        .map(NextRequest::from_recorded)
}

/// The records job by job: an array's tasks in the order of their index.
fn per_job(records: Vec<JobRecord>) -> Vec<Vec<JobRecord>> {
    let mut jobs: BTreeMap<u32, Vec<JobRecord>> = BTreeMap::new();
    for record in records {
        jobs.entry(record.job).or_default().push(record);
    }
    let mut jobs: Vec<Vec<JobRecord>> = jobs.into_values().collect();
    jobs.sort_by_key(|job| (job.iter().find_map(|r| r.array_task_id), job[0].job));
    jobs
}
