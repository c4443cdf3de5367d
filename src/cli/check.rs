//! `oom-explain check-config`: the plugin's arguments checked with the plugin's own parser.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::cluster::Cluster;
use super::output::{Stop, Streams};
use crate::config::{Config, check_plugstack};
use crate::options::Mode;
use crate::size::human;
use crate::slurm::{SlurmRelease, plugin_built_for};

/// Status 1 when a line that loads the plugin has an error, or loads a plugin this host's Slurm
/// would refuse (built for another release: after an upgrade of Slurm, before a rebuild).
pub fn run(
    plugstack: &Path,
    streams: &mut Streams,
    cluster: &dyn Cluster,
) -> Result<ExitCode, Stop> {
    let lines = check_plugstack(plugstack).map_err(|e| e.to_string())?;
    if lines.is_empty() {
        let why = format!("{}: no line loads oom-explain", plugstack.display());
        return Err(Stop::Failed(why));
    }
    let mut ok = true;
    for line in &lines {
        let at = format!("{}:{}", line.file.display(), line.line);
        match &line.config {
            Ok(config) => match release_mismatch(&line.plugin, cluster) {
                None => {
                    streams.line(&format!("{at}: OK"))?;
                    streams.lines(&settings(config))?;
                }
                Some(why) => {
                    ok = false;
                    streams.line(&format!("{at}: error: {why}"))?;
                }
            },
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

/// Why this host's Slurm would refuse the plugin file, if it would: missing, or built for
/// another major.minor. (This host's release is what its `sacct --version` says; unknown
/// means nothing to compare.)
fn release_mismatch(plugin: &Path, cluster: &dyn Cluster) -> Option<String> {
    let bytes = match std::fs::read(plugin) {
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("{}: {e}: Slurm cannot load it", plugin.display())),
    };
    let built_for = plugin_built_for(&bytes)?;
    let host = cluster.sacct_release()?;
    (built_for != host).then(|| mismatch_message(plugin, built_for, host))
}

fn mismatch_message(plugin: &Path, built_for: SlurmRelease, host: SlurmRelease) -> String {
    format!(
        "{} was built for Slurm {built_for}, but this host runs Slurm {host}: Slurm refuses it \
         (slurmd's log: \"Incompatible Slurm plugin version\") and jobs run without it. \
         Rebuild it for {host} (docs/admins.md, \"Upgrades\")",
        plugin.display()
    )
}

/// The plugstack.conf Slurm reads: slurm.conf's `PlugStackConfig`, else `plugstack.conf`
/// beside slurm.conf (`$SLURM_CONF`, else `/etc/slurm/slurm.conf`), as Slurm decides it.
pub fn slurms_plugstack() -> PathBuf {
    let slurm_conf = std::env::var_os("SLURM_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/slurm/slurm.conf"));
    let text = std::fs::read_to_string(&slurm_conf).unwrap_or_default();
    plugstack_in(&text).unwrap_or_else(|| slurm_conf.with_file_name("plugstack.conf"))
}

/// `PlugStackConfig=PATH` in slurm.conf's text (keys are case-insensitive there).
fn plugstack_in(slurm_conf: &str) -> Option<PathBuf> {
    crate::access::setting(slurm_conf, "PlugStackConfig").map(PathBuf::from)
}

/// Where the job lines go, as check-config says it.
fn job_log(c: &Config) -> String {
    match c.job_log_to_syslog {
        true => format!(
            "syslog (facility {}, tag {}, socket {})",
            crate::syslog::facility_name(c.syslog.facility).unwrap_or("?"),
            c.syslog.tag,
            c.syslog.socket.display()
        ),
        false => format!("{} (mode {:04o})", c.job_log.display(), c.job_log_mode),
    }
}

/// Whether the folder of a file the epilog writes as root is there and safe: said now, rather
/// than once per job in slurmd's log.
fn folder_status(file: &Path) -> String {
    match file.parent().map(crate::spool::Dir::open) {
        Some(Ok(_)) => String::new(),
        Some(Err(e)) => format!(" (its folder will not do: {e})"),
        None => " (no folder)".into(),
    }
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
            "  records {}, spool_dir {}, job_log {}, leftover_after {} s",
            c.records.name(),
            c.spool_dir.display(),
            job_log(c),
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
    if let Some(file) = &c.metrics_file {
        out.push(format!(
            "  metrics_file {}{}",
            file.display(),
            folder_status(file)
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugstack_is_slurm_confs_own() {
        let conf =
            "ClusterName=c\n# PlugStackConfig=/old\nplugstackconfig = /etc/slurm/ps.conf # site\n";
        assert_eq!(
            plugstack_in(conf),
            Some(PathBuf::from("/etc/slurm/ps.conf"))
        );
        assert_eq!(plugstack_in("ClusterName=c\n"), None);
    }
}
