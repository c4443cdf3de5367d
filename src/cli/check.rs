//! `oom-explain check-config`: the plugin's arguments checked with the plugin's own parser.

use std::path::Path;
use std::process::ExitCode;

use super::output::{Stop, Streams};
use crate::config::{Config, check_plugstack};
use crate::options::Mode;
use crate::size::human;

/// Status 1 when a line that loads the plugin has an error.
pub fn run(plugstack: &Path, streams: &mut Streams) -> Result<ExitCode, Stop> {
    let lines = check_plugstack(plugstack).map_err(|e| e.to_string())?;
    if lines.is_empty() {
        let why = format!("{}: no line loads oom-explain", plugstack.display());
        return Err(Stop::Failed(why));
    }
    let mut ok = true;
    for line in &lines {
        let at = format!("{}:{}", line.file.display(), line.line);
        match &line.config {
            Ok(config) => {
                streams.line(&format!("{at}: OK"))?;
                streams.lines(&settings(config))?;
            }
            Err(e) => {
                ok = false;
                streams.line(&format!("{at}: error: {e}"))?;
                streams.line(
                    "  (slurmd would log this and the plugin would step aside: no reports)",
                )?;
            }
        }
    }
    Ok(match ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

/// The settings in force, as an admin checks them.
fn settings(c: &Config) -> Vec<String> {
    let mut out = vec![
        format!(
            "  headroom {} %, near_miss {} %, over_request {} % (and at least {} MiB unused)",
            c.headroom_percent,
            c.near_miss_percent,
            c.over_request_percent,
            c.over_request_min_unused_mib
        ),
        format!(
            "  records {}, spool_dir {}, job_log {} (mode {:04o}), leftover_after {} s",
            c.records.name(),
            c.spool_dir.display(),
            c.job_log.display(),
            c.job_log_mode,
            c.leftover_after_s
        ),
        format!(
            "  default_mode {}{}",
            c.default_mode.name(),
            match c.default_mode {
                Mode::Off => " (only steps given --oom-explain are watched)",
                _ => " (EVERY step is watched like an opted-in one)",
            }
        ),
    ];
    if let Some(m) = c.max_mem {
        out.push(format!("  max_mem {}", human(m)));
    }
    for (key, value) in [
        ("highmem_partition", &c.highmem_partition),
        ("support", &c.support),
        ("help_url", &c.help_url),
    ] {
        if let Some(v) = value {
            out.push(format!("  {key} {v}"));
        }
    }
    out
}
