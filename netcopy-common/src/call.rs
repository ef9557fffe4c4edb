//! A target thread's call in flight and the calls it completed, kept in `THREADS` for the
//! whole trace (a call marks its entry active, then inactive, so the hot path looks entries
//! up instead of inserting and deleting them), and the per-CPU `ON_CPU` slot that the net
//! hooks count into. `THREADS` is an array: a thread's entry is in one of the
//! [`PROBES`] slots from its home slot (see [`thread_slot`]), found with inlined array
//! lookups instead of a hash lookup's helper call. The syscall family fills a call at entry; the sched, net, counters and
//! exact families add to it while it is active; the exit turns it into a record.

use crate::{exact::EXACT_FNS, layout, maps::MAX_THREADS, offcpu::KEPT, syscalls::KINDS};

/// Slots of `THREADS` a thread's entry may take, from its home slot on.
pub const PROBES: u32 = 4;
const _: () = assert!(MAX_THREADS.is_power_of_two());

/// The `THREADS` slot of thread `tid`'s `i`th probe (`i < PROBES`): the kernel claims the
/// first free one at the thread's first traced call, and both sides look it up in this order.
#[inline(always)]
pub const fn thread_slot(tid: u32, i: u32) -> u32 {
    tid.wrapping_add(i) & (MAX_THREADS - 1)
}

/// Calls one thread completed, per [`crate::syscalls::SyscallKind`], counted in the kernel
/// at syscall exit, even when records are lost.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExactCounts {
    pub calls: [u64; KINDS],
    /// io_uring send requests the thread submitted (see [`crate::uring`]).
    pub uring_sends: u64,
    /// SEND_ZC notifications posted to the thread, and those that said the kernel copied.
    pub uring_notifs: u64,
    pub uring_copied: u64,
    /// Of those, results and notifications the `URING_EVENTS` ring had no room for.
    pub uring_lost: u64,
}
layout!(ExactCounts, 8 * KINDS + 32, uring_sends @ 8 * KINDS);

/// What the net family counts inside a call, and the brackets family's exact times.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounts {
    pub bytes_to_user: u64,
    pub skbs_built: u32,
    pub skbs_tx: u32,
    pub skbs_rx: u32,
    /// ns in NET_RX softirqs that ran on the call's CPU while it ran there, less the device
    /// transmits inside them (those are in `dev_xmit_ns`): each ns goes to one bracket.
    pub rx_softirq_ns: u32,
    /// The same for NET_TX softirqs.
    pub tx_softirq_ns: u32,
    /// ns between `net:net_dev_start_xmit` and `net:net_dev_xmit` (outermost only).
    pub dev_xmit_ns: u32,
}
layout!(NetCounts, 32, skbs_built @ 8, skbs_rx @ 16, rx_softirq_ns @ 20, dev_xmit_ns @ 28);

impl NetCounts {
    /// Add `o` to these counts.
    #[inline(always)]
    pub fn add(&mut self, o: &NetCounts) {
        self.bytes_to_user += o.bytes_to_user;
        self.skbs_built += o.skbs_built;
        self.skbs_tx += o.skbs_tx;
        self.skbs_rx += o.skbs_rx;
        self.rx_softirq_ns = self.rx_softirq_ns.saturating_add(o.rx_softirq_ns);
        self.tx_softirq_ns = self.tx_softirq_ns.saturating_add(o.tx_softirq_ns);
        self.dev_xmit_ns = self.dev_xmit_ns.saturating_add(o.dev_xmit_ns);
    }
}

/// The brackets open on one CPU (see `netcopy-ebpf/src/brackets.rs`): when the NET_RX or
/// NET_TX softirq running there began and when the outermost device transmit began (0: none
/// open, or it began while no traced call ran here), the transmits' ns inside the open
/// softirq, and how deep the transmits nest.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Brackets {
    pub softirq_start: u64,
    pub xmit_start: u64,
    pub xmit_in_softirq_ns: u32,
    pub xmit_depth: u32,
}
layout!(Brackets, 24, xmit_start @ 8, xmit_depth @ 20);

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
    /// The CPU's open brackets; they outlive a change of `tid` only where none can be open
    /// (softirqs and transmits never span a context switch or a syscall boundary).
    pub brackets: Brackets,
}
layout!(OnCpu, 64, net @ 8, brackets @ 40);

