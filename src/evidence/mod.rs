//! Evidence gathered beyond the end-of-step cgroup figures: memory over the step's life
//! ([`sampler`]) and the kernel's own OOM report ([`kernel`]).

pub mod forecast;
pub mod kernel;
pub mod sampler;

use std::time::Duration;

/// Evidence gathered during the step's life, beside the end-of-step snapshot.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// Memory over time (None when the sampler could not run).
    pub series: Option<sampler::Series>,
    /// The kernel's OOM reports about this step's processes.
    pub kernel: Vec<kernel::OomEvent>,
    /// When the first OOM kill happened, on the series' clock (from the kernel's report).
    pub kill_at: Option<Duration>,
}
