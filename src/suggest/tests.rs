use super::*;

const MIB: u64 = 1 << 20;
const SITE: Site = Site {
    headroom_percent: 20,
    node_max: Some(24_000 * MIB),
};

/// sacct's rows for one run on one node: the job, its batch step with `max_rss`, the extern
/// step (`JobIDRaw,JobID,JobName,State,ReqMem,MaxRSS,End,NNodes,NTasks,UID,…`).
fn run(job: u32, state: &str, req: &str, max_rss: &str, end: &str) -> String {
    format!(
        "{job}|{job}|train|{state}|{req}||{end}|1||1000||\n\
         {job}.batch|{job}.batch|batch|{state}||{max_rss}|{end}|1|1|||\n\
         {job}.extern|{job}.extern|extern|COMPLETED||1024K|{end}|1|1|||\n"
    )
}

fn suggested(text: &str, trust_max_rss: bool) -> Suggestion {
    suggest("train", &parse_runs(text, trust_max_rss).0, SITE)
}

#[test]
fn kills_at_rising_requests_say_what_is_now_known() {
    let text = run(11, "OUT_OF_MEMORY", "200M", "150M", "2026-11-30T10:00:00")
        + &run(12, "OUT_OF_MEMORY", "400M", "390M", "2026-11-30T11:00:00");
    let s = suggested(&text, true);
    assert_eq!(s.killed_at, [200 * MIB, 400 * MIB]);
    assert_eq!(
        s.words[0],
        "2 runs of train: none finished; killed at 200 MiB and at 400 MiB: it needs more than 400 MiB."
    );
    let next = s.next.unwrap();
    assert_eq!(
        (next.line.as_str(), next.certainty.as_str()),
        ("#SBATCH --mem=800M", "at-least")
    );
    let three = text + &run(13, "OUT_OF_MEMORY", "800M", "790M", "2026-11-30T12:00:00");
    assert!(
        suggested(&three, true).words[0].contains("killed at 200 MiB, 400 MiB and at 800 MiB"),
        "{:?}",
        suggested(&three, true).words
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
            let end = format!("2026-11-2{i}T10:00:00");
            run(20 + i as u32, "COMPLETED", "8G", p, &end)
        })
        .collect();
    let s = suggested(&text, true);
    assert_eq!(s.words[0], "7 runs of train: 7 finished, peak 3.1–3.6 GiB.");
    // 3686M + 10 % (the spread is 14 %: half of it is less than the least margin).
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=4G");
}

#[test]
fn few_runs_take_the_headroom_but_never_more_than_what_carried_the_peak() {
    let text = run(30, "COMPLETED", "2G", "1000M", "2026-11-30T10:00:00")
        + &run(32, "COMPLETED", "2G", "999.8M", "2026-11-30T11:00:00");
    assert!(suggested(&text, true).words[0].ends_with("peak 1000 MiB."));
    assert_eq!(
        suggested(&text, true).next.unwrap().line,
        "#SBATCH --mem=1200M"
    );
    // 1000M + 20 % would be more than the 1100M that carried it: 1100M.
    let tight = run(31, "COMPLETED", "1100M", "1000M", "2026-11-30T10:00:00");
    let s = suggested(&tight, true);
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=1100M");
    assert!(
        s.words[1].contains("1.1 GiB was enough for it"),
        "{:?}",
        s.words
    );
}

#[test]
fn a_sampled_max_rss_is_no_peak_the_request_that_worked_is() {
    let text = run(40, "OUT_OF_MEMORY", "1G", "600M", "2026-11-30T09:00:00")
        + &run(41, "COMPLETED", "3G", "900M", "2026-11-30T10:00:00");
    let runs = parse_runs(&text, false).0;
    assert!(runs.iter().all(|r| r.peak.is_none()));
    let s = suggest("train", &runs, SITE);
    assert_eq!(s.next.as_ref().unwrap().line, "#SBATCH --mem=3G");
    assert!(
        s.words[1].contains("between 1.0 GiB and 3.0 GiB"),
        "{:?}",
        s.words
    );
}

#[test]
fn the_records_peak_counts_where_max_rss_does_not_and_only_the_owners() {
    let text = run(50, "COMPLETED", "3G", "900M", "2026-11-30T10:00:00");
    let record = |uid: u32, peak: u64| -> JobRecord {
        serde_json::from_value(serde_json::json!({
            "schema": crate::record::SCHEMA, "job": 50, "node": "n1", "uid": uid,
            "ended": 1, "cause": "over-request", "oom_kills": 0, "recovered": false,
            "peak": peak * MIB, "limit": 3u64 << 30, "steps": []
        }))
        .unwrap()
    };
    let mut runs = parse_runs(&text, false).0;
    // Another user's job under the same id (Slurm gave it out again) is not this run.
    add_records(&mut runs, &[record(1001, 2900)]);
    assert_eq!(runs[0].peak, None);
    add_records(&mut runs, &[record(1000, 1500)]);
    assert_eq!(runs[0].peak_from, Some(PeakFrom::Record));
    let s = suggest("train", &runs, SITE);
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=1800M");
}

