//! What `netcopy trace --pid/--comm/--cgroup` found in other programs: their socket calls
//! per syscall kind, and the sampled stages, all under the role `other`.

use serde::Serialize;

use super::kernel::{StageRow, SyscallSummary};

#[derive(Clone, Debug, Serialize)]
pub struct ExternalSummary {
    pub targets: Vec<String>,
    pub seconds: f64,
    pub interrupted: bool,
    pub syscalls: Vec<SyscallSummary>,
    pub stages: Option<Vec<StageRow>>,
    /// Records the ring buffer had no room for.
    pub lost: u64,
    /// Stack samples left out of the stages (see `ProbeCheck`); null without the sampler.
    pub stackless_samples: Option<u64>,
    /// What fell back and why.
    pub fallbacks: Vec<String>,
}
