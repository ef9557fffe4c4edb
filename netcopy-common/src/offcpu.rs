//! Why a traced call left the CPU: the reasons its switched-out time is split into, and the
//! kernel functions that name them on the stack at the switch.
//!
//! Hook: the sched family's sched_switch programs (`netcopy-ebpf/src/sched.rs`). A switch
//! with the thread still runnable is `Preempt`. Otherwise the program reads the kernel stack
//! (at most [`STACK_DEPTH`] frames, `bpf_get_stack`) and takes the first of [`WAITERS`]
//! whose function holds one of the frames; none: `Other`. User space puts each function's
//! address range (from /proc/kallsyms) in the global [`WAIT_RANGES`] at load time. Numbers:
//! per call, the off-CPU ns of each reason (`offcpu_{wmem,data,lock,preempt,other}_ns`);
//! the kernel keeps the first four and the fifth is the rest of `offcpu_ns`, so the five
//! add up to it exactly.

/// One reason. The first [`KEPT`] are added up in the kernel, in this order.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Send buffer full: sk_stream_wait_memory.
    Wmem = 0,
    /// Waiting for data: sk_wait_data (or wait_woken, which it and other waits call).
    Data = 1,
    /// Waiting for the socket lock: __lock_sock, lock_sock_nested.
    Lock = 2,
    /// Switched out still runnable (preempted, or yielded).
    Preempt = 3,
    Other = 4,
}

/// Reasons kept in the kernel (all but `Other`).
pub const KEPT: usize = 4;

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Wmem,
        Reason::Data,
        Reason::Lock,
        Reason::Preempt,
        Reason::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::Wmem => "wmem",
            Reason::Data => "data",
            Reason::Lock => "lock",
            Reason::Preempt => "preempt",
            Reason::Other => "other",
        }
    }
}

/// Kernel functions that name a reason when one of their frames is on the stack at a
/// switch, in the order they are tried: the lock first (a sender waiting for the lock is
/// not waiting for memory), then the stream waits, then the generic wait_woken.
pub const WAITERS: [(&str, Reason); 5] = [
    ("__lock_sock", Reason::Lock),
    ("lock_sock_nested", Reason::Lock),
    ("sk_stream_wait_memory", Reason::Wmem),
    ("sk_wait_data", Reason::Data),
    ("wait_woken", Reason::Data),
];

/// Frames read at a switch: enough to reach the socket's wait from `__schedule` (about
/// eight frames on the kernels seen, through the tracepoint's own frames).
pub const STACK_DEPTH: usize = 16;

/// Global `[[u64; 2]; WAITERS.len()]`: each waiter's [start, end) address, 0s where a
/// function is not in this kernel.
pub const WAIT_RANGES: &str = "WAIT_RANGES";
