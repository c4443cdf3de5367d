use super::*;
use crate::evidence::sampler::{Sample, Series, next_wake};

const MIB: f64 = 1048576.0;
const LIMIT: u64 = 1 << 30;

fn settings() -> Settings {
    Settings {
        ahead: Duration::from_secs(3600),
        above_percent: 50,
    }
}

/// Runs a step whose held memory is `held(t)` (MiB at t seconds) for `length` seconds, read
/// when the sampler's loop would read it (full samples on the series' doubling interval, the
/// forecast's readings between them); what it was told.
fn run(length: f64, held: impl Fn(f64) -> f64) -> Vec<Notice> {
    run_with(settings(), LIMIT, length, held)
}

fn run_with(settings: Settings, limit: u64, length: f64, held: impl Fn(f64) -> f64) -> Vec<Notice> {
    let mut forecast = Forecast::new(settings);
    let mut series = Series::default();
    let mut next_sample = Duration::ZERO;
    let mut told = Vec::new();
    let mut at = Duration::ZERO;
    while at.as_secs_f64() < length {
        let bytes = (held(at.as_secs_f64()) * MIB).clamp(0.0, limit.max(1) as f64 * 4.0) as u64;
        let bytes = if limit > 0 { bytes.min(limit) } else { bytes };
        if at >= next_sample {
            series.push(Sample::usage_only(at, bytes));
            next_sample = at + series.interval;
        }
        let room = Room {
            held: bytes,
            limit,
            own: bytes,
        };
        told.extend(forecast.observe(at, room, true));
        let due = (!forecast.finished()).then(|| forecast.due(at));
        at += next_wake(at, next_sample, due).max(Duration::from_millis(1));
    }
    told
}

fn warnings(told: &[Notice]) -> Vec<(f64, f64)> {
    told.iter()
        .filter_map(|n| match n {
            Notice::Warning { at, left, .. } => Some((at.as_secs_f64(), left.as_secs_f64())),
            _ => None,
        })
        .collect()
}

/// A leak from 100 MiB reaching the 1 GiB limit at `end` seconds.
fn leak(end: f64) -> impl Fn(f64) -> f64 {
    move |t| 100.0 + 924.0 * t / end
}

#[test]
fn a_steady_leak_is_warned_well_ahead_with_the_time_it_has_left() {
    for end in [90.0, 600.0, 4.0 * 3600.0] {
        let told = run(end, leak(end));
        let warned = warnings(&told);
        assert_eq!(warned.len(), 1, "leak to {end} s: {told:?}");
        let (at, left) = warned[0];
        let truly_left = end - at;
        assert!(truly_left >= 20.0, "leak to {end} s: warned at {at} s");
        assert!(
            (left - truly_left).abs() <= truly_left * 0.2,
            "leak to {end} s: said {left} s left at {at} s, truly {truly_left} s"
        );
    }
}

#[test]
fn a_leak_that_starts_late_in_a_week_long_job_is_warned_in_time() {
    let week = 7.0 * 86400.0;
    let start = week - 2.0 * 3600.0; // flat at 400 MiB for 6 days 22 hours, then 2 hours to the limit
    let told = run(week, |t| {
        400.0
            + (t as u64 % 7) as f64
            + if t > start {
                624.0 * (t - start) / 7200.0
            } else {
                0.0
            }
    });
    let warned = warnings(&told);
    assert_eq!(warned.len(), 1, "{told:?}");
    assert!(week - warned[0].0 >= 20.0 * 60.0, "{told:?}");
}

#[test]
fn growth_that_levels_off_below_the_limit_is_not_warned_or_the_warning_is_withdrawn() {
    // Loads to 85 % of the limit in a minute, then holds it for ten.
    let told = run(660.0, |t| 870.0_f64.min(100.0 + 770.0 * t / 60.0));
    assert_silent_or_withdrawn_by(&told, 60.0 + 40.0);
}

/// Nothing told, or one warning withdrawn by `by` seconds.
fn assert_silent_or_withdrawn_by(told: &[Notice], by: f64) {
    match told {
        [] => {}
        [Notice::Warning { .. }, Notice::Withdrawn { at, .. }] => {
            assert!(at.as_secs_f64() <= by, "withdrawn late: {told:?}")
        }
        _ => panic!("{told:?}"),
    }
}

#[test]
fn a_steady_job_and_a_saw_tooth_of_loading_and_freeing_get_no_warning() {
    assert_eq!(run(3600.0, |t| 700.0 + (t as u64 % 13) as f64), vec![]);
    // Epochs of 90 s: load to 900 MiB, free to 300 MiB. The first climb alone cannot tell a
    // leak from a load that will be freed: it may be warned, and then withdrawn.
    let told = run(3600.0, |t| 300.0 + 600.0 * (t % 90.0) / 90.0);
    assert_silent_or_withdrawn_by(&told, 90.0 + 30.0);
}

#[test]
fn one_spike_is_no_trend() {
    let told = run(600.0, |t| {
        if (300.0..301.0).contains(&t) {
            1000.0
        } else {
            600.0
        }
    });
    assert_eq!(told, vec![]);
}

#[test]
fn a_slow_climb_far_from_the_limit_waits_until_it_is_close() {
    let hours = |h: f64| h * 3600.0;
    // 10 hours to the limit: no warning with more than an hour (the site's `warn_ahead`) left.
    let told = run(hours(10.0), leak(hours(10.0)));
    let warned = warnings(&told);
    assert_eq!(warned.len(), 1, "{told:?}");
    assert!(warned[0].1 <= 3600.0 && hours(10.0) - warned[0].0 <= 3600.0 * 1.2);
}

