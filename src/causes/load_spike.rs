//! Calm, then a sharp rise to the limit near the end: typically a large input loaded whole.

use std::time::Duration;

use super::steady_growth::steady_growth;
use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Spike, Words, share};
use crate::evidence::sampler::Series;
use crate::size::{duration, human};

pub const DEFINITION: Definition = Definition {
    cause: Cause::LoadSpike,
    id: "load-spike",
    doc: "Memory stayed low (at most 40 % of the limit) for most of the run, then rose to the \
          limit within the last part. That is how loading a large input whole looks (data takes \
          several times its file size in memory); the report says so as a possibility, with the \
          fix (read it in pieces) and a larger request as the other way (data loaded whole may \
          really need it).",
    detect,
    explain,
    also: Some(|_| Some("memory rose sharply just before the end.".into())),
    for_admins: "loads inputs whole: read in chunks, or request for the peak",
    kill: true,
    need: Need::KilledAtTheLimit,
    ask_support: false,
    sacct_may_mislead: true,
    memory_is_a_workaround: |_| false,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    let Some((series, limit)) = f.series_of_kill(d) else {
        return false;
    };
    // A steady rise is not a spike, whichever is asked first.
    if steady_growth(series, limit).is_some() {
        return false;
    }
    d.spike = load_spike(series, limit);
    d.spike.is_some()
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let s = d.spike.expect("a load spike has its facts");
    Explanation {
        headline: w.ran_out(),
        seen: vec![format!(
            "For {} it used about {}; then, within {}, its memory shot up to the {} limit and \
             the kernel killed {}.",
            duration(s.after),
            human(s.before),
            duration(s.rise),
            w.limit(),
            w.killed()
        )],
        todo: vec![
            "If it was loading a large file whole then (pandas.read_csv, numpy.load…), reading \
             it in pieces or with Dask or Polars needs far less. Or ask for more memory."
                .into(),
        ],
        picture: w.picture(),
    }
}

/// Calm, then a sharp rise: use stayed at or below 40 % of the limit for at least 60 % of the
/// run (and at least 5 s), then climbed to the top in the remaining part.
pub fn load_spike(series: &Series, limit: u64) -> Option<Spike> {
    let samples = &series.samples;
    let top = series.peak_held()?;
    if !share(top.held(), limit, 80) {
        return None;
    }
    // The last sample before use first passed 40 % of the limit.
    let calm_end = samples
        .iter()
        .position(|s| share(s.held(), limit, 40))?
        .checked_sub(1)?;
    let calm = &samples[..=calm_end];
    let end = samples.last()?.at;
    let calm_until = calm.last()?.at;
    if calm_until < Duration::from_secs(5) || calm_until.as_secs_f64() < 0.6 * end.as_secs_f64() {
        return None;
    }
    // The typical level while calm (the median: the last calm samples may catch the rise).
    let mut levels: Vec<u64> = calm.iter().map(|s| s.held()).collect();
    levels.sort_unstable();
    Some(Spike {
        before: levels[levels.len() / 2],
        rise: top.at.saturating_sub(calm_until),
        after: calm_until,
    })
}
