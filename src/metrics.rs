//! The node's counters for Prometheus, in the text format node_exporter's textfile collector
//! reads (`metrics_file=`): job records by outcome and partition, OOM kills, and memory asked
//! for but never used. Each job epilog adds its jobs to the counters in the file and replaces it
//! whole, under a lock, so that node_exporter never reads half a file and two epilogs never add
//! over each other. Users are no label: the counters stay few, and say nothing of anyone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::record::{self, JobRecord};
use crate::spool::Dir;

/// How long an epilog waits for another one's lock on the counters before leaving them.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// A file of counters is a few KiB: a larger one is not ours.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The counters, in the order the file lists them: name, type, help.
const METRICS: &[(&str, &str, &str)] = &[
    (
        "oom_explain_job_records_total",
        "counter",
        "Job records the job epilog wrote on this node (one per job and node), by outcome \
         (the cause: under-allocation, near-miss, over-request, none, ...) and partition.",
    ),
    (
        "oom_explain_oom_kills_total",
        "counter",
        "Processes the kernel killed for memory in jobs on this node, by partition.",
    ),
    (
        "oom_explain_unused_gib_hours_total",
        "counter",
        "Memory requested but never used on this node (limit minus peak, times run time), in \
         GiB-hours, by partition; over_request jobs only.",
    ),
    (
        "oom_explain_last_update_timestamp_seconds",
        "gauge",
        "When a job epilog last updated these counters (Unix seconds).",
    ),
];

/// Every series with its value, keyed `name{labels}` as the file writes it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counters {
    series: BTreeMap<String, f64>,
}

