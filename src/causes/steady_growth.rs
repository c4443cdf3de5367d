//! Memory that rose steadily until the kill: still climbing (kept results, a leak) or slowing
//! towards a level it never reached.

use std::time::Duration;

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Growth, Words, share};
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
    memory_is_a_workaround: |d| d.growth.is_some_and(|g| g.level.is_none()),
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    if !f.killed_at_own_limit(d) {
        return false;
    }
    let (Some(series), Some(limit)) = (&f.series, d.any_limit()) else {
        return false;
    };
    d.growth = steady_growth(series, limit);
    d.growth.is_some()
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let g = d.growth.expect("steady growth has its facts");
    let headline = format!("{} ran out of memory{} and was killed.", w.who(), w.after());
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
            todo: vec![
                "It keeps what it makes (results kept to the end, a cache with no cap, a \
                 leak): write results out as you go, or cap the cache. If it was still reading \
                 its input, it just needs more."
                    .into(),
            ],
            picture: w.picture(),
        },
    }
}

/// Use rose steadily to the end, by at least half the limit, in a nearly straight line
/// (R² ≥ 0.85), over at least 5 s and 6 samples, and over half the run or at least a minute.
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
    if rising.len() < 6 || over < Duration::from_secs(5) || !long_enough {
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
fn levelling_off(rising: &[Sample], limit: u64) -> Option<u64> {
    let (first, last) = (rising.first()?, rising.last()?);
    let middle = first.at + (last.at - first.at) / 2;
    let at_middle = rising.iter().min_by_key(|s| s.at.abs_diff(middle))?;
    let (u1, u2, u3) = (
        first.held() as f64,
        at_middle.held() as f64,
        last.held() as f64,
    );
    let (d1, d2) = (u2 - u1, u3 - u2);
    if d1 <= 0.0 || d2 <= 0.0 || d2 > 0.75 * d1 {
        return None;
    }
    let level = u3 + d2 * d2 / (d1 - d2);
    (level < 10.0 * limit as f64).then_some(level as u64)
}

/// Least squares of memory held (bytes) against time (s): (slope in bytes/s, R²).
fn linear_fit(samples: &[Sample]) -> (f64, f64) {
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
    fn a_quick_leak_from_the_start_is_still_growth() {
        // 30 MiB/s from the start, killed at 300 MiB after 9 s, sampled every 0.25 s.
        let leak = Series {
            samples: (0..=36)
                .map(|q| {
                    let t = q as f64 / 4.0;
                    Sample::usage_only(Duration::from_millis(q * 250), (30.0 * t) as u64 * MIB)
                })
                .collect(),
            ..Series::default()
        };
        assert!(steady_growth(&leak, 300 * MIB).is_some());
    }
}
