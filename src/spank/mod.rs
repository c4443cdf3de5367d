//! The only place with `unsafe` and C types: Slurm's SPANK interface.
//!
//! `callbacks` holds the `slurm_spank_*` entry points, each wrapped in [`boundary::guard`];
//! `handle` turns the C API into safe calls; `log` reaches slurmd's log and the job's stderr.

pub mod boundary;
pub mod callbacks;
pub mod handle;
pub mod log;

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code
)]
#[allow(unsafe_op_in_unsafe_fn, clippy::all, clippy::pedantic)]
pub mod sys {
    include!(concat!(env!("OUT_DIR"), "/spank_bindings.rs"));
}
