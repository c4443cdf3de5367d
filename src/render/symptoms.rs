//! What else the user may see because of the kill, said next to it so it is not chased as a
//! second problem: an error from a pool that lost a worker, a job that then hung until its
//! time limit, a script that carried on, sacct's figures.

use std::time::Duration;

use crate::causes::Diagnosis;
use crate::size::duration;
use crate::step::{StepContext, StepKind};

/// A step still running this long after a kill was left waiting on what was killed.
const HUNG_AFTER: Duration = Duration::from_secs(60);

pub fn lines(d: &Diagnosis, context: &StepContext) -> Vec<String> {
    let mut out = Vec::new();
    // Only after an OOM kill (Slurm's own check kills the whole step: nothing carries on).
    if d.oom_kills == 0 {
        return out;
    }
    let victim = d.victim.as_ref().map(|v| v.name.as_str()).unwrap_or("");
    let several = d.workers.is_some() || d.oom_kills > 1;
    // A pool's parent fails when a worker dies; copies started side by side just go on.
    if victim.starts_with("python") && several && !d.ended_well {
        out.push(
            "If a \"BrokenProcessPool\" or \"terminated abruptly\" error is above, it comes \
             from this kill."
                .into(),
        );
    }
    if let (Some(kill), Some(end)) = (d.kill_at, context.elapsed)
        && end.saturating_sub(kill) >= HUNG_AFTER
        && !d.ended_well
    {
        out.push(format!(
            "It ran on for {} after the kill. A TIMEOUT at the end is this kill too (a program \
             waiting on a killed helper hangs): more --time will not help.",
            duration(end - kill)
        ));
    }
    if d.ended_well {
        out.push(
            "It went on after the kill and ended normally: check that its results are \
             complete."
                .into(),
        );
    }
    // A killed srun line does not stop the script: the job may still end COMPLETED.
    if matches!(context.id.step, StepKind::Numbered(_)) && !d.ended_well {
        out.push(
            "If your script went on after this srun line, the job may end as COMPLETED: check \
             your results."
                .into(),
        );
    }
    // Before 24.11 sacct's MaxRSS is a sample taken every few seconds (JobAcctGatherFrequency).
    let max_rss_sampled = !context.slurm.is_some_and(|r| r.max_rss_is_peak());
    if d.cause.definition().sacct_may_mislead && max_rss_sampled {
        out.push(
            "sacct's MaxRSS (Slurm's peak-memory figure) may read below the limit: Slurm \
             measures only now and then."
                .into(),
        );
    }
    out
}
