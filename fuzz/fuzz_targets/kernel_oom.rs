//! Kernel log records (/dev/kmsg format) into the step's OOM kills (`parse_oom_events`).
//!
//! An optional first line starting with `/` sets the call's other arguments:
//! `STEP_PATH JOB_PATH [SINCE_US] [PAGE_SIZE]` (defaults: a v1 batch step, 0, 4096).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::evidence::kernel::parse_oom_events;

fuzz_target!(|data: &[u8]| {
    // read_kernel_log turns the records into text with from_utf8_lossy.
    let text = String::from_utf8_lossy(data);
    let (mut step, mut job) = (
        "/slurm_localhost/uid_1001/job_1/step_batch",
        "/slurm_localhost/uid_1001/job_1",
    );
    let (mut since, mut page) = (0u64, 4096u64);
    let mut log: &str = &text;
    if text.starts_with('/') {
        let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let mut words = head.split_whitespace();
        step = words.next().unwrap_or(step);
        job = words.next().unwrap_or(job);
        since = words.next().and_then(|w| w.parse().ok()).unwrap_or(since);
        page = words.next().and_then(|w| w.parse().ok()).unwrap_or(page);
        log = rest;
    }
    let events = parse_oom_events(log, step, job, since, page);
    for e in &events {
        assert!(e.at_us >= since, "an event older than since_us: {e:?}");
        // Other people's processes are never shown: no table for a limit beyond the job.
        if e.beyond_job {
            assert!(e.processes.is_empty(), "{e:?}");
        }
    }
    // Asking from after the last event finds none of them again.
    if let Some(last) = events.iter().map(|e| e.at_us).max()
        && let Some(later) = last.checked_add(1)
    {
        let again = parse_oom_events(log, step, job, later, page);
        assert!(again.is_empty(), "{again:?}");
    }
});
