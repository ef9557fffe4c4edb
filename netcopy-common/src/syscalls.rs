//! The syscall family: what the kernel side records for each traced socket call.
//!
//! Hooks: `syscalls:sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg}` (classic tracepoints),
//! with `sched:sched_switch` and the net/skb/tcp tracepoints adding to the call in flight.
//! Numbers: one [`SyscallRecord`] per call through the `RECORDS` ring buffer, and exact
//! per-thread call totals in `THREADS`, kept even when records are lost.

use crate::exact::EXACT_FNS;

/// Hash map tgid -> [`TARGET_PRESENT`]: the processes traced.
pub const TARGET_TGIDS_MAP: &str = "TARGET_TGIDS";
/// Hash map command name (NUL-padded, [`COMM_LEN`] bytes) -> [`TARGET_PRESENT`].
pub const TARGET_COMMS_MAP: &str = "TARGET_COMMS";
/// Hash map cgroup v2 id (the cgroup directory's inode) -> [`TARGET_PRESENT`].
pub const TARGET_CGROUPS_MAP: &str = "TARGET_CGROUPS";
/// Bytes of a task's command name, as the kernel keeps it (15 + NUL).
pub const COMM_LEN: usize = 16;
/// Hash map tid -> [`ThreadEntry`]: each target thread's call in flight and its exact call
/// counts. Entries stay for the whole trace (a call marks its entry active, then inactive),
/// so the hot path looks entries up instead of inserting and deleting them.
pub const THREADS_MAP: &str = "THREADS";
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

/// What the net family counts inside a call.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounts {
    pub bytes_to_user: u64,
    pub skbs_built: u32,
    pub skbs_tx: u32,
    pub skbs_rx: u32,
    pub _pad: u32,
}

impl NetCounts {
    /// Add `o` to these counts.
    #[inline(always)]
    pub fn add(&mut self, o: &NetCounts) {
        self.bytes_to_user += o.bytes_to_user;
        self.skbs_built += o.skbs_built;
        self.skbs_tx += o.skbs_tx;
        self.skbs_rx += o.skbs_rx;
    }
}

/// The traced call running on one CPU and what the net family counted for it there since it
/// last came onto the CPU. The net hooks fire many times per call; finding the call here is
/// a per-CPU array slot instead of a hash lookup of the thread. The counts are added to the
/// thread's [`Inflight`] when the thread leaves the CPU or the call ends.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnCpu {
    /// The thread, or 0 when no traced call runs on the CPU.
    pub tid: u32,
    pub _pad: u32,
    pub net: NetCounts,
}

/// A call in flight on one thread, filled in by the syscall family at entry and added to by
/// the sched, net, counters and exact families while `active` is 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inflight {
    pub start_ns: u64,
    /// When the thread was last switched out during the call; 0 while it runs.
    pub switched_out_ns: u64,
    pub offcpu_ns: u64,
    /// Net counts of the call's finished stretches on a CPU (see [`OnCpu`]).
    pub net: NetCounts,
    /// Counters moved over the call's finished on-CPU stretches.
    pub cycles: u64,
    pub instructions: u64,
    /// Counter values when the current stretch began.
    pub stretch_cycles: u64,
    pub stretch_instructions: u64,
    /// Exact tier: when each timed function was entered (0: not inside it).
    pub exact_start: [u64; EXACT_FNS],
    /// Exact tier: ns inside each timed function so far.
    pub exact_ns: [u32; EXACT_FNS],
    pub fd: i32,
    pub flags: u32,
    pub voluntary_cs: u32,
    pub involuntary_cs: u32,
    pub kind: u8,
    /// 1 while the counters are read for this call (see the counters family).
    pub counters: u8,
    /// 1 when the exact tier times this call.
    pub exact: u8,
    /// 1 between the call's entry and exit.
    pub active: u8,
}

