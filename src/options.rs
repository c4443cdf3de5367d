//! The user's `--oom-explain[=MODE]` option.

use std::fmt;
use std::str::FromStr;

/// How much the user wants to hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Report whatever there is to act on: an OOM kill, a near miss, a request far above the need.
    Auto,
    /// Report OOM kills only.
    Oom,
    /// Like `auto`, plus a one-line summary when all is well.
    Always,
    /// No report: for a user whose site gives every job the report without the flag.
    Off,
}

/// The option's name on the command line (`--oom-explain`); also the SPANK option name.
pub const OPTION_NAME: &str = "oom-explain";

/// What the user chose with `--oom-explain[=MODE][,nowarn]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub mode: Mode,
    /// Warnings while the step runs, when memory heads for the limit (`nowarn`: none, only the
    /// report at the end).
    pub warnings: bool,
}

/// The word that keeps only the report at the end.
pub const NO_WARNINGS: &str = "nowarn";

impl Choice {
    /// A mode with warnings: what a job gets from the site's `default_mode`.
    pub fn of(mode: Mode) -> Choice {
        Choice {
            mode,
            warnings: true,
        }
    }

    /// The option's value as Slurm hands it over: `None` for a bare `--oom-explain`. A mode
    /// and `nowarn`, in either order, comma-separated; `nowarn` alone is `auto,nowarn`.
    ///
    /// sbatch forwards a bare option to the job's srun steps through an environment variable
    /// whose value it prints from a NULL pointer, so srun sees the text "(null)": that too is
    /// the bare option, and refusing it would make srun fail inside the job.
    pub fn from_option(value: Option<&str>) -> Result<Choice, InvalidMode> {
        let text = match value.map(str::trim) {
            None | Some("") | Some("(null)") => return Ok(Choice::of(Mode::Auto)),
            Some(text) => text,
        };
        let invalid = || InvalidMode(text.to_owned());
        let mut choice = Choice::of(Mode::Auto);
        let mut modes = 0;
        for word in text.split(',').map(str::trim) {
            if word.eq_ignore_ascii_case(NO_WARNINGS) && choice.warnings {
                choice.warnings = false;
            } else {
                choice.mode = word.parse().map_err(|_| invalid())?;
                modes += 1;
            }
        }
        if modes > 1 {
            return Err(invalid());
        }
        Ok(choice)
    }
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Oom => "oom",
            Mode::Always => "always",
            Mode::Off => "off",
        }
    }
}

impl FromStr for Mode {
    type Err = InvalidMode;
    fn from_str(text: &str) -> Result<Mode, InvalidMode> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Mode::Auto),
            "oom" => Ok(Mode::Oom),
            "always" => Ok(Mode::Always),
            "off" => Ok(Mode::Off),
            _ => Err(InvalidMode(text.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMode(pub String);

impl fmt::Display for InvalidMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--oom-explain={:?} is not a valid mode: use --oom-explain (same as =auto), \
             --oom-explain=oom, --oom-explain=always or --oom-explain=off; add ,nowarn for no \
             warnings while the job runs",
            self.0
        )
    }
}

impl std::error::Error for InvalidMode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let mode = |value| Choice::from_option(value).map(|c| c.mode);
        assert_eq!(mode(None), Ok(Mode::Auto));
        assert_eq!(mode(Some("")), Ok(Mode::Auto));
        assert_eq!(mode(Some("(null)")), Ok(Mode::Auto));
        assert_eq!(mode(Some("oom")), Ok(Mode::Oom));
        assert_eq!(mode(Some("ALWAYS")), Ok(Mode::Always));
        assert_eq!(mode(Some("off")), Ok(Mode::Off));
        let err = mode(Some("bogus")).unwrap_err().to_string();
        assert!(
            err.contains("\"bogus\"") && err.contains("=always") && err.contains(",nowarn"),
            "{err}"
        );
    }

    #[test]
    fn warnings_while_the_job_runs_unless_nowarn() {
        let choice = |value| Choice::from_option(Some(value));
        assert_eq!(choice("oom"), Ok(Choice::of(Mode::Oom)));
        let quiet = |mode| Choice {
            mode,
            warnings: false,
        };
        assert_eq!(choice("nowarn"), Ok(quiet(Mode::Auto)));
        assert_eq!(choice("oom,nowarn"), Ok(quiet(Mode::Oom)));
        assert_eq!(choice(" NoWarn , always "), Ok(quiet(Mode::Always)));
        for bad in ["oom,always", "nowarn,nowarn", "oom,", "nowarn,bogus"] {
            assert!(choice(bad).is_err(), "{bad}");
        }
    }
}
