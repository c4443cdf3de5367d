//! The layout and order of every report, whatever the cause.

use super::*;
use crate::classify::{Block, Growth, HeavyTask, Spike, Victim, Workers};
use crate::config::Config;
use crate::recommend::recommend;
use crate::step::StepId;
use crate::step::StepKind;
use std::time::Duration;

const GIB: u64 = 1 << 30;

/// Every fact at its widest, to test the layout.
fn diagnosis(cause: Cause) -> Diagnosis {
    Diagnosis {
        secondary: Some(match cause {
            Cause::SteadyGrowth => Cause::Tmpfs,
            _ => Cause::SteadyGrowth,
        })
        .filter(|_| cause.is_kill()),
        // One kill: the victim's name is shown then, the longer line.
        oom_kills: if cause.is_kill() { 1 } else { 0 },
        limit: Some(512 * GIB),
        throttled: if cause == Cause::NearMiss { 123_456 } else { 0 },
        soft_limit: Some(500 * GIB),
        peak: Some(if cause == Cause::Unknown {
            300 * GIB
        } else {
            500 * GIB
        }),
        peak_unreclaimable: Some(470 * GIB),
        // "at least 500 GiB": the longer text.
        peak_is_lower_bound: true,
        job_peak: Some(100 * GIB),
        job_limit: Some(512 * GIB),
        victim: Some(Victim {
            pid: 7,
            name: "fifteen_chars15".into(),
            rss: Some(500 * GIB),
        }),
        slurm_allocation: Some(500 * GIB),
        shmem: Some(400 * GIB),
        workers: Some(Workers {
            count: 128,
            each: 3 * GIB,
            name: "python3.11-worker".into(),
            processes: 129,
            resident_sum: 384 * GIB,
            at_kill: true,
            cpus: Some(4),
        }),
        growth: Some(Growth {
            per_minute: 999 * GIB,
            over: Duration::from_secs(6 * 86400),
            level: None,
        }),
        spike: Some(Spike {
            before: 100 * GIB,
            rise: Duration::from_secs(3599),
            after: Duration::from_secs(6 * 86400),
        }),
        heavy_task: Some(HeavyTask {
            task: 1023,
            peak: 500 * GIB,
            others: 100 * GIB,
            tasks: 1024,
        }),
        others_usage: Some(400 * GIB),
        block: Some(Block {
            held_before: 100 * GIB,
            size: 300 * GIB,
        }),
        kill_at: Some(Duration::from_secs(3)),
        shape: Some((vec![8; 24], Duration::from_secs(6 * 86400 + 23 * 3600))),
        ended_well: cause.is_kill(),
        ..Diagnosis::new(cause)
    }
}

#[test]
fn every_line_fits_a_terminal_even_with_long_ids() {
    // A site that cannot fit any recommendation, with long names: every escalation line.
    let plain = Config::default();
    let site = Config {
        max_mem: Some(GIB),
        highmem_partition: Some("highmem-long-partition-name".into()),
        support: Some("hpc-support-team@computing.example-university.edu".into()),
        help_url: Some("https://hpc.example-university.edu/docs/memory/oom".into()),
        ..Config::default()
    };
    let steps = [
        StepKind::Batch,
        StepKind::Numbered(99_999),
        StepKind::Interactive,
    ];
    // "less than a second" is the longest duration text, "6 d 23 h" a long run's.
    let times = [
        Duration::from_millis(300),
        Duration::from_secs(7 * 24 * 3600 - 1),
    ];
    for (step, elapsed) in steps.into_iter().flat_map(|s| times.map(|t| (s, t))) {
        let context = StepContext {
            elapsed: Some(elapsed),
            exit_statuses: vec![9],
            cpus_per_task: Some(4),
            // Slurm's default MaxJobId is 67043328: job ids have at most 8 digits.
            ..StepContext::new(StepId {
                job: 67_043_328,
                step,
            })
        };
        // About a dozen lines: 18 when every fact is at its widest at once (a 6-digit step, a
        // second cause, a picture, two symptoms, the kill named in the headline, the pointer to
        // earlier runs); a site whose nodes cannot fit the request adds up to five (where to
        // go, whom to ask, where to read more).
        for (cause, site, most) in Cause::all().flat_map(|c| [(c, &plain, 18), (c, &site, 23)]) {
            let d = diagnosis(cause);
            let rec = recommend(&d, &context, site);
            let lines = render(&d, rec.as_ref(), &context, site);
            assert!(lines[0].starts_with(PREFIX));
            assert_eq!(lines.last().unwrap(), &format!("  cause: {}", cause.id()));
            assert!(lines.len() <= most, "{} lines: {lines:#?}", lines.len());
            for line in &lines {
                assert!(
                    line.chars().count() <= 80,
                    "{} chars: {line}",
                    line.chars().count()
                );
            }
        }
    }
}