/// One target thread: its call in flight and the calls it completed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadEntry {
    pub call: Inflight,
    pub counts: CallCounts,
    /// The process the thread belongs to: a reused thread id of another process is not a
    /// target just because the entry is there.
    pub tgid: u32,
    pub _pad: u32,
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
    /// Hardware cycles the thread ran inside the call (valid when `counters` is 1).
    pub cycles: u64,
    /// Instructions retired inside the call (valid when `counters` is 1).
    pub instructions: u64,
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
    /// 1 when `cycles` and `instructions` were read at every on-CPU stretch of the call.
    pub counters: u8,
    /// 1 when the exact tier timed this call (`exact_ns` is valid).
    pub exact: u8,
    pub _pad: u8,
    /// ns inside each of [`crate::exact::FUNCTIONS`] during the call.
    pub exact_ns: [u32; EXACT_FNS],
}

/// Records gathered per CPU before they go to the ring buffer in one piece: a reservation
/// in the shared ring costs a lock and cache-line traffic between CPUs, so one per 32 calls
/// instead of one per call.
pub const BATCH_RECORDS: usize = 32;
/// Per-CPU array (one slot) of [`StagedRecords`]: each CPU's batch being filled.
pub const STAGING_MAP: &str = "STAGING";

/// A batch of records: what one ring buffer item holds, and what each CPU fills.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct StagedRecords {
    /// Records in use, from the front.
    pub count: u32,
    pub _pad: u32,
    pub records: [SyscallRecord; BATCH_RECORDS],
}

/// Array map with one [`Config`] word, set by user space before tracing.
pub const CONFIG_MAP: &str = "CONFIG";
/// Hash map [`AggKey`] -> [`Aggregate`], filled instead of records with `--aggregate`.
pub const AGGREGATES_MAP: &str = "AGGREGATES";
/// [`CONFIG_MAP`] bit: fold calls into [`Aggregate`]s in the kernel, emit no records.
pub const CONFIG_AGGREGATE: u32 = 1;
/// [`CONFIG_MAP`] bit: `TARGET_COMMS` has entries (otherwise the comm is not looked up).
pub const CONFIG_BY_COMM: u32 = 2;
/// [`CONFIG_MAP`] bit: `TARGET_CGROUPS` has entries.
pub const CONFIG_BY_CGROUP: u32 = 4;
/// [`CONFIG_MAP`] bit: `CYCLES` and `INSTRUCTIONS` hold a counter per CPU; read them.
pub const CONFIG_COUNTERS: u32 = 8;
/// [`CONFIG_MAP`] bit: the trace is ending: no new call starts, none is counted or
/// recorded, so the per-CPU batches can be read without racing a flush.
pub const CONFIG_PAUSED: u32 = 32;
/// [`CONFIG_MAP`] bit: the exact tier's fentry/fexit programs are attached.
pub const CONFIG_EXACT: u32 = 16;
/// Perf event array: a cycles counter per CPU (or the stand-in, see the counters module).
pub const CYCLES_MAP: &str = "CYCLES";
/// Perf event array: an instructions counter per CPU.
pub const INSTRUCTIONS_MAP: &str = "INSTRUCTIONS";
/// Log2 buckets of call wall time: bucket `i` holds calls of `[2^i, 2^(i+1))` ns.
pub const HIST_BUCKETS: usize = 40;

/// One thread and syscall kind.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AggKey {
    pub tid: u32,
    pub kind: u8,
    pub _pad: [u8; 3],
}

/// Every call of one thread and kind, added up in the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub calls: u64,
    pub errors: u64,
    pub bytes: u64,
    pub wall_ns: u64,
    pub offcpu_ns: u64,
    pub voluntary_cs: u64,
    pub involuntary_cs: u64,
    pub skbs_built: u64,
    pub skbs_tx: u64,
    pub skbs_rx: u64,
    pub bytes_to_user: u64,
    pub zerocopy: u64,
    pub errqueue: u64,
    /// Calls whose counters were read; `cycles` and `instructions` sum over these.
    pub counted: u64,
    pub cycles: u64,
    pub instructions: u64,
    /// Calls the exact tier timed; `exact_ns` sums over these.
    pub exact_calls: u64,
    pub exact_ns: [u64; EXACT_FNS],
    pub tgid: u32,
    pub _pad: u32,
    pub hist: [u64; HIST_BUCKETS],
}

