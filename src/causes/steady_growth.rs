//! Memory that rose steadily until the kill: still climbing (kept results, a leak) or slowing
//! towards a level it never reached.

use std::time::Duration;

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Growth, Need, Words, share};
use crate::evidence::sampler::{Sample, Series};
use crate::size::{duration, human};

pub const DEFINITION: Definition = Definition {
    cause: Cause::SteadyGrowth,
    id: "steady-growth",
    doc: "Memory the program holds rose in a nearly straight line (R² ≥ 0.85) over most of the \
          run, by at least half the limit, until the kill. Still climbing at the kill, more \
          memory only delays it: the report says so and points to results kept until the end, \
          caches without a cap or a leak, offering a larger request only as a way to get \
          further meanwhile. A rise that was clearly slowing down is heading for a level: that \
          level plus headroom is the request.",
    detect,
    explain,
    also: Some(|d| {
        Some(format!(
            "its memory had been growing steadily ({}/min).",
            human(d.growth?.per_minute)
        ))
    }),
    // A rise heading for a level needs that level: memory is the fix there.
    for_admins: "memory grows until killed: look for a leak or an unbounded cache",
    kill: true,
    need: Need::KilledAtTheLimit,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |d| d.growth.is_some_and(|g| g.level.is_none()),
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    let Some((series, limit)) = f.series_of_kill(d) else {
        return false;
    };
    d.growth = steady_growth(series, limit);
    d.growth.is_some()
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let g = d.growth.expect("steady growth has its facts");
    let headline = w.ran_out();
    let rate = format!(
        "Its memory grew steadily, about {}/min for {},",
        human(g.per_minute),
        duration(g.over)
    );
    match g.level {
        Some(level) => Explanation {
            headline,
            seen: vec![format!(
                "{rate} more and more slowly: it was heading for about {} when the kernel \
                 killed {} at the {} limit.",
                human(level),
                w.killed(),
                w.limit()
            )],
            todo: vec!["Give it room for that level.".into()],
            picture: w.picture(),
        },
        None => Explanation {
            headline,
            seen: vec![format!(
                "{rate} and was still growing when the kernel killed {} at the {} limit.",
                w.killed(),
                w.limit()
            )],
            todo: vec![format!(
                "It keeps what it makes (results kept to the end, a cache with no cap, a \
                     leak): write results out as you go, or cap the cache. At that rate, twice \
                     the memory buys only about {} more, unless it was still reading its input.",
                duration(std::time::Duration::from_secs(
                    d.any_limit().unwrap_or(0) * 60 / g.per_minute.max(1)
                ))
            )],
            picture: w.picture(),
        },
    }
}

/// Use rose steadily to the end, by at least half the limit, in a nearly straight line
/// (R² ≥ 0.85), over at least 15 s and 6 samples, and over half the run or at least a minute.
/// (A few seconds of rise is a program allocating what it needs, however slow the machine: the
/// same job must not become a leak on a slower node.)
pub fn steady_growth(series: &Series, limit: u64) -> Option<Growth> {
    let samples = &series.samples;
    let last = samples.last()?;
    // From the first moment above 5 % of the limit (start-up is not growth).
    let start = samples.iter().position(|s| share(s.held(), limit, 5))?;
    let top_held = series.peak_held()?.held();
    let top_index = samples.iter().rposition(|s| s.held() == top_held)?;
    let rising = samples.get(start..=top_index)?;
    let (first, top) = (rising.first()?, rising.last()?);
    let over = top.at.checked_sub(first.at)?;
    let long_enough =
        over.as_secs_f64() >= 0.5 * last.at.as_secs_f64() || over >= Duration::from_secs(60);
    if rising.len() < 6 || over < Duration::from_secs(15) || !long_enough {
        return None;
    }
    if !share(top.held().saturating_sub(first.held()), limit, 50) {
        return None;
    }
    let (slope, r2) = linear_fit(rising);
    (slope > 0.0 && r2 >= 0.85).then_some(Growth {
        per_minute: (slope * 60.0) as u64,
        over,
        level: levelling_off(rising, limit),
    })
}

