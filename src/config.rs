//! The plugin's own settings, from its plugstack.conf line (`key=value` arguments).
//!
//! A wrong argument is an error naming it: the caller logs it and the plugin steps aside, so a
//! typo never changes what jobs do.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Headroom added to a measured peak in a recommendation, in percent.
    pub headroom_percent: u32,
    /// A step that finished above this share of its limit gets a near-miss note.
    pub near_miss_percent: u32,
    /// A job that used less than this share of its request is over-requesting...
    pub over_request_percent: u32,
    /// ...if at least this much of the request went unused (MiB).
    pub over_request_min_unused_mib: u64,
    /// Where to leave one JSON evidence record per analysed step (root-owned, admin-only).
    pub evidence_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            headroom_percent: 20,
            near_miss_percent: 90,
            over_request_percent: 50,
            over_request_min_unused_mib: 1024,
            evidence_dir: None,
        }
    }
}

const KEYS: &str = "headroom, near_miss, over_request, over_request_min_unused, evidence_dir";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugstack.conf: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses the arguments after the plugin's path on its plugstack.conf line.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for arg in args {
            let arg = arg.as_ref();
            let Some((key, value)) = arg.split_once('=') else {
                return Err(ConfigError(format!(
                    "argument {arg:?} is not key=value (known keys: {KEYS})"
                )));
            };
            let number = |low: u64, high: u64| -> Result<u64, ConfigError> {
                value
                    .trim_end_matches('%')
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (low..=high).contains(n))
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "{key}={value:?}: expected a whole number from {low} to {high}"
                        ))
                    })
            };
            match key {
                "headroom" => config.headroom_percent = number(0, 200)? as u32,
                "near_miss" => config.near_miss_percent = number(50, 100)? as u32,
                "over_request" => config.over_request_percent = number(1, 100)? as u32,
                "over_request_min_unused" => {
                    config.over_request_min_unused_mib = number(0, 1 << 30)?
                }
                "evidence_dir" if value.starts_with('/') => {
                    config.evidence_dir = Some(value.into());
                }
                "evidence_dir" => {
                    return Err(ConfigError(format!(
                        "evidence_dir={value:?}: expected an absolute path"
                    )));
                }
                _ => {
                    return Err(ConfigError(format!(
                        "unknown argument {key:?} (known keys: {KEYS})"
                    )));
                }
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_arguments() {
        assert_eq!(Config::from_args::<&str>(&[]), Ok(Config::default()));
    }

    #[test]
    fn known_keys() {
        let c = Config::from_args(&["headroom=30", "near_miss=85%"]).unwrap();
        assert_eq!((c.headroom_percent, c.near_miss_percent), (30, 85));
    }

    #[test]
    fn errors_name_the_argument() {
        let e = Config::from_args(&["hedroom=30"]).unwrap_err().to_string();
        assert!(e.contains("\"hedroom\"") && e.contains("headroom"), "{e}");
        let e = Config::from_args(&["headroom=lots"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("headroom") && e.contains("0 to 200"), "{e}");
        assert!(Config::from_args(&["verbose"]).is_err());
        assert!(Config::from_args(&["near_miss=20"]).is_err());
    }
}
