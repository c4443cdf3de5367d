//! `sacct` as `oom-explain JOBID` reads it for a job without a record: the first line is
//! `sacct --version` (`SlurmRelease::parse`), the rest `sacct -P -n -o FIELDS` (`sacct::parse`),
//! then the explanation (`sacct::explain`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::sacct::{explain, parse};
use oom_explain::slurm::SlurmRelease;

fuzz_target!(|data: &[u8]| {
    // The command reads sacct's output with from_utf8_lossy.
    let text = String::from_utf8_lossy(data);
    let (version, table) = text.split_once('\n').unwrap_or((&text, ""));
    let release = SlurmRelease::parse(version);
    if let Some(r) = release {
        // What it prints (`24.11`) parses back as itself.
        assert_eq!(SlurmRelease::parse(&r.to_string()), Some(r));
    }
    let rows = parse(table);
    assert!(rows.len() <= table.lines().count());
    for row in &rows {
        assert!(!row.id.is_empty());
    }
    let job = rows
        .first()
        .map_or("1", |r| r.id.split('.').next().unwrap_or("1"));
    let lines = explain(job, &rows, release);
    assert!(
        lines[0].starts_with(&format!("Job {job}")),
        "{lines:?}"
    );
});