impl Counters {
    /// The counters in a file this module wrote: `name{labels} value` lines of its own metrics;
    /// anything else (comments, other lines) is left out.
    pub fn parse(text: &str) -> Counters {
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (key, value) = line.rsplit_once(' ')?;
                let name = key.split('{').next()?;
                let ours = METRICS.iter().any(|(metric, ..)| *metric == name);
                let value: f64 = value.parse().ok().filter(|v: &f64| v.is_finite())?;
                ours.then(|| (key.to_owned(), value))
            })
            .collect();
        Counters { series }
    }

    /// Adds one epilog's job records.
    pub fn add_jobs(&mut self, jobs: &[JobRecord], now: u64) {
        for job in jobs {
            let partition = label(job.origin.partition.as_deref().unwrap_or(""));
            let outcome = label(&job.cause);
            self.add(
                format!(
                    "oom_explain_job_records_total{{outcome=\"{outcome}\",partition=\"{partition}\"}}"
                ),
                1.0,
            );
            self.add(
                format!("oom_explain_oom_kills_total{{partition=\"{partition}\"}}"),
                job.oom_kills as f64,
            );
            if job.cause == "over-request" {
                self.add(
                    format!("oom_explain_unused_gib_hours_total{{partition=\"{partition}\"}}"),
                    record::unused_gib_hours(job.peak, job.limit, job.elapsed_s).unwrap_or(0.0),
                );
            }
        }
        self.series.insert(
            "oom_explain_last_update_timestamp_seconds".into(),
            now as f64,
        );
    }

    fn add(&mut self, key: String, amount: f64) {
        *self.series.entry(key).or_default() += amount;
    }

    /// The file: each metric's HELP and TYPE, then its series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, kind, help) in METRICS {
            let series: Vec<_> = self
                .series
                .iter()
                .filter(|(key, _)| key.split('{').next() == Some(*name))
                .collect();
            if series.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (key, value) in series {
                let _ = writeln!(out, "{key} {value}");
            }
        }
        out
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Adds `jobs` to the counters in `file` (its folder must exist, checked as every folder root
/// writes in), replacing it whole, mode 0644 (node_exporter reads it as its own user).
pub fn update(file: &Path, jobs: &[JobRecord], now: u64) -> io::Result<()> {
    let (Some(folder), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str()))
    else {
        return Err(io::Error::other(format!(
            "{}: not a file path",
            file.display()
        )));
    };
    let dir = Dir::open(folder)?;
    // Not *.prom: the collector reads only those.
    let _lock = dir.lock(&format!("{name}.lock"), LOCK_WAIT)?;
    let text = match dir.read_capped(name, MAX_FILE_BYTES) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut counters = Counters::parse(&text);
    counters.add_jobs(jobs, now);
    dir.replace(name, counters.render().as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StepRecord;

    fn job(cause: &str, partition: &str, kills: u64, limit: u64, peak: u64) -> JobRecord {
        let step = serde_json::json!({"schema": 1, "job": 1, "step": "batch", "node": "n1",
            "partition": partition, "ended": 1000, "elapsed_s": 3600, "cgroup": "cgroup v2",
            "opted_in": true, "cause": cause, "oom_kills": kills, "peak": peak, "limit": limit,
            "report": []});
        let step: StepRecord = serde_json::from_value(step).unwrap();
        JobRecord::merge(vec![step], false).unwrap()
    }

    #[test]
    fn epilogs_add_to_the_counters_in_the_file() {
        let mut counters = Counters::default();
        counters.add_jobs(
            &[
                job("under-allocation", "debug", 1, 1 << 30, 1 << 30),
                job("none", "debug", 0, 1 << 30, 1 << 20),
            ],
            1_795_000_000,
        );
        // The next epilog reads the file back and adds to it.
        let mut again = Counters::parse(&counters.render());
        assert_eq!(again, counters);
        again.add_jobs(
            &[
                job("under-allocation", "debug", 2, 1 << 30, 1 << 30),
                job("over-request", "big\"mem", 0, 10 << 30, 2 << 30),
            ],
            1_795_000_060,
        );
        let text = again.render();
        for line in [
            "# TYPE oom_explain_job_records_total counter",
            "oom_explain_job_records_total{outcome=\"under-allocation\",partition=\"debug\"} 2",
            "oom_explain_job_records_total{outcome=\"none\",partition=\"debug\"} 1",
            "oom_explain_job_records_total{outcome=\"over-request\",partition=\"big\\\"mem\"} 1",
            "oom_explain_oom_kills_total{partition=\"debug\"} 3",
            "oom_explain_unused_gib_hours_total{partition=\"big\\\"mem\"} 8",
            "oom_explain_last_update_timestamp_seconds 1795000060",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    #[test]
    fn lines_that_are_not_its_own_counters_are_left_out() {
        let text = "# a comment\nother_metric 5\noom_explain_oom_kills_total{partition=\"a\"} x\n\
                    oom_explain_oom_kills_total{partition=\"a\"} NaN\n\
                    oom_explain_oom_kills_total{partition=\"b\"} 4\n";
        let counters = Counters::parse(text);
        assert_eq!(
            counters.render(),
            "# HELP oom_explain_oom_kills_total Processes the kernel killed for memory in jobs on \
             this node, by partition.\n# TYPE oom_explain_oom_kills_total counter\n\
             oom_explain_oom_kills_total{partition=\"b\"} 4\n"
        );
    }

    #[test]
    fn concurrent_epilogs_lose_no_count() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("oom_explain.prom");
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let file = file.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        update(&file, &[job("near-miss", "debug", 1, 100, 95)], 7).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("{outcome=\"near-miss\",partition=\"debug\"} 80\n")
                && text.contains("oom_explain_oom_kills_total{partition=\"debug\"} 80\n"),
            "{text}"
        );
    }

    #[test]
    fn the_file_is_replaced_whole_and_readable_by_node_exporter() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("oom_explain.prom");
        update(&file, &[job("near-miss", "debug", 0, 100, 95)], 7).unwrap();
        update(&file, &[job("near-miss", "debug", 0, 100, 95)], 8).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(
                "oom_explain_job_records_total{outcome=\"near-miss\",partition=\"debug\"} 2"
            ),
            "{text}"
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let mut names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["oom_explain.prom", "oom_explain.prom.lock"]);
    }
}
