//! oom-explain: tells Slurm users why their job ran out of memory and what to request next time.
//!
//! Data flows one way: discover → read → classify → recommend → render → deliver. Everything
//! but the two ends is safe, pure Rust over plain data ([`cgroup`], [`classify`],
//! [`recommend`], [`render`]); only [`spank`] touches Slurm and holds `unsafe` code.

pub mod cgroup;
pub mod classify;
pub mod cli;
pub mod config;
pub mod evidence;
pub mod fleet;
pub mod history;
pub mod journal;
pub mod options;
pub mod recommend;
pub mod record;
pub mod render;
pub mod report;
pub mod sacct;
pub mod size;
pub mod spank;
pub mod spool;
pub mod step;
