//! What a step is told while it runs (docs/users.md, "Warnings while the job runs"): a warning
//! when memory is climbing towards the limit, and its withdrawal when the climb stops. Two
//! lines each, in the report's own voice, so a later reader of slurm-%j.err sees at once when
//! it was said and whether it still holds.

use crate::causes::words::step_words;
use crate::evidence::forecast::Notice;
use crate::size::{duration, human};
use crate::step::{StepId, StepKind};

use super::{PREFIX, layout};

/// The lines of one notice to step `id`: a job script's steps are named, as in the report.
pub fn lines(notice: &Notice, id: StepId) -> Vec<String> {
    let when = |at: &std::time::Duration| match id.step {
        StepKind::Batch => format!("after {}", duration(*at)),
        _ => format!("for {}, {} after it started", step_words(id), duration(*at)),
    };
    let paragraphs = match notice {
        Notice::Warning {
            at,
            held,
            limit,
            per_minute,
            left,
        } => vec![
            format!(
                "{PREFIX} Warning {}: memory is climbing by {} a minute.",
                when(at),
                human(*per_minute)
            ),
            format!(
                "  It holds {} of its {} limit: at this rate it is killed {}. Save your work \
                 if you can, or stop the job (scancel {}) and ask for more memory.",
                human(*held),
                human(*limit),
                time_left(*left),
                id.job
            ),
        ],
        Notice::Withdrawn { at, held, limit } => vec![
            format!(
                "{PREFIX} Update {}: memory stopped climbing at {} of its {} limit.",
                when(at),
                human(*held),
                human(*limit)
            ),
            "  The warning above no longer holds.".to_owned(),
        ],
    };
    layout::wrap(paragraphs)
}

/// "in about 6 min" (a warning leaves at least 10 s: forecast::MIN_LEFT), "any moment now"
/// should it ever leave less.
fn time_left(left: std::time::Duration) -> String {
    if left.as_secs() < 10 {
        "any moment now".to_owned()
    } else {
        format!("in about {}", duration(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIB: u64 = 1 << 20;
    const BATCH: StepId = StepId {
        job: 26,
        step: StepKind::Batch,
    };

    #[test]
    fn a_warning_and_its_withdrawal_read_plainly_and_fit_the_terminal() {
        let warning = Notice::Warning {
            at: Duration::from_secs(41 * 60 + 7),
            held: 3174 * MIB,
            limit: 4096 * MIB,
            per_minute: 150 * MIB,
            left: Duration::from_secs(6 * 60 + 10),
        };
        let withdrawn = Notice::Withdrawn {
            at: Duration::from_secs(47 * 60),
            held: 3686 * MIB,
            limit: 4096 * MIB,
        };
        let (warning_text, withdrawn_text) = (lines(&warning, BATCH), lines(&withdrawn, BATCH));
        assert_eq!(
            [warning_text, withdrawn_text].concat(),
            [
                "oom-explain: Warning after 41 min: memory is climbing by 150 MiB a minute.",
                "  It holds 3.1 GiB of its 4.0 GiB limit: at this rate it is killed in about",
                "    6 min. Save your work if you can, or stop the job (scancel 26) and ask for",
                "    more memory.",
                "oom-explain: Update after 47 min: memory stopped climbing at 3.6 GiB of its",
                "    4.0 GiB limit.",
                "  The warning above no longer holds.",
            ]
        );
        // An srun line's step is named as the report names it, its time its own.
        let second_srun = StepId {
            job: 26,
            step: StepKind::Numbered(1),
        };
        assert_eq!(
            lines(&warning, second_srun)[0..2],
            [
                "oom-explain: Warning for the 2nd srun in your job script (step 26.1), 41 min",
                "    after it started: memory is climbing by 150 MiB a minute.",
            ]
        );
    }

    #[test]
    fn a_kill_too_close_to_time_is_said_so() {
        let text = lines(
            &Notice::Warning {
                at: Duration::from_secs(95),
                held: 290 * MIB,
                limit: 300 * MIB,
                per_minute: 180 * MIB,
                left: Duration::from_secs(3),
            },
            BATCH,
        )
        .join(" ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("it is killed any moment now."), "{text}");
    }
}
