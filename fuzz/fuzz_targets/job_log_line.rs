//! Job-log lines as `oom-explain JOBID` reads them (`history::find_job`, which parses each line
//! as a `JobRecord`), explained (`history::explain`) and summarised (`record::job_summary`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::history::{explain, find_job};
use oom_explain::record::{JobRecord, SCHEMA, job_summary, json_of};

include!("../common/scratch.rs");

fn file() -> std::path::PathBuf {
    scratch_dir("joblog").join("jobs.jsonl")
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut records = Vec::new();
    for line in text.lines() {
        // As the reader takes it: the line, or what follows a syslog prefix.
        let Ok(record) = serde_json::from_str::<JobRecord>(json_of(line.trim_end())) else {
            continue;
        };
        let back: JobRecord = serde_json::from_str(&record.to_line()).unwrap();
        assert_eq!(back, record, "a job line reads back as itself");
        let summary = job_summary(&record);
        assert!(
            summary.starts_with(&format!("job {} on ", record.job)),
            "{summary}"
        );
        records.push(record);
    }
    let Some(first) = records.first() else { return };
    let job = first.job;
    // The real reader, on the same lines in a file.
    std::fs::write(file(), data).unwrap();
    let found = match find_job(&[file()], job) {
        Ok(found) => found,
        // The only error a readable file gives: a line that is not UTF-8 stops the whole read
        // (BufRead::read_line), where the in-memory parse above skips just that line.
        Err(e) => {
            assert!(std::str::from_utf8(data).is_err(), "{e}");
            return;
        }
    };
    assert!(found.iter().all(|r| r.job == job && r.schema == SCHEMA));
    // find_job finds no record the line-by-line parse does not (it may find fewer: its cheap
    // `"job":N,` test skips lines not written as the plugin writes them).
    let same = records
        .iter()
        .filter(|r| r.job == job && r.schema == SCHEMA)
        .count();
    assert!(found.len() <= same, "{} > {same}", found.len());
    let lines = explain(job, &found);
    assert!(
        lines[0].starts_with(&format!("Job {job}")),
        "{lines:?}"
    );
    let _ = explain(job, &records);
});
