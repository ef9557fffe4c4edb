//! `--aggregate`: every call of one thread and kind added up in the kernel (`AGGREGATES`)
//! instead of a record per call, for call rates the record path cannot carry. The same
//! [`Aggregate::add`] folds streamed records in user space, so both paths add up alike.

use crate::{
    exact::EXACT_FNS,
    layout,
    syscalls::{MSG_ERRQUEUE, MSG_ZEROCOPY, SyscallRecord},
};

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
    pub _pad: u32,
    pub hist: [u64; HIST_BUCKETS],
}
layout!(
    Aggregate,
    568,
    exact_ns @ 136,
    bracket_calls @ 176,
    offcpu_reason_ns @ 208,
    tgid @ 240,
    hist @ 248
);

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
        }
        self.bytes += r.bytes();
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
        for (sum, ns) in self.offcpu_reason_ns.iter_mut().zip(r.offcpu_reason_ns) {
            *sum += ns;
        }
        if r.brackets == 1 {
            self.bracket_calls += 1;
            self.rx_softirq_ns += r.rx_softirq_ns as u64;
            self.tx_softirq_ns += r.tx_softirq_ns as u64;
            self.dev_xmit_ns += r.dev_xmit_ns as u64;
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
