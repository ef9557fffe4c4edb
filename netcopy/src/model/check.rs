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

/// [`RequestCheck::what`] of the send requests.
pub const SEND_REQUESTS: &str = "send requests";

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
/// connect, thread start and exit, a uring sender's ring setup, or preemption in user code)
/// make the second larger.
#[derive(Clone, Debug, Serialize)]
pub struct SwitchCheck {
    pub tid: u32,
    pub role: Role,
    pub in_calls: Switches,
    pub thread: Switches,
    /// Of `thread`, those the workload counted in its ring setup (getrusage around it).
    pub setup: Switches,
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
    /// Request rows of the checked threads read from the io_uring events (uring.parquet),
    /// rows whose promised notification never came, and events the ring had no room for.
    pub request_rows: u64,
    pub unnotified: u64,
    pub request_events_lost: u64,
    pub switches: Vec<SwitchCheck>,
    /// With `--records tail`: the rows written, one per call of the tail (the records
    /// counted above are then the kernel's totals).
    pub tail_rows: Option<u64>,
    /// Stack samples left out of the stages: the sample ring was full, or the kernel gave
    /// no stack. Null when the sampler was off.
    pub stackless_samples: Option<u64>,
}

impl ProbeCheck {
    /// Kernel totals equal the workload's counts, and, when nothing was lost, so do records;
    /// the kernel's io_uring requests equal the workload's.
    pub fn agrees(&self) -> bool {
        self.threads
            .iter()
            .all(|t| t.kernel == t.workload && (self.lost > 0 || t.records == t.kernel))
            && self.requests.iter().all(|r| r.kernel == r.workload)
            && (self.request_events_lost > 0 || self.request_rows == self.sent_requests())
    }

    /// Send requests the io_uring tracepoints counted, over all threads.
    pub fn sent_requests(&self) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.what == SEND_REQUESTS)
            .map(|r| r.kernel)
            .sum()
    }

    /// Calls in the kernel's totals and records that reached user space, over all threads.
    pub fn totals(&self) -> (u64, u64) {
        self.threads
            .iter()
            .fold((0, 0), |(k, r), t| (k + t.kernel, r + t.records))
    }
}
