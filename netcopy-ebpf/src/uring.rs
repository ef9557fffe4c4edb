//! io_uring family: the send requests a target thread puts on its rings.
//!
//! Hooks (classic tracepoints): `io_uring:io_uring_submit_req` (a send request submitted:
//! counted per thread, remembered by request) and `io_uring:io_uring_complete` (a remembered
//! request's result: its bytes go to the call it completes in, usually the io_uring_enter
//! that submitted or waited for it; a SEND_ZC notification: counted per thread, and whether
//! the kernel copied). Numbers: `ExactCounts::uring_*`, `Inflight::uring_bytes`.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::map, macros::tracepoint, maps::LruHashMap,
    programs::TracePointContext,
};
use netcopy_common::uring::{
    COMPLETE_CFLAGS, COMPLETE_RES, CQE_F_NOTIF, MAX_SENDS_IN_FLIGHT, NOTIF_USAGE_ZC_COPIED, REQ,
    SUBMIT_OPCODE, is_send,
};

use crate::{call::entry_of, fields::field};

/// Send requests between submit and completion, by `struct io_kiocb *`.
#[map]
static URING_SENDS: LruHashMap<u64, u8> = LruHashMap::with_max_entries(MAX_SENDS_IN_FLIGHT, 0);

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
    let _ = URING_SENDS.insert(&req, &opcode, 0);
    0
}

#[tracepoint]
pub fn uring_complete(ctx: TracePointContext) -> u32 {
    let Some(entry) = entry_of(bpf_get_current_pid_tgid() as u32) else {
        return 0;
    };
    // SAFETY: offsets of the tracepoint's format.
    let (res, cflags): (i32, u32) =
        unsafe { (field(&ctx, COMPLETE_RES), field(&ctx, COMPLETE_CFLAGS)) };
    // SAFETY: pointer from the lookup; the entry of the current thread.
    let entry = unsafe { &mut *entry };
    if cflags & CQE_F_NOTIF != 0 {
        entry.counts.uring_notifs += 1;
        if res as u32 & NOTIF_USAGE_ZC_COPIED != 0 {
            entry.counts.uring_copied += 1;
        }
        return 0;
    }
    // SAFETY: as above.
    let req: u64 = unsafe { field(&ctx, REQ) };
    // SAFETY: a plain value read out of the map.
    if unsafe { URING_SENDS.get(&req) }.is_none() {
        return 0;
    }
    let _ = URING_SENDS.remove(&req);
    if res > 0 && entry.call.active == 1 {
        entry.call.uring_bytes = entry.call.uring_bytes.saturating_add(res as u32);
    }
    0
}
