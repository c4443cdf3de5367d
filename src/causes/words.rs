//! Phrases every cause uses, worded for the student reading slurm-%j.err: which line of the
//! script, after how long, sizes as a person says them, who was killed.

use crate::causes::{Diagnosis, percent};
use crate::size::{duration, human};
use crate::step::{StepContext, StepId, StepKind};

pub struct Words<'a> {
    pub d: &'a Diagnosis,
    pub context: &'a StepContext,
}

impl Words<'_> {
    /// The step as the user wrote it: "your job script", "the 2nd srun in your job script".
    pub fn who(&self) -> String {
        step_words(self.context.id)
    }

    /// The headline of a kill at the limit. When the step's tasks still ended well, only a
    /// process of it was killed and the rest went on: the headline says so.
    pub fn ran_out(&self) -> String {
        match self.d.ended_well {
            false => format!(
                "{} ran out of memory{} and was killed.",
                self.who(),
                self.after()
            ),
            true => format!(
                "{} ran out of memory{}: the kernel killed {}, and the rest went on to the end.",
                self.who(),
                self.after(),
                self.killed()
            ),
        }
    }

    /// " after 3 min", or nothing when the run time is unknown.
    pub fn after(&self) -> String {
        let at = self.d.kill_at.or(self.context.elapsed);
        at.map(|t| format!(" after {}", duration(t)))
            .unwrap_or_default()
    }

    /// The limit the kernel enforced, as a size.
    pub fn limit(&self) -> String {
        human(self.d.any_limit().unwrap_or(0))
    }

    /// A size the kernel measured; "at least" when it kept no peak.
    pub fn amount(&self, bytes: u64) -> String {
        match self.d.peak_is_lower_bound {
            true => format!("at least {}", human(bytes)),
            false => human(bytes),
        }
    }

    /// "280 MiB of 300 MiB (93 %)".
    pub fn of_limit(&self, used: u64, limit: u64) -> String {
        match percent(used, limit) {
            Some(0) if used > 0 => {
                format!("{} of {} (under 1 %)", self.amount(used), human(limit))
            }
            Some(pc) => format!("{} of {} ({pc} %)", self.amount(used), human(limit)),
            None => self.amount(used),
        }
    }

    /// The program memory at the peak, against the limit, or what is known of it.
    pub fn peak_of_limit(&self) -> String {
        let used = self.d.peak_unreclaimable.or(self.d.peak);
        match (used, self.d.any_limit()) {
            (Some(p), Some(l)) => self.of_limit(p, l),
            (Some(p), None) => format!("{}, with no limit", self.amount(p)),
            _ => "an unknown amount".into(),
        }
    }

    /// Who the kernel killed: "python3 (holding 196 MiB)", "3 processes", and the rest of the
    /// step that went with it under --oom-kill-step.
    pub fn killed(&self) -> String {
        let d = self.d;
        let chosen = d.oom_kills.saturating_sub(d.oom_group_kills);
        let first = match &d.victim {
            Some(v) if !v.name.is_empty() && chosen <= 1 => match v.rss {
                Some(rss) if rss >= 1 << 20 => format!("{} (holding {})", v.name, human(rss)),
                _ => v.name.clone(),
            },
            Some(v) if !v.name.is_empty() => format!("{chosen} processes (the last: {})", v.name),
            _ => processes(chosen),
        };
        match d.oom_group_kills {
            0 => first,
            rest => format!(
                "{first}, and with it the {} other {} of this step (Slurm's --oom-kill-step)",
                rest,
                if rest == 1 { "process" } else { "processes" }
            ),
        }
    }

    /// The memory picture: "▁▁▁▂▃▅▇█  memory over 12 s (top: the 300 MiB limit)".
    pub fn picture(&self) -> Option<String> {
        let (levels, over) = self.d.shape.as_ref()?;
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let bars: String = levels
            .iter()
            .map(|&l| BARS[(l.clamp(1, 8) - 1) as usize])
            .collect();
        Some(format!(
            "{bars}  memory over {} (top: the {} limit)",
            duration(*over),
            self.limit()
        ))
    }
}

/// A step as the user wrote it: "your job script", "the 2nd srun in your job script (step 26.1)".
pub fn step_words(id: StepId) -> String {
    match id.step {
        StepKind::Batch => "your job script".into(),
        // Steps are numbered from 0 in the order the script started them.
        StepKind::Numbered(n) => format!(
            "the {} srun in your job script (step {id})",
            ordinal(n as u64 + 1)
        ),
        StepKind::Interactive => "your interactive session".into(),
        StepKind::Extern => format!("processes added to job {} from outside", id.job),
    }
}

pub fn processes(n: u64) -> String {
    match n {
        1 => "1 process".into(),
        n => format!("{n} processes"),
    }
}

/// 1st, 2nd, 3rd, 4th… 11th, 12th, 13th, 21st.
pub fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
