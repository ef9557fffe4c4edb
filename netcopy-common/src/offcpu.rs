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

/// Frames read at a switch: enough to reach the socket's wait from `__schedule`, with two to
/// spare. On 6.18 `sk_stream_wait_memory` is the eighth frame (the offcpu tests fail at
/// seven). Each frame costs the unwinder about 0.1 us: at 16 the uringzc receiver's switches
/// took 2.8 us each in bpf_stats, at 10 they take 2.1 us.
pub const STACK_DEPTH: usize = 10;

/// Global `[[u64; 2]; WAITERS.len()]`: each waiter's [start, end) address, 0s where a
/// function is not in this kernel.
pub const WAIT_RANGES: &str = "WAIT_RANGES";

/// Distinct switch-out stacks kept (`crate::maps::OFFCPU_STACKS`).
pub const MAX_WAIT_STACKS: u32 = 4096;
/// Distinct (thread, kind, reason, stack) keys kept (`crate::maps::OFFCPU`).
pub const MAX_OFFCPU_KEYS: u32 = 16384;

/// The key a switch-out stack's off-CPU time is added up under.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffcpuKey {
    pub tid: u32,
    /// [`stack_hash`] of the frames, a key of `OFFCPU_STACKS`.
    pub stack: u32,
    /// The [`crate::syscalls::SyscallKind`] of the call switched out.
    pub kind: u8,
    /// The [`Reason`] of the switch.
    pub reason: u8,
    pub _pad: [u8; 6],
}
crate::layout!(OffcpuKey, 16, stack @ 4, kind @ 8, reason @ 9);

/// The frames of a switch-out stack, 0 after the last.
pub type WaitFrames = [u64; STACK_DEPTH];

/// A hash of the first `n` frames, never 0 (0 means no stack): the key a switch-out stack
/// is kept under, computed the same way in the kernel and in tests. FNV-1a's step over
/// whole 64-bit frames (not bytes: a tenth of the instructions in the sched program),
/// folded to 32 bits.
#[inline(always)]
pub fn stack_hash(frames: &WaitFrames, n: usize) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, f) in frames.iter().enumerate() {
        if i >= n {
            break;
        }
        h ^= *f;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let folded = (h ^ (h >> 32)) as u32;
    if folded == 0 { 1 } else { folded }
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with explicit padding, valid for any bytes.
unsafe impl aya::Pod for OffcpuKey {}
