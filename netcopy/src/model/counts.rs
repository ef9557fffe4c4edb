//! What the workload counted itself, per thread and connection: its syscalls, its threads'
//! context switches (getrusage), call latency percentiles, the measurement window and the
//! zerocopy completions. The probes' numbers are checked against these.

use serde::Serialize;

/// Syscalls one thread made on its connection, counted by the workload itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// `send(2)`, which the kernel runs as `sendto`.
    pub sendto: u64,
    pub sendmsg: u64,
    /// `recv(2)`, which the kernel runs as `recvfrom`.
    pub recvfrom: u64,
    /// Data `recvmsg` calls (not the error-queue ones).
    pub recvmsg: u64,
    /// `recvmsg(MSG_ERRQUEUE)` calls that reap zerocopy completions.
    pub errqueue: u64,
    /// `poll` calls that wait for completions.
    pub poll: u64,
    /// `io_uring_enter` calls (submitting and waiting) of the uring modes.
    pub uring_enter: u64,
    /// Send requests (IORING_OP_SEND or IORING_OP_SEND_ZC) put on the ring.
    pub uring_sends: u64,
}

impl CallCounts {
    pub fn add(&mut self, o: &CallCounts) {
        self.sendto += o.sendto;
        self.sendmsg += o.sendmsg;
        self.recvfrom += o.recvfrom;
        self.recvmsg += o.recvmsg;
        self.errqueue += o.errqueue;
        self.poll += o.poll;
        self.uring_enter += o.uring_enter;
        self.uring_sends += o.uring_sends;
    }
}

/// Context switches of one thread, from getrusage(RUSAGE_THREAD): the kernel's own
/// per-thread counters, which the tracer's in-call counts are checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Switches {
    pub voluntary: u64,
    pub involuntary: u64,
}

impl Switches {
    /// Switches since `earlier`.
    pub fn since(self, earlier: Switches) -> Self {
        Self {
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
        }
    }

    pub fn total(self) -> u64 {
        self.voluntary + self.involuntary
    }
}

/// Percentiles of one latency histogram in ns; null when no call fell into the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    pub max: Option<u64>,
    /// Mean in ns (the seed report's Latency_us is a mean).
    pub mean: Option<f64>,
}

/// What moved in the measurement window, summed over connections.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WindowTotals {
    /// Measured length of the window (from the first to the second snapshot).
    pub seconds: f64,
    pub bytes: u64,
    pub messages: u64,
    /// bytes × 8 / seconds / 10⁹.
    pub throughput_gbps: f64,
}

/// The per-connection facts of one end, for JSON.
#[derive(Clone, Debug, Serialize)]
pub struct EndTotals {
    pub tid: u32,
    pub bytes: u64,
    pub messages: u64,
    pub calls: CallCounts,
    /// Data calls the end timed over its life, inside the window or not (0 under
    /// `--no-latency`): over the data calls in `calls`, the share `--latency-sample` took.
    pub timed_calls: u64,
    /// The thread's context switches over its whole life (getrusage).
    pub switches: Switches,
    /// Those of them taken while a uring sender set up its ring and registered its buffers
    /// (mmap and io_uring_register, which the trace does not time): two senders doing it
    /// at once wait on each other's mmap_lock. Zero for the other ends.
    pub setup_switches: Switches,
    /// CPU time (user and system) the thread spent in its data loop
    /// (CLOCK_THREAD_CPUTIME_ID): over `bytes`, the end's CPU cost per byte.
    pub cpu_ns: u64,
}

/// What a zerocopy sender counted on one connection (or, added up, on all of them): the
/// zerocopy mode's `sendmsg(MSG_ZEROCOPY)` calls, or the uringzc mode's SEND_ZC requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ZerocopyStats {
    /// Successful `sendmsg(MSG_ZEROCOPY)` calls (each has a completion id), or SEND_ZC
    /// requests whose result promised a notification (IORING_CQE_F_MORE).
    pub sends: u64,
    /// Ids reported complete on the error queue, or notification CQEs (IORING_CQE_F_NOTIF).
    pub completed: u64,
    /// Completed ids whose notification carried SO_EE_CODE_ZEROCOPY_COPIED, or notifications
    /// whose result carried IORING_NOTIF_USAGE_ZC_COPIED.
    pub copied: u64,
    /// `sendmsg` calls refused with ENOBUFS (socket option memory full), then retried
    /// (always 0 for SEND_ZC, which waits instead).
    pub enobufs: u64,
    /// Times the sender had to wait for a completion to free a buffer.
    pub pool_waits: u64,
    /// Message buffers in the pool.
    pub pool: usize,
    /// SEND_ZC read the pool from buffers registered with the ring
    /// (IORING_RECVSEND_FIXED_BUF); null for MSG_ZEROCOPY, which has no such thing.
    pub fixed_buffers: Option<bool>,
}

impl ZerocopyStats {
    /// Add another connection's counts (the pool size is per connection, not added).
    pub fn add(&mut self, o: &ZerocopyStats) {
        self.sends += o.sends;
        self.completed += o.completed;
        self.copied += o.copied;
        self.enobufs += o.enobufs;
        self.pool_waits += o.pool_waits;
        self.pool = o.pool;
        self.fixed_buffers = o.fixed_buffers;
    }
}

/// What a `--rx zerocopy` receiver counted (one, or added up over all of them). Mapped and
/// copied bytes add up to the bytes received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RxZerocopyStats {
    /// Bytes TCP_ZEROCOPY_RECEIVE mapped into the receive area.
    pub mapped_bytes: u64,
    /// Bytes read with recv(2) because they could not be mapped (`recv_skip_hint`).
    pub copied_bytes: u64,
    /// getsockopt(TCP_ZEROCOPY_RECEIVE) calls, and those that mapped at least one page.
    pub calls: u64,
    pub mapping_calls: u64,
}

impl RxZerocopyStats {
    pub fn add(&mut self, o: &RxZerocopyStats) {
        self.mapped_bytes += o.mapped_bytes;
        self.copied_bytes += o.copied_bytes;
        self.calls += o.calls;
        self.mapping_calls += o.mapping_calls;
    }
}
