//! io_uring family: the send requests a target thread puts on its rings.
//!
//! Hooks (classic tracepoints): `io_uring:io_uring_submit_req` (a send request submitted:
//! counted per thread, remembered by request with its submit time) and
//! `io_uring:io_uring_complete` (a remembered request's result: its bytes go to the call it
//! completes in, usually the io_uring_enter that submitted or waited for it; a SEND_ZC
//! notification: counted per thread, and whether the kernel copied). Numbers:
//! `ExactCounts::uring_*`, `Inflight::uring_bytes`, and a [`UringEvent`] per result and
//! per notification in `URING_EVENTS`, which user space polls (no wakeups).

use aya_ebpf::{
    bindings::BPF_RB_NO_WAKEUP,
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{LruHashMap, RingBuf},
    programs::TracePointContext,
};
use netcopy_common::{
    call::ThreadEntry,
    uring::{
        COMPLETE_CFLAGS, COMPLETE_RES, COMPLETE_USER_DATA, CQE_F_NOTIF, EVENT_NOTIF, EVENT_RESULT,
        EVENTS_BYTES, MAX_SENDS_IN_FLIGHT, NOTIF_USAGE_ZC_COPIED, REQ, SUBMIT_OPCODE, SendInFlight,
        UringEvent, is_send,
    },
};

use crate::{call::entry_of, fields::field};

/// Send requests between submit and completion, by `struct io_kiocb *`.
#[map]
static URING_SENDS: LruHashMap<u64, SendInFlight> =
    LruHashMap::with_max_entries(MAX_SENDS_IN_FLIGHT, 0);

#[map]
static URING_EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

#[tracepoint]
pub fn uring_submit_req(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets of the tracepoint's format.
    let opcode: u8 = unsafe { field(&ctx, SUBMIT_OPCODE) };
    if !is_send(opcode) {
        return 0;
    }
    let Some(entry) = entry_of(bpf_get_current_pid_tgid() as u32) else {
        return 0;
    };
    // SAFETY: pointer from the lookup; the counts of the current thread.
    unsafe { (*entry).counts.uring_sends += 1 };
    // SAFETY: as above.
    let req: u64 = unsafe { field(&ctx, REQ) };
    let sent = SendInFlight {
        submit_ns: unsafe { bpf_ktime_get_ns() },
        opcode,
        _pad: [0; 7],
    };
    let _ = URING_SENDS.insert(&req, &sent, 0);
    0
}

/// Hand `event` to user space, counting it as lost in `entry` when the ring is full.
#[inline(always)]
fn emit(entry: &mut ThreadEntry, event: &UringEvent) {
    if URING_EVENTS
        .output::<UringEvent>(event, BPF_RB_NO_WAKEUP as u64)
        .is_err()
    {
        entry.counts.uring_lost += 1;
    }
}

#[tracepoint]
pub fn uring_complete(ctx: TracePointContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(entry) = entry_of(tid) else {
        return 0;
    };
    // SAFETY: offsets of the tracepoint's format.
    let (res, cflags, user_data): (i32, u32, u64) = unsafe {
        (
            field(&ctx, COMPLETE_RES),
            field(&ctx, COMPLETE_CFLAGS),
            field(&ctx, COMPLETE_USER_DATA),
        )
    };
    // SAFETY: pointer from the lookup; the entry of the current thread.
    let entry = unsafe { &mut *entry };
    let mut event = UringEvent {
        complete_ns: unsafe { bpf_ktime_get_ns() },
        submit_ns: 0,
        user_data,
        res,
        cflags,
        tid,
        opcode: 0,
        kind: EVENT_NOTIF,
        _pad: [0; 2],
    };
    if cflags & CQE_F_NOTIF != 0 {
        entry.counts.uring_notifs += 1;
        if res as u32 & NOTIF_USAGE_ZC_COPIED != 0 {
            entry.counts.uring_copied += 1;
        }
        emit(entry, &event);
        return 0;
    }
    // SAFETY: as above.
    let req: u64 = unsafe { field(&ctx, REQ) };
    // SAFETY: a plain value copied out of the map.
    let Some(sent) = (unsafe { URING_SENDS.get(&req) }).copied() else {
        return 0;
    };
    let _ = URING_SENDS.remove(&req);
    if res > 0 && entry.call.active == 1 {
        entry.call.uring_bytes = entry.call.uring_bytes.saturating_add(res as u32);
    }
    event.submit_ns = sent.submit_ns;
    event.opcode = sent.opcode;
    event.kind = EVENT_RESULT;
    emit(entry, &event);
    0
}