#[test]
fn a_kill_above_every_peak_seen_outweighs_them() {
    // Inputs grew: an earlier run peaked at 1 GiB, the last one was killed at 2 GiB.
    let text = run(60, "COMPLETED", "2G", "1G", "2026-11-30T09:00:00")
        + &run(61, "OUT_OF_MEMORY", "2G", "2G", "2026-11-30T10:00:00");
    assert_eq!(
        suggested(&text, true).next.unwrap().line,
        "#SBATCH --mem=4G"
    );
}

#[test]
fn other_endings_say_nothing_of_memory() {
    let text = run(70, "TIMEOUT", "2G", "1G", "2026-11-30T09:00:00")
        + &run(71, "CANCELLED by 1000", "2G", "1G", "2026-11-30T10:00:00");
    let s = suggested(&text, true);
    assert!(s.next.is_none());
    assert_eq!(
        s.words,
        [
            "2 runs of train, none finished or ran out of memory (they failed, timed out or were \
          cancelled): nothing to go by."
        ]
    );
}

#[test]
fn real_sacct_formats_a_step_killed_many_nodes_and_fractions() {
    // `srun prog` killed: the job FAILED, its step 0 OUT_OF_MEMORY. 1.50G is sacct's way of
    // writing 1536M. Two nodes: ReqMem is both nodes' together.
    let text = "80|80|train|FAILED|3G||2026-11-30T09:00:00|2||1000||\n\
                80.batch|80.batch|batch|FAILED||10M|2026-11-30T09:00:00|1|1|||\n\
                80.0|80.0|python3|OUT_OF_MEMORY||1.49G|2026-11-30T09:00:00|2|2|||\n\
                81|81_3|train|OUT_OF_MEMORY|1.50Gn||2026-11-30T10:00:00|1||1000||\n\
                81|81_[4-9]|train|PENDING|1.50G||Unknown|1||1000||\n";
    let runs = parse_runs(text, true).0;
    assert_eq!(
        runs.len(),
        2,
        "the pending rest of an array is no run: {runs:?}"
    );
    assert_eq!(runs[0].ended, Ended::Killed);
    assert_eq!(runs[0].requested, Some(1536 * MIB), "3G over 2 nodes");
    assert_eq!(runs[1].requested, Some(1536 * MIB));
    assert_eq!(suggested(text, true).next.unwrap().line, "#SBATCH --mem=3G");
}

#[test]
fn max_rss_of_one_task_among_several_on_a_node_is_no_peak() {
    let text = "90|90|train|COMPLETED|8G||2026-11-30T09:00:00|1||1000||\n\
                90.0|90.0|python3|COMPLETED||900M|2026-11-30T09:00:00|1|8|||\n";
    assert_eq!(parse_runs(text, true).0[0].peak, None);
}

#[test]
fn doubling_stops_at_a_nodes_memory() {
    let small_nodes = Site {
        node_max: Some(1000 * MIB),
        ..SITE
    };
    let at = |req: &str| run(95, "OUT_OF_MEMORY", req, "1M", "2026-11-30T09:00:00");
    let s = suggest("train", &parse_runs(&at("600M"), true).0, small_nodes);
    assert_eq!(s.next.unwrap().line, "#SBATCH --mem=1000M");
    let s = suggest("train", &parse_runs(&at("1000M"), true).0, small_nodes);
    assert!(s.next.is_none());
    assert!(
        s.words[1].contains("ask your cluster's support"),
        "{:?}",
        s.words
    );
}

#[test]
fn a_request_below_its_own_peak_caps_nothing() {
    // Memory not enforced (or a figure off): a run asked 20M and peaked at 764M.
    let text = run(96, "COMPLETED", "20M", "764M", "2026-11-30T09:00:00");
    assert_eq!(
        suggested(&text, true).next.unwrap().line,
        "#SBATCH --mem=920M"
    );
}

#[test]
fn sizes_near_the_end_of_u64_do_not_overflow() {
    let huge = format!("{}", u64::MAX / 2);
    let text = run(97, "COMPLETED", "20M", &huge, "2026-11-30T09:00:00")
        + &run(98, "COMPLETED", "20M", "1", "2026-11-30T10:00:00")
        + &run(99, "COMPLETED", "20M", &huge, "2026-11-30T11:00:00");
    assert!(suggested(&text, true).next.is_some());
}
