//! The classifier on committed evidence records captured from the real scenario corpus
//! (tests/fixtures/capture-evidence.sh): every cause, offline, plus borderline variants derived
//! from those real records (a shorter run, a slower rise).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use oom_explain::classify::Cause;
use oom_explain::config::Config;
use oom_explain::report::EvidenceRecord;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evidence/v1")
}

/// scenario name → its records (one per analysed step).
fn records() -> BTreeMap<String, Vec<(String, EvidenceRecord)>> {
    let mut all: BTreeMap<String, Vec<(String, EvidenceRecord)>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir()).expect("tests/fixtures/evidence/v1") {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let scenario = file.split('.').next().unwrap().to_owned();
        let record = EvidenceRecord::from_json(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        all.entry(scenario).or_default().push((file, record));
    }
    all
}

fn expected(scenario: &str) -> String {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/scenarios/{scenario}.sh"));
    let text = std::fs::read_to_string(script).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# expect:"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn every_recorded_scenario_gets_its_cause_offline() {
    let all = records();
    assert!(all.len() >= 11, "records for {} scenarios only", all.len());
    for (scenario, steps) in &all {
        let causes: Vec<&str> = steps
            .iter()
            .map(|(_, r)| r.analyse(&Config::default()).diagnosis.cause.id())
            .filter(|c| *c != "none")
            .collect();
        let expected = match expected(scenario).as_str() {
            "none" => vec![],
            cause => vec![cause.to_owned()],
        };
        assert_eq!(causes, expected, "{scenario}: {steps:#?}");
    }
}

fn record(name: &str) -> EvidenceRecord {
    let (_, r) = records()
        .remove(name)
        .unwrap()
        .into_iter()
        .find(|(_, r)| r.analyse(&Config::default()).diagnosis.cause != Cause::None)
        .unwrap();
    r
}

#[test]
fn a_leak_cut_short_is_not_called_steady_growth() {
    // The real leak, but as if the job had been killed after 10 s: too short to call a trend.
    let mut r = record("steady-growth");
    let series = r.evidence.series.as_mut().unwrap();
    series.samples.retain(|s| s.at <= Duration::from_secs(10));
    r.evidence.kill_at = Some(Duration::from_secs(10));
    let d = r.analyse(&Config::default()).diagnosis;
    assert_ne!(d.cause, Cause::SteadyGrowth, "{d:#?}");
}

#[test]
fn a_spike_after_a_short_calm_is_plain_under_allocation() {
    // The real spike, with the calm part cut to 3 s: nothing was calm for long.
    let mut r = record("load-spike");
    let series = r.evidence.series.as_mut().unwrap();
    let kill = r.evidence.kill_at.unwrap();
    let cut = kill.saturating_sub(Duration::from_secs(3));
    series.samples.retain(|s| s.at >= cut);
    for s in &mut series.samples {
        s.at -= cut;
    }
    r.evidence.kill_at = Some(kill - cut);
    let d = r.analyse(&Config::default()).diagnosis;
    assert_ne!(d.cause, Cause::LoadSpike, "{d:#?}");
}

#[test]
fn without_the_kernel_log_the_node_oom_is_still_seen() {
    // Where /dev/kmsg cannot be read: a kill far below the job's own limit.
    let mut r = record("node-oom");
    r.evidence.kernel.clear();
    r.evidence.kill_at = None;
    assert_eq!(
        r.analyse(&Config::default()).diagnosis.cause,
        Cause::NodeOom
    );
}

#[test]
fn without_the_sampler_a_kill_at_the_limit_is_still_explained() {
    // A sampler that could not start: the end figures alone still give a cause.
    let mut r = record("steady-growth");
    r.evidence.series = None;
    assert_eq!(
        r.analyse(&Config::default()).diagnosis.cause,
        Cause::UnderAllocation
    );
}