#[test]
fn a_peak_the_kernel_did_not_keep_is_said_as_a_lower_bound() {
    let context = StepContext::new(StepId {
        job: 1,
        step: StepKind::Batch,
    });
    let d = Diagnosis {
        peak: Some(300 << 20),
        limit: Some(GIB),
        peak_is_lower_bound: true,
        ..Diagnosis::new(Cause::None)
    };
    let text = one_line(render(&d, None, &context, &Config::default()));
    assert!(
        text.contains("highest memory use at least 300 MiB of 1.0 GiB (29 %)"),
        "{text}"
    );
}

#[test]
fn the_sacct_caveat_is_only_for_releases_whose_max_rss_is_sampled() {
    let d = Diagnosis {
        oom_kills: 1,
        peak: Some(GIB),
        limit: Some(GIB),
        ..Diagnosis::new(Cause::UnderAllocation)
    };
    let text = |release: &str| {
        let context = StepContext {
            slurm: crate::slurm::SlurmRelease::parse(release),
            ..StepContext::new(StepId {
                job: 1,
                step: StepKind::Batch,
            })
        };
        let rec = recommend(&d, &context, &Config::default());
        one_line(render(&d, rec.as_ref(), &context, &Config::default()))
    };
    assert!(text("22.05.8").contains("may read below the limit"));
    assert!(!text("24.11.5").contains("MaxRSS"));
    assert!(!text("26.05.5").contains("MaxRSS"));
}

#[test]
fn where_memory_is_not_the_fix_it_comes_after_the_real_fix() {
    let context = StepContext::new(StepId {
        job: 1,
        step: StepKind::Batch,
    });
    for cause in [
        Cause::SteadyGrowth,
        Cause::WorkerMultiplication,
        Cause::Tmpfs,
    ] {
        let d = diagnosis(cause);
        let lines = render(
            &d,
            recommend(&d, &context, &Config::default()).as_ref(),
            &context,
            &Config::default(),
        );
        let fix = lines
            .iter()
            .position(|l| l.starts_with("  What to do:"))
            .unwrap();
        let mem = lines
            .iter()
            .position(|l| l.contains("#SBATCH --mem="))
            .unwrap();
        assert!(fix < mem, "{lines:#?}");
        assert!(
            lines[fix..mem]
                .iter()
                .any(|l| l.starts_with("  Meanwhile, more memory")),
            "{lines:#?}"
        );
    }
    // Not the user's fault: no request to change.
    assert!(recommend(&diagnosis(Cause::NodeOom), &context, &Config::default()).is_none());
}

