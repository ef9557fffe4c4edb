//! Brackets family: stretches of kernel work inside a traced call timed exactly, between two
//! tracepoints, instead of estimated from stack samples.
//!
//! Hooks (raw tracepoints; names in `netcopy_common::brackets::PROGRAMS`):
//! `irq:softirq_entry`/`softirq_exit` (vec NET_RX or NET_TX) and
//! `net:net_dev_start_xmit`/`net:net_dev_xmit`. Numbers, in the CPU's `ON_CPU` slot and so in
//! the call running there: `rx_softirq_ns`, `tx_softirq_ns`, `dev_xmit_ns`. A bracket is
//! opened only while a traced call runs on the CPU; softirqs and transmits run to their end
//! on the CPU they began on, without a context switch, so the slot that opened a bracket is
//! the one that closes it. A transmit inside a softirq is the transmit's time and is taken
//! out of the softirq's, so the three never count one ns twice.

use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::raw_tracepoint, programs::RawTracePointContext};
use netcopy_common::{
    brackets::{NET_RX_SOFTIRQ, NET_TX_SOFTIRQ},
    call::OnCpu,
};

use crate::call::cpu_slot;

/// This CPU's slot while a traced call runs on it.
#[inline(always)]
fn traced_slot() -> Option<&'static mut OnCpu> {
    let slot = cpu_slot()?;
    // SAFETY: this CPU's slot; programs that write it do not interleave on one CPU except
    // by nesting (a softirq or transmit inside a program's run cannot happen: programs run
    // with preemption off and these hooks are not reached from inside a program).
    let slot = unsafe { &mut *slot };
    (slot.tid != 0).then_some(slot)
}

/// ns from `start` to now, saturated to the records' u32.
#[inline(always)]
fn ns_since(start: u64) -> u32 {
    let ns = unsafe { bpf_ktime_get_ns() }.saturating_sub(start);
    if ns > u64::from(u32::MAX) {
        u32::MAX
    } else {
        ns as u32
    }
}

/// The softirq vector of an irq tracepoint, if it is one bracketed here.
#[inline(always)]
fn net_softirq(ctx: &RawTracePointContext) -> Option<u32> {
    // The tracepoints' only argument: `unsigned int vec_nr`.
    let vec = ctx.arg::<u64>(0) as u32;
    (vec == NET_RX_SOFTIRQ || vec == NET_TX_SOFTIRQ).then_some(vec)
}

#[raw_tracepoint(tracepoint = "softirq_entry")]
pub fn bracket_softirq_entry(ctx: RawTracePointContext) -> i32 {
    if net_softirq(&ctx).is_none() {
        return 0;
    }
    if let Some(slot) = traced_slot() {
        let b = &mut slot.brackets;
        b.softirq_start = unsafe { bpf_ktime_get_ns() };
        b.xmit_in_softirq_ns = 0;
    }
    0
}

#[raw_tracepoint(tracepoint = "softirq_exit")]
pub fn bracket_softirq_exit(ctx: RawTracePointContext) -> i32 {
    let Some(vec) = net_softirq(&ctx) else {
        return 0;
    };
    let Some(slot) = cpu_slot() else {
        return 0;
    };
    // SAFETY: as in `traced_slot`.
    let slot = unsafe { &mut *slot };
    let start = slot.brackets.softirq_start;
    if start == 0 {
        return 0;
    }
    slot.brackets.softirq_start = 0;
    if slot.tid == 0 {
        return 0;
    }
    let ns = ns_since(start).saturating_sub(slot.brackets.xmit_in_softirq_ns);
    let net = &mut slot.net;
    if vec == NET_RX_SOFTIRQ {
        net.rx_softirq_ns = net.rx_softirq_ns.saturating_add(ns);
    } else {
        net.tx_softirq_ns = net.tx_softirq_ns.saturating_add(ns);
    }
    0
}

#[raw_tracepoint(tracepoint = "net_dev_start_xmit")]
pub fn bracket_xmit_start(_ctx: RawTracePointContext) -> i32 {
    if let Some(slot) = traced_slot() {
        let b = &mut slot.brackets;
        if b.xmit_depth == 0 {
            b.xmit_start = unsafe { bpf_ktime_get_ns() };
        }
        // A stacked device (a tunnel, a bond) transmits inside a transmit: only the
        // outermost is timed.
        b.xmit_depth += 1;
    }
    0
}

#[raw_tracepoint(tracepoint = "net_dev_xmit")]
pub fn bracket_xmit_end(_ctx: RawTracePointContext) -> i32 {
    let Some(slot) = cpu_slot() else {
        return 0;
    };
    // SAFETY: as in `traced_slot`.
    let slot = unsafe { &mut *slot };
    let b = &mut slot.brackets;
    if b.xmit_depth == 0 {
        return 0;
    }
    b.xmit_depth -= 1;
    if b.xmit_depth != 0 || b.xmit_start == 0 {
        return 0;
    }
    let start = b.xmit_start;
    b.xmit_start = 0;
    if slot.tid == 0 {
        return 0;
    }
    let ns = ns_since(start);
    if b.softirq_start != 0 {
        b.xmit_in_softirq_ns = b.xmit_in_softirq_ns.saturating_add(ns);
    }
    slot.net.dev_xmit_ns = slot.net.dev_xmit_ns.saturating_add(ns);
    0
}
