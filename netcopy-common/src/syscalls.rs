//! The syscall family: what the kernel side records for each traced socket call.
//!
//! Hooks: `syscalls:sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg}` (classic tracepoints),
//! with `sched:sched_switch` and the net/skb/tcp tracepoints adding to the call in flight.
//! Numbers: one [`SyscallRecord`] per call through the `RECORDS` ring buffer, and exact
//! per-thread call totals in `CALL_COUNTS`, kept even when records are lost.

/// Hash map tgid -> [`TARGET_PRESENT`]: the processes traced.
pub const TARGET_TGIDS_MAP: &str = "TARGET_TGIDS";
/// Hash map command name (NUL-padded, [`COMM_LEN`] bytes) -> [`TARGET_PRESENT`].
pub const TARGET_COMMS_MAP: &str = "TARGET_COMMS";
/// Hash map cgroup v2 id (the cgroup directory's inode) -> [`TARGET_PRESENT`].
pub const TARGET_CGROUPS_MAP: &str = "TARGET_CGROUPS";
/// Bytes of a task's command name, as the kernel keeps it (15 + NUL).
pub const COMM_LEN: usize = 16;
/// Hash map tid -> [`CallCounts`]: exact calls per thread and kind.
pub const CALL_COUNTS_MAP: &str = "CALL_COUNTS";
/// Ring buffer of [`SyscallRecord`]s.
pub const RECORDS_MAP: &str = "RECORDS";
/// Per-CPU array (one slot) of records the ring buffer had no room for.
pub const LOST_MAP: &str = "LOST";

/// Value stored in the target map for a tgid that is traced.
pub const TARGET_PRESENT: u8 = 1;
/// Capacity of the target map: processes traced at once.
pub const MAX_TARGETS: u32 = 1024;
/// Capacity of the per-thread maps.
pub const MAX_THREADS: u32 = 16384;
/// Size of the record ring buffer (a power of two pages).
pub const RECORDS_BYTES: u32 = 16 << 20;

/// The socket syscalls traced. The last four also work on files and pipes; they are
/// recorded only when they did socket work (see [`SyscallKind::socket_only_if_seen`]).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyscallKind {
    Sendto = 0,
    Sendmsg = 1,
    Recvfrom = 2,
    Recvmsg = 3,
    Write = 4,
    Read = 5,
    Writev = 6,
    Readv = 7,
}

/// Number of [`SyscallKind`]s.
pub const KINDS: usize = 8;

impl SyscallKind {
    pub const ALL: [SyscallKind; KINDS] = [
        SyscallKind::Sendto,
        SyscallKind::Sendmsg,
        SyscallKind::Recvfrom,
        SyscallKind::Recvmsg,
        SyscallKind::Write,
        SyscallKind::Read,
        SyscallKind::Writev,
        SyscallKind::Readv,
    ];

    /// write/read/writev/readv are kept only when, inside the call, the thread filled an
    /// skb (tcp_sendmsg_locked) or copied skb data to user space: the fd was a TCP socket
    /// that moved data. Failed or empty socket reads through read(2) are not seen.
    pub fn socket_only_if_seen(self) -> bool {
        (self as u8) >= SyscallKind::Write as u8
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            SyscallKind::Sendto => "sendto",
            SyscallKind::Sendmsg => "sendmsg",
            SyscallKind::Recvfrom => "recvfrom",
            SyscallKind::Recvmsg => "recvmsg",
            SyscallKind::Write => "write",
            SyscallKind::Read => "read",
            SyscallKind::Writev => "writev",
            SyscallKind::Readv => "readv",
        }
    }
}

/// `MSG_ERRQUEUE` in a call's flags: a zerocopy completion read.
pub const MSG_ERRQUEUE: u32 = 0x2000;
/// `MSG_ZEROCOPY` in a call's flags.
pub const MSG_ZEROCOPY: u32 = 0x400_0000;

/// Calls one thread completed, per [`SyscallKind`], counted in the kernel at syscall exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub calls: [u64; KINDS],
}

/// One traced call, emitted at its exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallRecord {
    /// `bpf_ktime_get_ns()` at entry (CLOCK_MONOTONIC).
    pub start_ns: u64,
    /// Exit minus entry.
    pub wall_ns: u64,
    /// Time the thread was switched out during the call.
    pub offcpu_ns: u64,
    /// The syscall's return value: bytes, or a negative errno.
    pub ret: i64,
    /// Bytes skb_copy_datagram_iovec copied to user space inside the call.
    pub bytes_to_user: u64,
    pub tgid: u32,
    pub tid: u32,
    pub fd: i32,
    pub flags: u32,
    /// Switches out of the call while the thread slept (prev_state != running).
    pub voluntary_cs: u32,
    /// Switches out while the thread was still runnable (preempted).
    pub involuntary_cs: u32,
    /// `tcp:tcp_sendmsg_locked` events inside the call (skbs the send loop filled).
    pub skbs_built: u32,
    /// `net:net_dev_xmit` events inside the call.
    pub skbs_tx: u32,
    /// `net:netif_receive_skb` events inside the call (loopback: the receive softirq runs in
    /// the sender's call).
    pub skbs_rx: u32,
    /// CPU the call exited on.
    pub cpu: u32,
    pub kind: u8,
    pub _pad: [u8; 7],
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: both are `repr(C)` plain integers with explicit padding, valid for any bytes.
    unsafe impl aya::Pod for super::CallCounts {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallRecord {}
}
