//! Net family: what the network stack does inside a traced call.
//!
//! Hooks, one set attached (see the attach record): the raw tracepoints
//! `tcp_sendmsg_locked` (skbs the send loop fills), `skb_copy_datagram_iovec` (bytes copied
//! to user), `net_dev_xmit` (skbs handed to the device) and `netif_receive_skb` (skbs
//! received; on loopback the receive softirq runs inside the sender's call), or the classic
//! tracepoints of the same names where raw_tp is hidden or refused. A classic tracepoint
//! first builds its record in a perf buffer and then dispatches through trace_call_bpf,
//! which perf put at 3.8% of a traced twocopy 1K run's CPU (twice the programs' own); a raw
//! tracepoint passes the arguments as they are. Each adds to the current thread's call, if
//! it is in one: in the CPU's `ON_CPU` slot, an array lookup instead of a hash lookup of
//! the thread (90 -> 62 ns per run, bpf_stats).

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};

use netcopy_common::call::NetCounts;

use crate::{call::net_counts, fields::field};

/// Offset of `len` in the classic skb:skb_copy_datagram_iovec's record.
const COPY_LEN: usize = 16;
/// `len`'s place among the raw tracepoint's arguments `(skb, len)`.
const COPY_LEN_ARG: usize = 1;

#[inline(always)]
fn with_call(f: impl FnOnce(&mut NetCounts)) -> u32 {
    if let Some(net) = net_counts() {
        // SAFETY: pointer from a map lookup; the current thread's call, on this CPU.
        f(unsafe { &mut *net });
    }
    0
}

#[tracepoint]
pub fn tcp_sendmsg_locked(_ctx: TracePointContext) -> u32 {
    with_call(|c| c.skbs_built += 1)
}

#[inline(always)]
fn copied(len: i32) -> u32 {
    with_call(|c| c.bytes_to_user += len.max(0) as u64)
}

#[tracepoint]
pub fn skb_copy_datagram_iovec(ctx: TracePointContext) -> u32 {
    // SAFETY: offset of the tracepoint's format.
    copied(unsafe { field(&ctx, COPY_LEN) })
}

#[tracepoint]
pub fn net_dev_xmit(_ctx: TracePointContext) -> u32 {
    with_call(|c| c.skbs_tx += 1)
}

#[tracepoint]
pub fn netif_receive_skb(_ctx: TracePointContext) -> u32 {
    with_call(|c| c.skbs_rx += 1)
}

#[raw_tracepoint(tracepoint = "tcp_sendmsg_locked")]
pub fn raw_tcp_sendmsg_locked(_ctx: RawTracePointContext) -> i32 {
    with_call(|c| c.skbs_built += 1) as i32
}

#[raw_tracepoint(tracepoint = "skb_copy_datagram_iovec")]
pub fn raw_skb_copy_datagram_iovec(ctx: RawTracePointContext) -> i32 {
    copied(ctx.arg::<u64>(COPY_LEN_ARG) as i32) as i32
}

#[raw_tracepoint(tracepoint = "net_dev_xmit")]
pub fn raw_net_dev_xmit(_ctx: RawTracePointContext) -> i32 {
    with_call(|c| c.skbs_tx += 1) as i32
}

#[raw_tracepoint(tracepoint = "netif_receive_skb")]
pub fn raw_netif_receive_skb(_ctx: RawTracePointContext) -> i32 {
    with_call(|c| c.skbs_rx += 1) as i32
}