/// A call in flight on one thread, filled in by the syscall family at entry and added to by
/// the sched, net, counters and exact families while `active` is 1. What every call writes
/// at entry and reads at exit comes first, through `offcpu_reason_ns`: 136 bytes, so that a
/// call touches as few cache lines as it can; the counter and exact-tier fields, used only
/// where a PMU or BPF trampolines exist, come after.
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
    /// Why the thread was last switched out (`crate::offcpu::Reason`), while it is.
    pub reason: u8,
    pub _pad: [u8; 3],
    /// Bytes the io_uring send requests completing inside the call reported sent.
    pub uring_bytes: u32,
    /// The hash of the stack the thread was last switched out at (a key of
    /// `crate::maps::OFFCPU_STACKS`), 0 when none was read, while it is out.
    pub wait_stack: u32,
    /// Off-CPU ns per kept reason (`crate::offcpu::KEPT`).
    pub offcpu_reason_ns: [u64; KEPT],
    /// Counter values when the current stretch began.
    pub stretch_cycles: u64,
    pub stretch_instructions: u64,
    /// Exact tier: when each timed function was entered (0: not inside it).
    pub exact_start: [u64; EXACT_FNS],
    /// Exact tier: ns inside each timed function so far.
    pub exact_ns: [u32; EXACT_FNS],
    pub _pad2: u32,
}
layout!(
    Inflight,
    216,
    net @ 24,
    cycles @ 56,
    fd @ 72,
    kind @ 88,
    active @ 91,
    reason @ 92,
    uring_bytes @ 96,
    wait_stack @ 100,
    offcpu_reason_ns @ 104,
    stretch_cycles @ 136,
    exact_start @ 152,
    exact_ns @ 192,
);

/// One target thread: its call in flight and the calls it completed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadEntry {
    /// The process the thread belongs to: a reused thread id of another process is not a
    /// target just because the entry is there.
    pub tgid: u32,
    /// The thread whose entry this slot is; 0 while the slot is free (0 is the idle task,
    /// never traced). First, on the line the call's first fields start on.
    pub tid: u32,
    pub call: Inflight,
    pub counts: ExactCounts,
    /// Never used: it keeps neighbouring entries off each other's cache lines (see
    /// [`ENTRY_GAP`]).
    pub _gap: [u64; ENTRY_GAP / 8],
}
layout!(ThreadEntry, 384, tid @ 4, call @ 8, counts @ 224);

/// Bytes of [`ThreadEntry`] after its last used one. Two target threads often have
/// neighbouring ids, so neighbouring slots, each written on its own CPU at every call: with
/// entries of 328 bytes, one thread's `tid` shared a cache line with the next one's `call`,
/// and the line moved between the CPUs twice a call (perf put 62% of sys_exit's samples, and
/// 40% of sys_enter's, on the first loads from the entry in a traced twocopy 1K run). With a
/// size that is a multiple of 64 and a gap of 56 bytes, the used bytes of two entries never
/// share a 64-byte line wherever an 8-byte-aligned array starts. The kernel's array values
/// start 8 bytes short of a line on 6.18, so there the ids fill those 8 bytes and the call
/// starts on a line: its first 136 bytes, what every call touches, take 3 lines.
pub const ENTRY_GAP: usize = 56;
const _: () = assert!(core::mem::size_of::<ThreadEntry>().is_multiple_of(64));
const _: () = assert!(core::mem::size_of::<ThreadEntry>() - ENTRY_GAP == 328);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)` plain integers with explicit padding, valid for any bytes.
    unsafe impl aya::Pod for super::ExactCounts {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ThreadEntry {}
}
