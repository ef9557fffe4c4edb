//! Net family: what the network stack does inside a traced call.
//!
//! Hooks (classic tracepoints): `tcp:tcp_sendmsg_locked` (skbs the send loop fills),
//! `skb:skb_copy_datagram_iovec` (bytes copied to user), `net:net_dev_xmit` (skbs handed to
//! the device), `net:netif_receive_skb` (skbs received; on loopback the receive softirq runs
//! inside the sender's call). Each adds to the current thread's call, if it is in one: in the
//! CPU's `ON_CPU` slot, an array lookup instead of a hash lookup of the thread (90 -> 62 ns
//! per run, bpf_stats).

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};

use netcopy_common::call::NetCounts;

use crate::{call::net_counts, fields::field};

/// Offset of `len` in skb:skb_copy_datagram_iovec.
const COPY_LEN: usize = 16;

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

#[tracepoint]
pub fn skb_copy_datagram_iovec(ctx: TracePointContext) -> u32 {
    // SAFETY: offset of the tracepoint's format.
    let len: i32 = unsafe { field(&ctx, COPY_LEN) };
    with_call(|c| c.bytes_to_user += len.max(0) as u64)
}

#[tracepoint]
pub fn net_dev_xmit(_ctx: TracePointContext) -> u32 {
    with_call(|c| c.skbs_tx += 1)
}

#[tracepoint]
pub fn netif_receive_skb(_ctx: TracePointContext) -> u32 {
    with_call(|c| c.skbs_rx += 1)
}
