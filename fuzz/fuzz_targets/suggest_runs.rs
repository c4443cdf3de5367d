//! `oom-explain suggest`: sacct's rows of a job's runs (`suggest::parse_runs`, the job lines
//! in their accounting field included), the next request from them (`suggest::suggest`), and
//! the name sbatch gives a job script (`job_name_option`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::suggest::{Ended, Site, parse_runs, suggest};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let trust = data.first().is_some_and(|b| b & 1 == 1);
    let (runs, _stored) = parse_runs(&text, trust);
    assert!(runs.len() <= text.lines().count());
    let site = Site {
        headroom_percent: 20,
        node_max: Some(512 << 30),
    };
    let s = suggest("job", &runs, site);
    if let Some(next) = &s.next {
        // Never the size of a kill again; a guess (doubling) never beyond a node (a request
        // that worked, or a peak seen, may be: the cluster had it then); always a line Slurm
        // takes.
        let largest_kill = s.killed_at.last().copied().unwrap_or(0);
        assert!(next.bytes > largest_kill || next.bytes == 512 << 30, "{next:?} {s:?}");
        if next.certainty == "at-least" {
            assert!(next.bytes <= 512 << 30, "{next:?}");
        }
        assert_eq!(next.mem_mb, next.bytes.div_ceil(1 << 20));
        assert!(next.line.starts_with("#SBATCH --mem="));
    }
    assert!(s.runs.iter().all(|r| r.ended != Ended::Other));
    let _ = oom_explain::cli::job_name_option(&text);
});