#[test]
fn a_request_beyond_the_site_limit_says_where_to_go() {
    let context = StepContext::new(StepId {
        job: 1,
        step: StepKind::Batch,
    });
    let d = Diagnosis {
        oom_kills: 1,
        limit: Some(200 * GIB),
        job_limit: Some(200 * GIB),
        peak: Some(200 * GIB),
        ..Diagnosis::new(Cause::UnderAllocation)
    };
    let site = Config {
        max_mem: Some(256 * GIB),
        highmem_partition: Some("bigmem".into()),
        support: Some("hpc-help@example.org".into()),
        help_url: Some("https://hpc.example.org/oom".into()),
        ..Config::default()
    };
    let text = render(&d, recommend(&d, &context, &site).as_ref(), &context, &site).join("\n");
    assert!(text.contains("#SBATCH --mem=400G"), "{text}");
    assert!(
        text.contains(
            "That is more than a node here offers (256 GiB): use the high-memory partition,"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n      #SBATCH --partition=bigmem\n    or ask hpc-help@example.org."),
        "{text}"
    );
    assert!(
        text.contains("  More: https://hpc.example.org/oom"),
        "{text}"
    );
    // Within the site's limit: no escalation.
    let roomy = Config {
        max_mem: Some(1024 * GIB),
        ..site
    };
    let text = render(
        &d,
        recommend(&d, &context, &roomy).as_ref(),
        &context,
        &roomy,
    )
    .join("\n");
    assert!(!text.contains("more than a node"), "{text}");
}

#[test]
fn modes_choose_causes() {
    assert!(wanted(Mode::Oom, Cause::UnderAllocation));
    assert!(wanted(Mode::Oom, Cause::NodeOom));
    assert!(!wanted(Mode::Oom, Cause::NearMiss));
    assert!(!wanted(Mode::Auto, Cause::None));
    assert!(wanted(Mode::Always, Cause::None));
}

/// The report as one line, to find phrases whatever the wrapping.
fn one_line(lines: Vec<String>) -> String {
    lines
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn what_else_the_user_may_see_is_said_only_where_it_applies() {
    let context = StepContext {
        elapsed: Some(Duration::from_secs(600)),
        slurm: crate::slurm::SlurmRelease::parse("24.11.5"),
        ..StepContext::new(StepId {
            job: 1,
            step: StepKind::Batch,
        })
    };
    let pool = Diagnosis {
        oom_kills: 1,
        limit: Some(GIB),
        peak: Some(GIB),
        victim: Some(Victim {
            pid: 7,
            name: "python3".into(),
            rss: Some(300 << 20),
        }),
        kill_at: Some(Duration::from_secs(5)),
        workers: Some(Workers {
            count: 4,
            each: 250 << 20,
            name: "python3".into(),
            processes: 5,
            resident_sum: GIB,
            at_kill: true,
            cpus: Some(4),
        }),
        ..Diagnosis::new(Cause::WorkerMultiplication)
    };
    let text = |d: &Diagnosis| {
        let rec = recommend(d, &context, &Config::default());
        one_line(render(d, rec.as_ref(), &context, &Config::default()))
    };
    // Hung after losing a worker until the end: the traceback and the TIMEOUT are this kill.
    let hung = text(&pool);
    assert!(hung.contains("\"BrokenProcessPool\""), "{hung}");
    assert!(
        hung.contains("It ran on for 9 min after the kill. A TIMEOUT"),
        "{hung}"
    );
    assert!(!hung.contains("ended normally"), "{hung}");
    // Carried on and ended well: the results may be incomplete; no hang.
    let carried_on = text(&Diagnosis {
        ended_well: true,
        ..pool.clone()
    });
    assert!(carried_on.contains("ended normally: check that its results are complete"));
    assert!(!carried_on.contains("TIMEOUT"), "{carried_on}");
    // Finished without a kill: nothing else to see.
    let fine = text(&Diagnosis {
        peak: Some(950 << 20),
        peak_unreclaimable: Some(950 << 20),
        ..Diagnosis::new(Cause::NearMiss)
    });
    assert!(!fine.contains("You may also see"), "{fine}");
    assert!(
        fine.starts_with("oom-explain: Your job script finished"),
        "{fine}"
    );
}

#[test]
fn the_pointer_to_earlier_runs_is_the_sites_choice() {
    let context = StepContext::new(StepId {
        job: 41,
        step: StepKind::Batch,
    });
    let d = diagnosis(Cause::UnderAllocation);
    let said = |site: &Config| {
        let rec = recommend(&d, &context, site);
        one_line(render(&d, rec.as_ref(), &context, site))
    };
    let hint = "If it ran before, `oom-explain suggest 41` sizes it from all its runs.";
    assert!(said(&Config::default()).contains(hint));
    let without_slurmdbd = Config {
        suggest_hint: false,
        ..Config::default()
    };
    assert!(!said(&without_slurmdbd).contains("oom-explain suggest"));
}
