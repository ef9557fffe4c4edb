//! `--aggregate`: every call of one thread and kind added up in the kernel (`AGGREGATES`)
//! instead of a record per call, for call rates the record path cannot carry. The same
//! [`Aggregate::add`] folds streamed records in user space, so both paths add up alike.

use crate::{
    call::{Inflight, NetCounts},
    exact::EXACT_FNS,
    layout,
    offcpu::KEPT,
    syscalls::{KINDS, MSG_ERRQUEUE, MSG_ZEROCOPY, SyscallKind, SyscallRecord},
};

/// A finished call as the totals read it: a [`SyscallRecord`] in user space, or in the
/// kernel the call in flight at its exit ([`Ending`]), so that `--aggregate` folds a call
/// where it is instead of first building a whole record on the stack.
pub trait Finished {
    fn kind(&self) -> u8;
    /// The syscall's return value: bytes, requests submitted (io_uring_enter), or -errno.
    fn ret(&self) -> i64;
    fn wall_ns(&self) -> u64;
    fn offcpu_ns(&self) -> u64;
    fn flags(&self) -> u32;
    fn voluntary_cs(&self) -> u32;
    fn involuntary_cs(&self) -> u32;
    /// What the net and bracket families counted inside the call.
    fn net(&self) -> NetCounts;
    /// 1 when `cycles` and `instructions` were read at every on-CPU stretch.
    fn counters(&self) -> u8;
    fn cycles(&self) -> u64;
    fn instructions(&self) -> u64;
    /// 1 when the exact tier timed the call.
    fn exact(&self) -> u8;
    fn exact_ns(&self) -> &[u32; EXACT_FNS];
    fn offcpu_reason_ns(&self) -> &[u64; KEPT];
    /// 1 when the bracket programs were attached.
    fn brackets(&self) -> u8;
    fn uring_bytes(&self) -> u32;

    /// Bytes the call moved: its return value, or for io_uring_enter the results of the
    /// send requests that completed inside it; 0 for a failed call.
    #[inline(always)]
    fn bytes(&self) -> u64 {
        if self.kind() == SyscallKind::IoUringEnter as u8 {
            u64::from(self.uring_bytes())
        } else if self.ret() >= 0 {
            self.ret() as u64
        } else {
            0
        }
    }
}

/// Accessors that read the field of the same name.
macro_rules! fields {
    ($($name:ident: $t:ty),+ $(,)?) => {
        $(#[inline(always)] fn $name(&self) -> $t { self.$name })+
    };
}

impl Finished for SyscallRecord {
    fields!(
        kind: u8,
        ret: i64,
        wall_ns: u64,
        offcpu_ns: u64,
        flags: u32,
        voluntary_cs: u32,
        involuntary_cs: u32,
        counters: u8,
        cycles: u64,
        instructions: u64,
        exact: u8,
        brackets: u8,
        uring_bytes: u32,
    );

    #[inline(always)]
    fn net(&self) -> NetCounts {
        NetCounts {
            bytes_to_user: self.bytes_to_user,
            skbs_built: self.skbs_built,
            skbs_tx: self.skbs_tx,
            skbs_rx: self.skbs_rx,
            rx_softirq_ns: self.rx_softirq_ns,
            tx_softirq_ns: self.tx_softirq_ns,
            dev_xmit_ns: self.dev_xmit_ns,
        }
    }

    #[inline(always)]
    fn exact_ns(&self) -> &[u32; EXACT_FNS] {
        &self.exact_ns
    }

    #[inline(always)]
    fn offcpu_reason_ns(&self) -> &[u64; KEPT] {
        &self.offcpu_reason_ns
    }
}

/// A call at its exit in the kernel: the call in flight, and what only the exit knows.
pub struct Ending<'a> {
    pub call: &'a Inflight,
    pub kind: u8,
    pub wall_ns: u64,
    pub ret: i64,
    pub brackets: u8,
}

/// Accessors that read the call's field of the same name.
macro_rules! call_fields {
    ($($name:ident: $t:ty),+ $(,)?) => {
        $(#[inline(always)] fn $name(&self) -> $t { self.call.$name })+
    };
}

impl Finished for Ending<'_> {
    fields!(kind: u8, ret: i64, wall_ns: u64, brackets: u8);
    call_fields!(
        offcpu_ns: u64,
        flags: u32,
        voluntary_cs: u32,
        involuntary_cs: u32,
        net: NetCounts,
        counters: u8,
        cycles: u64,
        instructions: u64,
        exact: u8,
        uring_bytes: u32,
    );

    #[inline(always)]
    fn exact_ns(&self) -> &[u32; EXACT_FNS] {
        &self.call.exact_ns
    }

    #[inline(always)]
    fn offcpu_reason_ns(&self) -> &[u64; KEPT] {
        &self.call.offcpu_reason_ns
    }
}

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
layout!(AggKey, 8, kind @ 4);

