//! Kernel log records (/dev/kmsg format) into the step's OOM kills (`parse_oom_events`).
//!
//! An optional first line starting with `/` sets the call's other arguments:
//! `STEP_PATH JOB_PATH [PAGE_SIZE]` (defaults: a v1 batch step, 4096). (A third number, as
//! older seeds have, is skipped: the parser took a start time before the log was positioned.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::evidence::kernel::{OomReports, parse_oom_events};

fuzz_target!(|data: &[u8]| {
    // KernelLog::read_new turns the records into text with from_utf8_lossy.
    let text = String::from_utf8_lossy(data);
    let (mut step, mut job) = (
        "/slurm_localhost/uid_1001/job_1/step_batch",
        "/slurm_localhost/uid_1001/job_1",
    );
    let mut page = 4096u64;
    let mut log: &str = &text;
    if text.starts_with('/') {
        let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let mut words = head.split_whitespace();
        step = words.next().unwrap_or(step);
        job = words.next().unwrap_or(job);
        let numbers: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
        page = numbers.last().copied().unwrap_or(page);
        log = rest;
    }
    let events = parse_oom_events(log, step, job, page);
    assert!(events.len() <= 64, "the kept kills are bounded");
    for e in &events {
        // Other people's processes and figures are never shown for a limit beyond the job.
        if e.beyond_job {
            assert!(e.processes.is_empty(), "{e:?}");
            assert_eq!(e.at_kill, Default::default(), "{e:?}");
        }
        assert!(e.processes.len() <= 4096, "a table is bounded");
    }
    // Records fed one at a time, as the reader does, give the same kills.
    let mut one_by_one = OomReports::new(step, job, page);
    log.lines().for_each(|line| one_by_one.add(line));
    assert_eq!(one_by_one.events(), events);
});
