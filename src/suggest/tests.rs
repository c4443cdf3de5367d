use super::*;

const MIB: u64 = 1 << 20;

/// sacct's rows for one run: the job, its batch step with `max_rss`.
fn run(job: u32, state: &str, req: &str, max_rss: &str, end: &str) -> String {
    format!(
        "{job}|{job}|train|{state}|{req}||{end}||\n\
         {job}.batch|{job}.batch|batch|{state}||{max_rss}|{end}||\n\
         {job}.extern|{job}.extern|extern|COMPLETED||1024K|{end}||\n"
    )
}

#[test]
fn kills_at_rising_requests_say_what_is_now_known() {
    let text = run(11, "OUT_OF_MEMORY", "200M", "150M", "2026-11-30T10:00:00")
        + &run(12, "OUT_OF_MEMORY", "400M", "390M", "2026-11-30T11:00:00");
    let runs = parse_runs(&text, true).0;
    assert_eq!(runs.len(), 2);
    let s = suggest("train", &runs, 20);
    assert_eq!(s.killed_at, [200 * MIB, 400 * MIB]);
    assert_eq!(
        s.words[0],
        "2 runs of train: 0 finished; killed at 200 MiB and at 400 MiB: it needs more than 400 MiB."
    );
    let next = s.next.unwrap();
    assert_eq!(
        (next.line.as_str(), next.certainty.as_str()),
        ("#SBATCH --mem=800M", "at-least")
    );
}

#[test]
fn many_finished_runs_give_their_spread_and_a_margin_from_it() {
    let peaks = [
        "3174M", "3300M", "3400M", "3500M", "3686M", "3250M", "3350M",
    ];
    let text: String = peaks
        .iter()
        .enumerate()
        .map(|(i, p)| {
            run(
                20 + i as u32,
                "COMPLETED",
                "8G",
                p,
                &format!("2026-11-2{i}T10:00:00"),
            )
        })
        .collect();
    let s = suggest("train", &parse_runs(&text, true).0, 20);
    assert_eq!(s.words[0], "7 runs of train: 7 finished, peak 3.1–3.6 GiB.");
    // 3686M + 10 % (the spread is 14 %: half of it is less than the least margin).
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=4G");
}

#[test]
fn few_runs_take_the_sites_headroom() {
    let text = run(30, "COMPLETED", "2G", "1000M", "2026-11-30T10:00:00");
    let s = suggest("train", &parse_runs(&text, true).0, 20);
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=1200M");
}

#[test]
fn a_sampled_max_rss_is_no_peak_the_request_that_worked_is() {
    let text = run(40, "OUT_OF_MEMORY", "1G", "600M", "2026-11-30T09:00:00")
        + &run(41, "COMPLETED", "3G", "900M", "2026-11-30T10:00:00");
    let runs = parse_runs(&text, false).0;
    assert!(runs.iter().all(|r| r.peak.is_none()));
    let s = suggest("train", &runs, 20);
    assert_eq!(s.next.as_ref().unwrap().line, "#SBATCH --mem=3G");
    assert!(
        s.words[1].contains("between 1.0 GiB and 3.0 GiB"),
        "{:?}",
        s.words
    );
}

#[test]
fn the_records_peak_counts_where_max_rss_does_not() {
    let text = run(50, "COMPLETED", "3G", "900M", "2026-11-30T10:00:00");
    let mut runs = parse_runs(&text, false).0;
    let record: JobRecord = serde_json::from_value(serde_json::json!({
        "schema": crate::record::SCHEMA, "job": 50, "node": "n1",
        "ended": 1, "cause": "over-request", "oom_kills": 0, "recovered": false,
        "peak": 1500u64 * MIB, "limit": 3u64 << 30, "steps": []
    }))
    .unwrap();
    add_records(&mut runs, &[record]);
    assert_eq!(runs[0].peak_from, Some(PeakFrom::Record));
    let s = suggest("train", &runs, 20);
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=1800M");
}

#[test]
fn a_kill_above_every_peak_seen_outweighs_them() {
    // Inputs grew: an earlier run peaked at 1 GiB, the last one was killed at 2 GiB.
    let text = run(60, "COMPLETED", "2G", "1G", "2026-11-30T09:00:00")
        + &run(61, "OUT_OF_MEMORY", "2G", "2G", "2026-11-30T10:00:00");
    let s = suggest("train", &parse_runs(&text, true).0, 20);
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=4G");
}

#[test]
fn other_endings_say_nothing_of_memory() {
    let text = run(70, "TIMEOUT", "2G", "1G", "2026-11-30T09:00:00")
        + &run(71, "CANCELLED by 1000", "2G", "1G", "2026-11-30T10:00:00");
    let s = suggest("train", &parse_runs(&text, true).0, 20);
    assert!(s.next.is_none());
    assert_eq!(s.words[0], "2 runs of train: 0 finished.");
}
