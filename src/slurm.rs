//! Which Slurm release, and what that changes for the plugin (docs/admins.md, "Releases").
//!
//! The plugin is built for one release (build.rs) and Slurm loads it only on the same
//! major.minor, so inside slurmstepd the build's release is the running one. The command asks
//! `sacct --version` instead: it may talk to another release than it was built for.

use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SlurmRelease {
    pub major: u32,
    pub minor: u32,
}

/// The release a plugin file was built for, from the version line every build embeds
/// ([`crate::VERSION_LINE`]: `0.2.0 (built for Slurm 22.05.8, headers: …)`).
pub fn plugin_built_for(plugin: &[u8]) -> Option<SlurmRelease> {
    const MARK: &[u8] = b" (built for Slurm ";
    let at = plugin.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let version: String = plugin[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|&b| b as char)
        .collect();
    SlurmRelease::parse(&version)
}

impl SlurmRelease {
    /// The release this build is for.
    pub fn built_for() -> SlurmRelease {
        SlurmRelease::parse(crate::SLURM_RELEASE).expect("build.rs writes major.minor.micro")
    }

    /// `24.11.5`, `slurm 24.11.5`, `slurm-wlm 26.05.5` (the `--version` of Slurm's commands).
    pub fn parse(text: &str) -> Option<SlurmRelease> {
        let version = text.split_whitespace().last()?;
        let mut parts = version.split('.');
        Some(SlurmRelease {
            major: parts.next()?.parse().ok()?,
            minor: parts.next()?.parse().ok()?,
        })
    }

    /// From 24.11 on, sacct's MaxRSS is the kernel's high-water mark (v2 `memory.peak`, v1
    /// `memory.max_usage_in_bytes`), not a sample that misses the last rise before a kill.
    pub fn max_rss_is_peak(self) -> bool {
        self >= SlurmRelease {
            major: 24,
            minor: 11,
        }
    }
}

impl fmt::Display for SlurmRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_from_slurms_version_lines() {
        let r = |major, minor| Some(SlurmRelease { major, minor });
        assert_eq!(SlurmRelease::parse("slurm 24.11.5"), r(24, 11));
        assert_eq!(SlurmRelease::parse("slurm-wlm 26.05.5"), r(26, 5));
        assert_eq!(SlurmRelease::parse("22.05.8"), r(22, 5));
        assert_eq!(SlurmRelease::parse("sacct: command not found"), None);
        assert_eq!(r(26, 5).unwrap().to_string(), "26.05");
    }

    #[test]
    fn max_rss_is_the_peak_from_24_11_on() {
        let r = |text| SlurmRelease::parse(text).unwrap().max_rss_is_peak();
        assert!(!r("22.05.8"));
        assert!(!r("23.11.6"));
        assert!(!r("24.05.4"));
        assert!(r("24.11.5"));
        assert!(r("26.05.5"));
    }
}