#[test]
fn the_site_decides_how_far_ahead_and_from_which_share() {
    let late = Settings {
        ahead: Duration::from_secs(30),
        above_percent: 50,
    };
    let warned = warnings(&run_with(late, LIMIT, 600.0, leak(600.0)));
    assert!(warned.len() == 1 && warned[0].1 <= 30.0, "{warned:?}");
    // A fast climb from nothing, but the site warns only above 90 %.
    let high = Settings {
        ahead: Duration::from_secs(3600),
        above_percent: 90,
    };
    let told = run_with(high, LIMIT, 600.0, |t| 1024.0 * t / 600.0);
    let Some(Notice::Warning { held, .. }) = told.first() else {
        panic!("{told:?}")
    };
    assert!(*held >= LIMIT / 100 * 90, "{told:?}");
}

#[test]
fn growth_that_stops_and_starts_again_is_told_a_few_times_at_most() {
    // Climbs for two minutes, holds for three, again and again, never reaching the limit.
    let told = run(3.0 * 3600.0, |t| {
        let cycle = (t / 300.0).floor();
        let into = t % 300.0;
        let base = (cycle * 40.0) % 200.0 + 400.0;
        base + 400.0 * into.min(120.0) / 120.0
    });
    assert!(told.len() <= MAX_NOTICES, "{told:?}");
    if let Some(Notice::Warning { .. }) = told.last() {
        panic!("a warning left standing: {told:?}");
    }
}

#[test]
fn a_step_without_a_limit_is_never_warned() {
    let told = run_with(settings(), 0, 600.0, leak(600.0));
    assert_eq!(told, vec![]);
}

#[test]
fn a_load_in_steps_that_stops_short_is_warned_while_it_climbs_and_withdrawn_soon_after() {
    // As the lab's levels-off scenario: 4 MiB every 0.52 s up to 290 MiB of 350 MiB (at 36 s),
    // then held.
    let limit = 350 << 20;
    let told = run_with(settings(), limit, 100.0, |t| {
        10.0 + 4.0 * (t / 0.52).floor().min(70.0)
    });
    let [
        Notice::Warning { at, left, .. },
        Notice::Withdrawn { at: withdrawn, .. },
    ] = told.as_slice()
    else {
        panic!("{told:?}")
    };
    // While it still climbed (not once it had stopped), with the time the climb then left.
    assert!(at.as_secs_f64() < 36.0, "{told:?}");
    let then_left = (350.0 - (10.0 + 4.0 * (at.as_secs_f64() / 0.52).floor())) / (4.0 / 0.52);
    assert!(
        (left.as_secs_f64() - then_left).abs() <= then_left * 0.25,
        "{told:?}"
    );
    assert!(withdrawn.as_secs_f64() < 36.0 + 25.0, "{told:?}");
}

#[test]
fn a_late_leak_in_a_job_of_hours_is_warned_minutes_ahead() {
    // Flat at 400 MiB for 3 h (and for 6 h), then a leak to the limit in 20 minutes.
    for flat_hours in [3.0, 6.0] {
        let start = flat_hours * 3600.0;
        let end = start + 1200.0;
        let told = run(end, |t| {
            400.0
                + if t > start {
                    624.0 * (t - start) / 1200.0
                } else {
                    0.0
                }
        });
        let warned = warnings(&told);
        assert_eq!(warned.len(), 1, "{flat_hours} h: {told:?}");
        assert!(end - warned[0].0 >= 300.0, "{flat_hours} h: {told:?}");
        let truly_left = end - warned[0].0;
        assert!(
            (warned[0].1 - truly_left).abs() <= truly_left * 0.3,
            "{flat_hours} h: {told:?}"
        );
    }
}

#[test]
fn a_leak_that_grows_in_steps_is_not_withdrawn_between_them() {
    // 50 MiB more every minute from 300 MiB: the limit (1 GiB) after about 15 minutes.
    let told = run(900.0, |t| 300.0 + 50.0 * (t / 60.0).floor());
    assert!(
        matches!(told.last(), Some(Notice::Warning { .. })),
        "the last word before the kill must be the warning: {told:?}"
    );
}

#[test]
fn nothing_is_decided_while_it_cannot_be_told() {
    let mut forecast = Forecast::new(settings());
    let mut at = Duration::ZERO;
    let mut told = Vec::new();
    // A leak read when it cannot be told (as near the limit): no notice is lost, it comes at
    // the first reading that can tell it.
    while at < Duration::from_secs(90) {
        let mib = 100.0 + 924.0 * at.as_secs_f64() / 100.0;
        let bytes = (mib * MIB) as u64;
        let room = Room {
            held: bytes,
            limit: LIMIT,
            own: bytes,
        };
        let can_tell = at > Duration::from_secs(80);
        told.extend(forecast.observe(at, room, can_tell).map(|n| (at, n)));
        at = forecast.due(at);
    }
    assert!(
        matches!(told.as_slice(), [(at, Notice::Warning { .. })] if *at > Duration::from_secs(80)),
        "{told:?}"
    );
}

#[test]
fn a_step_whose_job_grows_by_another_steps_memory_is_not_warned() {
    // The job's limit is the tight one, and another step of the job makes it climb.
    let mut forecast = Forecast::new(settings());
    let mut at = Duration::ZERO;
    while at < Duration::from_secs(100) {
        let job = ((100.0 + 924.0 * at.as_secs_f64() / 100.0) * MIB) as u64;
        let room = Room {
            held: job,
            limit: LIMIT,
            own: 50 << 20,
        };
        assert_eq!(forecast.observe(at, room, true), None, "at {at:?}");
        at = forecast.due(at);
    }
}
