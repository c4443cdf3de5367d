//! Steps running at the same time filled the job's shared limit.

use super::{
    AT_LIMIT_PERCENT, Cause, Definition, Diagnosis, Explanation, Facts, Need, Words, reached, share,
};
use crate::size::human;

pub const DEFINITION: Definition = Definition {
    cause: Cause::OtherStep,
    id: "other-step",
    doc: "The job's limit, which all its steps share, filled up; this step alone did not fill \
          it, and the other steps held at least a quarter of it. The fix is to run the steps one \
          after another, give each its share (srun --mem=…), or give the job enough for all at \
          once: what the others held plus twice this step's share.",
    detect,
    explain,
    also: Some(|d| {
        Some(format!(
            "the job's other srun lines held {}.",
            human(d.others_usage?)
        ))
    }),
    for_admins: "steps share the job's memory: give each step its own --mem",
    kill: true,
    need: Need::SharedJobLimit,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| false,
};

fn detect(f: &Facts, d: &mut Diagnosis) -> bool {
    if !f.killed_at_own_limit(d) {
        return false;
    }
    // Not just slurmstepd or an idle batch shell: the other steps held a real share.
    if let (Some(own), Some(jp), Some(jl)) = (f.snapshot.step.peak, d.job_peak, d.job_limit)
        && reached(Some(jp), Some(jl))
        && !share(own, jl, AT_LIMIT_PERCENT)
        && share(jp.saturating_sub(own), jl, 25)
    {
        d.others_usage = Some(jp.saturating_sub(own));
        return true;
    }
    false
}

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let job_limit = d.job_limit.or(d.limit).unwrap_or(0);
    Explanation {
        picture: None,
        headline: w.ran_out(),
        seen: vec![format!(
            "All srun lines of a job that run at the same time share its {} limit: this one \
             held {}, the other srun lines {}, when the kernel killed {}.",
            human(job_limit),
            human(d.peak.unwrap_or(0)),
            human(d.others_usage.unwrap_or(0)),
            w.killed()
        )],
        todo: vec!["Run them one after another, or give each its share (srun --mem=…).".into()],
    }
}
