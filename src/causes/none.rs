//! Nothing to say: the one-line summary of `--oom-explain=always`.

use super::{Cause, Definition, Diagnosis, Explanation, Facts, Need, Words};

pub const DEFINITION: Definition = Definition {
    cause: Cause::None,
    id: "none",
    doc: "No kill, no near miss, no over-request. Reported only with --oom-explain=always, as \
          one line with the peak.",
    detect: |_: &Facts, _: &mut Diagnosis| true,
    explain,
    also: None,
    for_admins: "nothing to do",
    kill: false,
    need: Need::Nothing,
    ask_support: false,
    sacct_may_mislead: false,
    memory_is_a_workaround: |_| false,
};

fn explain(d: &Diagnosis, w: &Words) -> Explanation {
    let peak = match d.peak_unreclaimable.or(d.peak) {
        Some(_) => format!("highest memory use {}", w.peak_of_limit()),
        None => "no memory figures".into(),
    };
    // Fine itself, but another step of the job was killed: say so, not "fine".
    let headline = match d.job_oom_kills > d.oom_kills {
        true => format!(
            "{} finished, but another step of the job ran out of memory (see its report): \
             check your results. Its own {}.",
            w.who(),
            peak.replacen("highest memory use ", "highest memory use was ", 1)
        ),
        false => format!("{} finished; {peak}: fine.", w.who()),
    };
    Explanation {
        picture: None,
        headline,
        ..Explanation::default()
    }
}
