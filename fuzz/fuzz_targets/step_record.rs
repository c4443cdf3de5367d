//! Step records as the job epilog reads them from the spool (`serde_json::from_slice::<StepRecord>`),
//! then merged into the job's line (`JobRecord::merge`) as the epilog does.
//!
//! Input: one spool file per line (the spool holds one JSON document per file).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::journal::job_still_here;
use oom_explain::record::{JobRecord, StepRecord, unix_now};

fuzz_target!(|data: &[u8]| {
    let mut steps = Vec::new();
    for file in data.split(|&b| b == b'\n') {
        let Ok(record) = serde_json::from_slice::<StepRecord>(file) else {
            continue;
        };
        // What the plugin spooled comes back unchanged.
        let json = serde_json::to_vec(&record).unwrap();
        let back: StepRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, record);
        assert!(record.file_name().ends_with(".json"));
        if record.job_cgroup.is_none() {
            let _ = job_still_here(&record, unix_now(), 600);
        }
        steps.push(record);
    }
    let count = steps.len();
    let Some(job) = JobRecord::merge(steps, false) else {
        assert_eq!(count, 0, "merging some steps gives a job");
        return;
    };
    assert_eq!(job.steps.len(), count);
    assert_eq!(job.ended, job.steps.iter().map(|s| s.ended).max().unwrap());
    // The job's line reads back as the same record (what history and fleet read).
    let line = job.to_line();
    assert!(!line.contains('\n'), "one line per job: {line:?}");
    let back: JobRecord = serde_json::from_str(&line).unwrap();
    assert_eq!(back, job);
});
