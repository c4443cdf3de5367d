//! A job as the user names it on the command line, and which records are of it.

use std::fmt;

use crate::history::Wanted;
use crate::record::JobRecord;

/// A job as the user names it (a step's id names its job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRef {
    /// `1234`: one job, or every task of the array job 1234.
    Job(u32),
    /// `1234_5`: one task of an array.
    ArrayTask { array: u32, task: u32 },
    /// `1234+1`: a component of a heterogeneous job, whose raw id only sacct knows.
    HetComponent { job: u32, component: u32 },
}

impl JobRef {
    /// `1234`, `1234_5`, `1234+1`, or any of them with a step (`1234.0`, `1234_5.batch`).
    pub fn parse(text: &str) -> Result<JobRef, String> {
        let job = text.split('.').next().unwrap_or(text);
        // Digits only: Rust's parse would take "+5" as 5.
        let number = |t: &str| {
            t.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| t.parse::<u32>().ok())
                .flatten()
        };
        let two = |sep| {
            let (a, b) = job.split_once(sep)?;
            Some((number(a)?, number(b)?))
        };
        if number(job) == Some(0) {
            // Slurm's job ids start at 1.
            Err("not a job id: job ids start at 1".into())
        } else if let Some(id) = number(job) {
            Ok(JobRef::Job(id))
        } else if let Some((array, task)) = two('_') {
            Ok(JobRef::ArrayTask { array, task })
        } else if let Some((job, component)) = two('+') {
            Ok(JobRef::HetComponent { job, component })
        } else {
            Err("not a job id: expected 1234, an array task 1234_5, or a step 1234.0".into())
        }
    }

    /// Whether `record` is of this job (for an array job: of any of its tasks).
    pub fn matches(&self, record: &JobRecord) -> bool {
        let array = record.array_task().map(|a| (a.job, a.task));
        match *self {
            JobRef::Job(id) => record.job == id || array.is_some_and(|(a, _)| a == id),
            JobRef::ArrayTask { array: a, task } => array == Some((a, task)),
            JobRef::HetComponent { .. } => false,
        }
    }

    /// Adds to `wanted` what a pass over the logs must collect for this job.
    pub fn add_to(&self, wanted: &mut Wanted) {
        match *self {
            JobRef::Job(id) => {
                wanted.jobs.insert(id);
                wanted.arrays.insert(id);
            }
            JobRef::ArrayTask { array, .. } => {
                wanted.arrays.insert(array);
            }
            JobRef::HetComponent { .. } => {}
        }
    }
}

impl fmt::Display for JobRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobRef::Job(id) => write!(f, "{id}"),
            JobRef::ArrayTask { array, task } => write!(f, "{array}_{task}"),
            JobRef::HetComponent { job, component } => write!(f, "{job}+{component}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_as_slurm_writes_them() {
        assert_eq!(JobRef::parse("1234"), Ok(JobRef::Job(1234)));
        assert_eq!(JobRef::parse("1234.0"), Ok(JobRef::Job(1234)));
        assert_eq!(JobRef::parse("1234.batch"), Ok(JobRef::Job(1234)));
        let task = JobRef::ArrayTask {
            array: 1234,
            task: 5,
        };
        assert_eq!(JobRef::parse("1234_5"), Ok(task.clone()));
        assert_eq!(JobRef::parse("1234_5.extern"), Ok(task.clone()));
        assert_eq!(task.to_string(), "1234_5");
        assert_eq!(
            JobRef::parse("7+1").map(|r| r.to_string()).as_deref(),
            Ok("7+1")
        );
        for bad in [
            "",
            "abc",
            "12_",
            "_3",
            "1234_[1-3]",
            "-1",
            "1_2_3",
            "99999999999",
            "0",
            "+5",
            "1_+2",
        ] {
            assert!(JobRef::parse(bad).is_err(), "{bad:?}");
        }
    }
}