#[test]
fn a_tmpfs_burst_faster_than_the_kernels_statistics_is_still_seen() {
    // A real CI run: 300 MiB written to /dev/shm in well under a second, then deleted by the
    // script. The kernel's memcg stats at the kill were stale (32 MiB shmem: they are flushed
    // about every 2 s), but its process table shows the processes held only ~20 MiB of the
    // 300 MiB limit: the rest was in files.
    let kmsg = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kmsg/linux-6.18-v1-tmpfs-burst.kmsg"),
    )
    .unwrap();
    let events = oom_explain::evidence::kernel::parse_oom_events(
        &kmsg,
        "/slurm_localhost/uid_1001/job_14/step_batch",
        "/slurm_localhost/uid_1001/job_14",
        4096,
    );
    assert_eq!(events.len(), 1);
    assert!(
        events[0].at_kill.shmem.unwrap() < 40 << 20,
        "the stats really were stale"
    );
    let mut r = record("tmpfs");
    r.evidence.kernel = events;
    // No other sign of the files: none sampled, none left at the end.
    r.snapshot.step.stat.shmem = Some(0);
    for s in &mut r.evidence.series.as_mut().unwrap().samples {
        s.shmem = Some(0);
    }
    let d = r.analyse(&Config::default()).diagnosis;
    assert_eq!(d.cause, Cause::Tmpfs, "{d:#?}");
    assert!(d.shmem.unwrap() > 250 << 20, "{d:#?}");
}

#[test]
fn a_leak_and_a_spike_are_drawn_as_they_rose() {
    let picture = |name: &str| {
        let r = record(name);
        let text = r.analyse(&Config::default()).text(&r.context).join("\n");
        let line = text
            .lines()
            .find(|l| l.starts_with("      ▁") && l.contains("memory over"))
            .unwrap_or_else(|| panic!("{name}: no picture in\n{text}"))
            .to_owned();
        let bars: Vec<char> = line.chars().filter(|c| ('▁'..='█').contains(c)).collect();
        (line, bars)
    };
    // A leak rises column by column, never falling, to the top at the kill.
    let (line, bars) = picture("steady-growth");
    assert!(bars.windows(2).all(|w| w[0] <= w[1]), "{line}");
    assert_eq!((bars[0], bars[bars.len() - 1]), ('▁', '█'), "{line}");
    // A spike stays low, then jumps at the end.
    let (line, bars) = picture("load-spike");
    assert!(bars[..bars.len() - 2].iter().all(|&c| c <= '▂'), "{line}");
    assert_eq!(bars[bars.len() - 1], '█', "{line}");
    println!("{line}");
}

/// The forecast behind the warnings while a step runs, replayed on every recorded step's real
/// samples (at the recorded resolution, coarser than the live one): what `# warns:` of its
/// scenario expects. A leak is warned well before its end; no other scenario gets a warning
/// left standing (spikes, page cache, /dev/shm, workers, levelling off).
#[test]
fn the_warnings_forecast_replayed_on_real_samples_warns_only_the_leaks() {
    use oom_explain::evidence::forecast::{Forecast, Notice, Room, Settings};
    let settings = Settings {
        ahead: Duration::from_secs(3600),
        above_percent: 50,
    };
    for (scenario, steps) in records() {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/scenarios/{scenario}.sh"));
        let warns = std::fs::read_to_string(script)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("# warns:").map(|w| w.trim().to_owned()))
            .unwrap_or_else(|| "no".to_owned());
        for (file, record) in steps {
            let (Some(series), Some(limit)) = (&record.evidence.series, record.snapshot.limit)
            else {
                continue;
            };
            let mut forecast = Forecast::new(settings);
            let told: Vec<Notice> = series
                .samples
                .iter()
                .filter_map(|s| {
                    let room = Room {
                        held: s.held(),
                        limit,
                        own: s.held(),
                    };
                    forecast.observe(s.at, room, true)
                })
                .collect();
            let end = series.samples.last().map_or(Duration::ZERO, |s| s.at);
            let standing = matches!(told.last(), Some(Notice::Warning { .. }));
            match warns.as_str() {
                "yes" => assert!(
                    matches!(told.first(), Some(Notice::Warning { at, .. })
                        if *at + Duration::from_secs(15) <= end),
                    "{file}: {told:?} (ended at {end:?})"
                ),
                "no-or-withdrawn" => assert!(!standing, "{file}: {told:?}"),
                _ => assert!(told.is_empty(), "{file}: {told:?}"),
            }
            // What it was told live is recorded beside the samples, and reads as rendered.
            for notice in &series.notices {
                assert!(!oom_explain::render::warning::lines(notice, record.context.id).is_empty());
            }
        }
    }
}
