//! Evidence gathered beyond the end-of-step cgroup figures: memory over the step's life
//! ([`sampler`]) and the kernel's own OOM report ([`kernel`]).

pub mod kernel;
pub mod sampler;