/// The level a slowing rise is heading for, by Aitken's extrapolation over three equally spaced
/// points (exact for an exponential approach to a plateau). None for a rise that is not slowing
/// clearly (a leak), or whose level would be beyond ten times the limit (no real evidence).
/// Only the rise below 80 % of the limit counts: nearer, the kernel's reclaim (and on cgroup v2
/// under Slurm 22.05, memory.high set at the limit) slows any allocation down.
fn levelling_off(rising: &[Sample], limit: u64) -> Option<u64> {
    let below = rising
        .iter()
        .position(|s| share(s.held(), limit, 80))
        .unwrap_or(rising.len());
    let rising = &rising[..below];
    if rising.len() < 6 {
        return None;
    }
    let (first, last) = (rising.first()?, rising.last()?);
    // The middle point exactly halfway in time, between the two samples around it.
    let middle = first
        .at
        .saturating_add(last.at.saturating_sub(first.at) / 2)
        .as_secs_f64();
    let after = rising.iter().position(|s| s.at.as_secs_f64() >= middle)?;
    let (a, b) = (&rising[after.saturating_sub(1)], &rising[after]);
    let span = b.at.saturating_sub(a.at).as_secs_f64();
    let part = if span > 0.0 {
        (middle - a.at.as_secs_f64()) / span
    } else {
        0.0
    };
    let u2 = a.held() as f64 + part * (b.held() as f64 - a.held() as f64);
    let (u1, u3) = (first.held() as f64, last.held() as f64);
    let (d1, d2) = (u2 - u1, u3 - u2);
    if d1 <= 0.0 || d2 <= 0.0 || d2 > 0.85 * d1 {
        return None;
    }
    let level = u3 + d2 * d2 / (d1 - d2);
    (level < 10.0 * limit as f64).then_some(level as u64)
}

/// Least squares of memory held (bytes) against time (s): (slope in bytes/s, R²).
pub(crate) fn linear_fit(samples: &[Sample]) -> (f64, f64) {
    let n = samples.len() as f64;
    let xs: Vec<f64> = samples.iter().map(|s| s.at.as_secs_f64()).collect();
    let ys: Vec<f64> = samples.iter().map(|s| s.held() as f64).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let syy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 {
        return (0.0, 0.0);
    }
    (sxy / sxx, sxy * sxy / (sxx * syy))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn series(usage: impl Fn(f64) -> f64, seconds: u64) -> Series {
        Series {
            interval: Duration::from_secs(1),
            samples: (0..=seconds)
                .map(|t| Sample::usage_only(Duration::from_secs(t), usage(t as f64) as u64))
                .collect(),
            ..Series::default()
        }
    }

    #[test]
    fn a_rise_that_slows_down_is_heading_for_its_level() {
        // A cache warming up towards 1.6 GiB (time constant 40 s), killed at 1 GiB after 40 s.
        let warming = series(|t| 1638.0 * MIB as f64 * (1.0 - (-t / 40.0).exp()), 40);
        let growth = steady_growth(&warming, 1024 * MIB).expect("steady growth");
        let level = growth.level.expect("a level") / MIB;
        assert!((1500..1800).contains(&level), "{level} MiB");
    }

    #[test]
    fn a_leak_has_no_level() {
        let leak = series(|t| (20.0 + 25.0 * t) * MIB as f64, 40);
        let growth = steady_growth(&leak, 1024 * MIB).expect("steady growth");
        assert_eq!(growth.level, None);
    }

    #[test]
    fn allocating_for_a_few_seconds_is_no_leak_however_slow_the_machine() {
        // 400 MiB in 10 MiB pieces on a slow (emulated) machine: 10 s to the 300 MiB limit,
        // slowing near it as the kernel reclaims.
        let slow = series(
            |t| {
                let mib = 30.0 * t;
                (if mib > 240.0 {
                    240.0 + (mib - 240.0) / 3.0
                } else {
                    mib
                }) * MIB as f64
            },
            10,
        );
        assert_eq!(steady_growth(&slow, 300 * MIB), None);
    }

    #[test]
    fn slowing_near_the_limit_is_not_a_level() {
        // A straight leak of 12 MiB/s that the kernel slows down past 80 % of the limit.
        let leak = series(
            |t| {
                let mib = 12.0 * t;
                (if mib > 250.0 {
                    250.0 + (mib - 250.0) / 4.0
                } else {
                    mib
                }) * MIB as f64
            },
            30,
        );
        let growth = steady_growth(&leak, 300 * MIB).expect("steady growth");
        assert_eq!(growth.level, None, "{growth:?}");
    }
}
