//! Reading the job logs: a past job's records (all nodes merged), streamed, never loaded whole.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::record::{JobRecord, SCHEMA};
use crate::size::human;

/// The log files under `paths`: each path is a job log, or a folder of them (`*.jsonl`, as a
/// site collects the nodes' logs in one place).
pub fn log_files(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| with_path(path, e))?
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.is_file() && p.to_string_lossy().contains(".jsonl"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

pub fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Calls `each` with every line of every file, in order.
pub fn for_each_line(files: &[PathBuf], mut each: impl FnMut(&str)) -> io::Result<()> {
    let mut line = Vec::new();
    for file in files {
        let mut reader = BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(file).map_err(|e| with_path(file, e))?,
        );
        loop {
            line.clear();
            if reader
                .read_until(b'\n', &mut line)
                .map_err(|e| with_path(file, e))?
                == 0
            {
                break;
            }
            // A line that is not text (a torn write, a disk error) is no record: skipped, and
            // the rest of the log still read.
            if let Ok(text) = std::str::from_utf8(&line) {
                each(text.trim_end());
            }
        }
    }
    Ok(())
}

/// Every record of `job` (one per node, or more if a leftover was merged separately).
pub fn find_job(files: &[PathBuf], job: u32) -> io::Result<Vec<JobRecord>> {
    let needle = job.to_string();
    let mut found = Vec::new();
    for_each_line(files, |line| {
        // Cheap test first: most lines are other jobs. Only the number, so that a line written
        // another way than the plugin writes it (`"job": 8`, the key last) is still found.
        if line.contains(&needle)
            && let Ok(record) = serde_json::from_str::<JobRecord>(line)
            && record.job == job
            && record.schema == SCHEMA
        {
            found.push(record);
        }
    })?;
    found.sort_by(|a, b| (&a.origin.node, a.ended).cmp(&(&b.origin.node, b.ended)));
    Ok(found)
}

/// The explanation of a past job from its records: each step's report as its stderr got it,
/// and one line for each step that was fine.
pub fn explain(job: u32, records: &[JobRecord]) -> Vec<String> {
    let mut nodes: Vec<&str> = records.iter().map(|r| r.origin.node.as_str()).collect();
    nodes.dedup();
    let user = records.iter().find_map(|r| r.origin.user.as_deref());
    let mut out = vec![format!(
        "oom-explain: job {job}{} on {}:",
        user.map(|u| format!(" of {u}")).unwrap_or_default(),
        nodes.join(", ")
    )];
    let several = nodes.len() > 1;
    for record in records {
        for step in &record.steps {
            let where_ = if several {
                format!(" on {}", record.origin.node)
            } else {
                String::new()
            };
            if step.report.is_empty() {
                let use_ = match (step.peak, step.limit) {
                    (Some(p), Some(l)) => format!("peak {} of {}", human(p), human(l)),
                    (Some(p), None) => format!("peak {}", human(p)),
                    _ => "no figures".into(),
                };
                out.push(format!("  step {}{where_}: {use_}: OK.", step.step));
            } else {
                if several {
                    out.push(format!("  (on {})", record.origin.node));
                }
                out.extend(step.report.iter().cloned());
            }
        }
    }
    out
}
