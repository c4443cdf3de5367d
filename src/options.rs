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

impl Mode {
    /// The option's value as Slurm hands it over: `None` for a bare `--oom-explain`.
    ///
    /// sbatch forwards a bare option to the job's srun steps through an environment variable
    /// whose value it prints from a NULL pointer, so srun sees the text "(null)": that too is
    /// the bare option, and refusing it would make srun fail inside the job.
    pub fn from_option(value: Option<&str>) -> Result<Mode, InvalidMode> {
        match value.map(str::trim) {
            None | Some("") | Some("(null)") => Ok(Mode::Auto),
            Some(text) => text.parse(),
        }
    }

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
             --oom-explain=oom, --oom-explain=always or --oom-explain=off",
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
        assert_eq!(Mode::from_option(None), Ok(Mode::Auto));
        assert_eq!(Mode::from_option(Some("")), Ok(Mode::Auto));
        assert_eq!(Mode::from_option(Some("(null)")), Ok(Mode::Auto));
        assert_eq!(Mode::from_option(Some("oom")), Ok(Mode::Oom));
        assert_eq!(Mode::from_option(Some("ALWAYS")), Ok(Mode::Always));
        assert_eq!(Mode::from_option(Some("off")), Ok(Mode::Off));
        let err = Mode::from_option(Some("bogus")).unwrap_err().to_string();
        assert!(
            err.contains("\"bogus\"") && err.contains("=always"),
            "{err}"
        );
    }
}