impl Default for Aggregate {
    fn default() -> Self {
        Self {
            calls: 0,
            errors: 0,
            bytes: 0,
            wall_ns: 0,
            offcpu_ns: 0,
            voluntary_cs: 0,
            involuntary_cs: 0,
            skbs_built: 0,
            skbs_tx: 0,
            skbs_rx: 0,
            bytes_to_user: 0,
            zerocopy: 0,
            errqueue: 0,
            counted: 0,
            cycles: 0,
            instructions: 0,
            exact_calls: 0,
            exact_ns: [0; EXACT_FNS],
            tgid: 0,
            _pad: 0,
            hist: [0; HIST_BUCKETS],
        }
    }
}

impl Aggregate {
    /// Add one call: the one definition of what a record adds to the totals, used by the
    /// kernel (`--aggregate`) and by user space (folding streamed records).
    #[inline(always)]
    pub fn add(&mut self, r: &SyscallRecord) {
        self.calls += 1;
        if r.ret < 0 {
            self.errors += 1;
        } else {
            self.bytes += r.ret as u64;
        }
        self.wall_ns += r.wall_ns;
        self.offcpu_ns += r.offcpu_ns;
        self.voluntary_cs += r.voluntary_cs as u64;
        self.involuntary_cs += r.involuntary_cs as u64;
        self.skbs_built += r.skbs_built as u64;
        self.skbs_tx += r.skbs_tx as u64;
        self.skbs_rx += r.skbs_rx as u64;
        self.bytes_to_user += r.bytes_to_user;
        self.zerocopy += (r.flags & MSG_ZEROCOPY != 0) as u64;
        self.errqueue += (r.flags & MSG_ERRQUEUE != 0) as u64;
        if r.counters == 1 {
            self.counted += 1;
            self.cycles += r.cycles;
            self.instructions += r.instructions;
        }
        if r.exact == 1 {
            self.exact_calls += 1;
            for (sum, ns) in self.exact_ns.iter_mut().zip(r.exact_ns.iter()) {
                *sum += *ns as u64;
            }
        }
        if let Some(slot) = self.hist.get_mut(log2_bucket(r.wall_ns)) {
            *slot += 1;
        }
    }

    /// Add another thread's or batch's totals.
    pub fn merge(&mut self, o: &Aggregate) {
        self.calls += o.calls;
        self.errors += o.errors;
        self.bytes += o.bytes;
        self.wall_ns += o.wall_ns;
        self.offcpu_ns += o.offcpu_ns;
        self.voluntary_cs += o.voluntary_cs;
        self.involuntary_cs += o.involuntary_cs;
        self.skbs_built += o.skbs_built;
        self.skbs_tx += o.skbs_tx;
        self.skbs_rx += o.skbs_rx;
        self.bytes_to_user += o.bytes_to_user;
        self.zerocopy += o.zerocopy;
        self.errqueue += o.errqueue;
        self.counted += o.counted;
        self.cycles += o.cycles;
        self.instructions += o.instructions;
        self.exact_calls += o.exact_calls;
        for (a, b) in self.exact_ns.iter_mut().zip(o.exact_ns.iter()) {
            *a += b;
        }
        for (a, b) in self.hist.iter_mut().zip(o.hist.iter()) {
            *a += b;
        }
    }

    /// On-CPU time: wall time minus time switched out.
    pub fn oncpu_ns(&self) -> u64 {
        self.wall_ns.saturating_sub(self.offcpu_ns)
    }
}

/// The log2 bucket of `ns`, in a form the verifier accepts (no loops, bounded result).
#[inline(always)]
pub fn log2_bucket(ns: u64) -> usize {
    let mut v = ns;
    let mut b = 0;
    if v >= 1 << 32 {
        v >>= 32;
        b += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        b += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        b += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        b += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        b += 2;
    }
    if v >= 1 << 1 {
        b += 1;
    }
    if b >= HIST_BUCKETS {
        HIST_BUCKETS - 1
    } else {
        b
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)` integers with explicit padding.
    unsafe impl aya::Pod for super::AggKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Aggregate {}
    // SAFETY: both are `repr(C)` plain integers with explicit padding, valid for any bytes.
    unsafe impl aya::Pod for super::CallCounts {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ThreadEntry {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::StagedRecords {}
}
