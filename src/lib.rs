//! oom-explain: tells Slurm users why their job ran out of memory and what to request next time.
//!
//! Data flows one way: discover → read → classify → recommend → render → deliver. Everything
//! but the two ends is safe, pure Rust over plain data ([`cgroup`], [`classify`],
//! [`recommend`], [`render`]); only [`spank`] touches Slurm and holds `unsafe` code.

// Only the FFI layer may hold `unsafe` code (it allows it for itself).
#![deny(unsafe_code)]

// Every entry point catches panics so that none unwinds into slurmstepd (spank/boundary.rs);
// with panic=abort a panic would kill slurmstepd and the job with it.
#[cfg(panic = "abort")]
compile_error!("oom-explain must be built with panic = \"unwind\" (see Cargo.toml)");

/// The Slurm release whose headers this build used (build.rs): the plugin loads only on Slurm of
/// the same major.minor, so inside slurmstepd it is also the running release.
pub const SLURM_RELEASE: &str = env!("OOM_EXPLAIN_SLURM_RELEASE");

/// This build's version and the Slurm release it is for, as `--version` and slurmd's log say it.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (built for Slurm ",
    env!("OOM_EXPLAIN_SLURM_RELEASE"),
    ", headers: ",
    env!("OOM_EXPLAIN_SLURM_HEADERS"),
    ")"
);

pub mod access;
pub mod accounting;
pub mod causes;
pub mod cgroup;
pub mod classify;
pub mod cli;
pub mod config;
pub mod evidence;
pub mod fault;
pub mod fleet;
pub mod history;
pub mod journal;
pub mod metrics;
pub mod next_request;
pub mod options;
pub mod recommend;
pub mod record;
pub mod render;
pub mod report;
pub mod sacct;
pub mod size;
pub mod slurm;
#[allow(unsafe_code)]
pub mod spank;
pub mod spool;
pub mod step;
pub mod suggest;
pub mod syslog;