impl AggKey {
    #[inline(always)]
    pub const fn new(tid: u32, kind: u8) -> Self {
        Self {
            tid,
            kind,
            _pad: [0; 3],
        }
    }
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
    /// Calls the brackets timed; the three bracket times sum over these.
    pub bracket_calls: u64,
    pub rx_softirq_ns: u64,
    pub tx_softirq_ns: u64,
    pub dev_xmit_ns: u64,
    /// Off-CPU ns per kept reason (`crate::offcpu::Reason`).
    pub offcpu_reason_ns: [u64; crate::offcpu::KEPT],
    pub tgid: u32,
    /// In `TOTALS`: the thread and kind whose totals these are (0: the slot is free).
    /// Beside an [`AggKey`] in `AGGREGATES`: 0.
    pub tid: u32,
    pub kind: u32,
    pub _pad: u32,
    pub hist: [u64; HIST_BUCKETS],
}
layout!(
    Aggregate,
    576,
    exact_ns @ 136,
    bracket_calls @ 176,
    offcpu_reason_ns @ 208,
    tgid @ 240,
    tid @ 244,
    kind @ 248,
    hist @ 256
);

/// Slots of `TOTALS`, the array that holds most threads' `--aggregate` totals.
pub const TOTAL_SLOTS: u32 = crate::maps::MAX_THREADS;
const _: () = assert!(TOTAL_SLOTS.is_power_of_two() && KINDS % 2 == 1);

/// The `TOTALS` slot of thread `tid`'s calls of `kind`: `tid * KINDS + kind`, wrapped. Found
/// with an inlined array lookup instead of a hash lookup (55-60 ns of sys_exit per call,
/// bpf_stats, traced onecopy 1K). A thread's kinds take neighbouring slots, so threads
/// whose ids are close never share one; two threads meet only where their ids differ by
/// one of a few far-apart amounts (`KINDS` is odd, so a multiple of `TOTAL_SLOTS` for one
/// kind). A slot held by another thread or kind sends the call to the `AGGREGATES` hash map.
#[inline(always)]
pub const fn totals_slot(tid: u32, kind: SyscallKind) -> u32 {
    tid.wrapping_mul(KINDS as u32).wrapping_add(kind as u32) & (TOTAL_SLOTS - 1)
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
            bracket_calls: 0,
            rx_softirq_ns: 0,
            tx_softirq_ns: 0,
            dev_xmit_ns: 0,
            offcpu_reason_ns: [0; crate::offcpu::KEPT],
            tgid: 0,
            tid: 0,
            kind: 0,
            _pad: 0,
            hist: [0; HIST_BUCKETS],
        }
    }
}

