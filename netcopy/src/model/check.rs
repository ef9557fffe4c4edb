//! The cross-check of a traced run: per thread and syscall kind, the workload's own count,
//! the kernel's exact total and the records that reached user space; and per thread, the
//! context switches inside traced calls beside the thread's lifetime total.

use serde::Serialize;

use super::{counts::Switches, role::Role};

/// One thread and syscall kind: the workload's count, the kernel's exact total, and the
/// records that reached user space.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadCheck {
    pub tid: u32,
    pub role: Role,
    pub syscall: &'static str,
    pub workload: u64,
    pub kernel: u64,
    pub records: u64,
}

/// One thread's io_uring requests of one sort (`what`: send requests, notifications,
/// copied): the workload's count and the kernel's (the io_uring tracepoints).
#[derive(Clone, Debug, Serialize)]
pub struct RequestCheck {
    pub tid: u32,
    pub role: Role,
    pub what: &'static str,
    pub workload: u64,
    pub kernel: u64,
}

/// One thread's context switches: inside traced calls (eBPF) and over its whole life
/// (getrusage, the kernel's own counters). Switches outside the traced calls (in poll,
/// connect, thread start and exit, or preemption in user code) make the second larger.
#[derive(Clone, Debug, Serialize)]
pub struct SwitchCheck {
    pub tid: u32,
    pub role: Role,
    pub in_calls: Switches,
    pub thread: Switches,
}

/// What the probes counted, beside what the workload counted itself.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeCheck {
    /// The attach methods used, as `hook=method` pairs.
    pub method: String,
    /// Records the ring buffer had no room for.
    pub lost: u64,
    /// What fell back and why; shown once in the summary and saved in runs.parquet.
    pub fallbacks: Vec<String>,
    pub threads: Vec<ThreadCheck>,
    /// Threads that put requests on an io_uring (none outside the uring modes).
    pub requests: Vec<RequestCheck>,
    pub switches: Vec<SwitchCheck>,
    /// With `--records tail`: the rows written, one per call of the tail (the records
    /// counted above are then the kernel's totals).
    pub tail_rows: Option<u64>,
}

impl ProbeCheck {
    /// Kernel totals equal the workload's counts, and, when nothing was lost, so do records;
    /// the kernel's io_uring requests equal the workload's.
    pub fn agrees(&self) -> bool {
        self.threads
            .iter()
            .all(|t| t.kernel == t.workload && (self.lost > 0 || t.records == t.kernel))
            && self.requests.iter().all(|r| r.kernel == r.workload)
    }

    /// Calls in the kernel's totals and records that reached user space, over all threads.
    pub fn totals(&self) -> (u64, u64) {
        self.threads
            .iter()
            .fold((0, 0), |(k, r), t| (k + t.kernel, r + t.records))
    }
}