impl Aggregate {
    /// Add one call: the one definition of what a call adds to the totals, used by the
    /// kernel (`--aggregate`, from the call in flight) and by user space (folding streamed
    /// records).
    #[inline(always)]
    pub fn add(&mut self, c: &impl Finished) {
        self.calls += 1;
        if c.ret() < 0 {
            self.errors += 1;
        }
        self.bytes += c.bytes();
        let wall_ns = c.wall_ns();
        self.wall_ns += wall_ns;
        self.offcpu_ns += c.offcpu_ns();
        self.voluntary_cs += u64::from(c.voluntary_cs());
        self.involuntary_cs += u64::from(c.involuntary_cs());
        let net = c.net();
        self.skbs_built += u64::from(net.skbs_built);
        self.skbs_tx += u64::from(net.skbs_tx);
        self.skbs_rx += u64::from(net.skbs_rx);
        self.bytes_to_user += net.bytes_to_user;
        let flags = c.flags();
        self.zerocopy += u64::from(flags & MSG_ZEROCOPY != 0);
        self.errqueue += u64::from(flags & MSG_ERRQUEUE != 0);
        if c.counters() == 1 {
            self.counted += 1;
            self.cycles += c.cycles();
            self.instructions += c.instructions();
        }
        if c.exact() == 1 {
            self.exact_calls += 1;
            for (sum, ns) in self.exact_ns.iter_mut().zip(c.exact_ns().iter()) {
                *sum += u64::from(*ns);
            }
        }
        for (sum, ns) in self.offcpu_reason_ns.iter_mut().zip(c.offcpu_reason_ns()) {
            *sum += *ns;
        }
        if c.brackets() == 1 {
            self.bracket_calls += 1;
            self.rx_softirq_ns += u64::from(net.rx_softirq_ns);
            self.tx_softirq_ns += u64::from(net.tx_softirq_ns);
            self.dev_xmit_ns += u64::from(net.dev_xmit_ns);
        }
        if let Some(slot) = self.hist.get_mut(log2_bucket(wall_ns)) {
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
        for (a, b) in self.offcpu_reason_ns.iter_mut().zip(o.offcpu_reason_ns) {
            *a += b;
        }
        self.bracket_calls += o.bracket_calls;
        self.rx_softirq_ns += o.rx_softirq_ns;
        self.tx_softirq_ns += o.tx_softirq_ns;
        self.dev_xmit_ns += o.dev_xmit_ns;
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
    // SAFETY: `repr(C)` plain integers with explicit padding, valid for any bytes.
    unsafe impl aya::Pod for super::AggKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Aggregate {}
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn neighbouring_threads_and_kinds_take_their_own_slots() {
        // Thread ids as a process hands them out, around a wrap of the slots and up high.
        for base in [1u32, TOTAL_SLOTS - 40, 4_194_000] {
            let mut seen = BTreeSet::new();
            for tid in base..base + 1000 {
                for kind in SyscallKind::ALL {
                    let slot = totals_slot(tid, kind);
                    assert!(slot < TOTAL_SLOTS);
                    assert!(seen.insert(slot), "tid {tid} {kind:?}: slot {slot} taken");
                }
            }
        }
    }

    /// A call in flight at its exit, every field `add` reads set to its own value.
    fn inflight(offcpu_ns: u64) -> Inflight {
        Inflight {
            start_ns: 5,
            offcpu_ns,
            net: NetCounts {
                bytes_to_user: 1000,
                skbs_built: 2,
                skbs_tx: 3,
                skbs_rx: 4,
                rx_softirq_ns: 50,
                tx_softirq_ns: 60,
                dev_xmit_ns: 70,
            },
            cycles: 800,
            instructions: 900,
            flags: MSG_ZEROCOPY | MSG_ERRQUEUE,
            voluntary_cs: 6,
            involuntary_cs: 7,
            counters: 1,
            exact: 1,
            uring_bytes: 4096,
            offcpu_reason_ns: [11, 12, 13, 14],
            exact_ns: [21, 22, 23, 24, 25],
            ..Default::default()
        }
    }

    #[test]
    fn a_call_folded_where_it_is_adds_what_its_record_adds() {
        for (kind, ret, offcpu_ns) in [
            (SyscallKind::Sendmsg, 1024, 0),
            (SyscallKind::Recvmsg, -11, 300),
            (SyscallKind::IoUringEnter, 2, 70),
        ] {
            let call = inflight(offcpu_ns);
            let ending = Ending {
                call: &call,
                kind: kind as u8,
                wall_ns: 1234,
                ret,
                brackets: 1,
            };
            let record = SyscallRecord {
                wall_ns: 1234,
                offcpu_ns,
                ret,
                bytes_to_user: 1000,
                flags: call.flags,
                voluntary_cs: 6,
                involuntary_cs: 7,
                skbs_built: 2,
                skbs_tx: 3,
                skbs_rx: 4,
                kind: kind as u8,
                counters: 1,
                exact: 1,
                brackets: 1,
                rx_softirq_ns: 50,
                tx_softirq_ns: 60,
                dev_xmit_ns: 70,
                cycles: 800,
                instructions: 900,
                offcpu_reason_ns: [11, 12, 13, 14],
                exact_ns: [21, 22, 23, 24, 25],
                uring_bytes: 4096,
                ..Default::default()
            };
            let (mut from_call, mut from_record) = (Aggregate::default(), Aggregate::default());
            from_call.add(&ending);
            from_record.add(&record);
            assert_eq!(from_call, from_record, "{kind:?}");
            assert_eq!(from_call.errors, u64::from(ret < 0));
            assert_eq!(
                from_call.bytes,
                match kind {
                    SyscallKind::IoUringEnter => 4096,
                    _ => ret.max(0) as u64,
                }
            );
            assert_eq!(from_call.hist[log2_bucket(1234)], 1);
        }
    }
}
