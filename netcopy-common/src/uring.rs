//! The io_uring family's contract: the hooks, the opcodes and completion flags they read,
//! and the offsets of the fields in the tracepoints' records.
//!
//! Hooks (classic tracepoints, `netcopy-ebpf/src/uring.rs`): `io_uring:io_uring_submit_req`
//! counts the send requests a target thread submits and remembers them by request;
//! `io_uring:io_uring_complete` adds a send's result to the bytes of the call it completes
//! in and counts SEND_ZC notifications and the ones that say the kernel copied. Numbers: the
//! `uring_*` counts of [`crate::call::ExactCounts`], a record's `uring_bytes`, and one
//! [`UringEvent`] per send result and per notification through the `URING_EVENTS` ring
//! buffer (uring.parquet).
//! The constants are those of include/uapi/linux/io_uring.h.

/// IORING_OP_SENDMSG, IORING_OP_SEND, IORING_OP_SEND_ZC, IORING_OP_SENDMSG_ZC.
pub const OP_SENDMSG: u8 = 9;
pub const OP_SEND: u8 = 26;
pub const OP_SEND_ZC: u8 = 47;
pub const OP_SENDMSG_ZC: u8 = 48;

/// A request that sends on a socket.
#[inline(always)]
pub const fn is_send(opcode: u8) -> bool {
    matches!(opcode, OP_SENDMSG | OP_SEND | OP_SEND_ZC | OP_SENDMSG_ZC)
}

/// IORING_CQE_F_MORE: a notification will follow this result.
pub const CQE_F_MORE: u32 = 1 << 1;
/// IORING_CQE_F_NOTIF: the completion is a zerocopy notification, not a request's result.
pub const CQE_F_NOTIF: u32 = 1 << 3;
/// IORING_NOTIF_USAGE_ZC_COPIED: set in a notification's result when the kernel copied.
pub const NOTIF_USAGE_ZC_COPIED: u32 = 1 << 31;
/// IORING_SEND_ZC_REPORT_USAGE: a SEND_ZC flag asking for that report.
pub const SEND_ZC_REPORT_USAGE: u16 = 1 << 3;

/// Offsets in the records (events/io_uring/*/format): `req` in both, `opcode` in
/// io_uring_submit_req, `res` and `cflags` in io_uring_complete.
pub const REQ: usize = 16;
/// `user_data` in io_uring_complete.
pub const COMPLETE_USER_DATA: usize = 24;
pub const SUBMIT_OPCODE: usize = 32;
pub const COMPLETE_RES: usize = 32;
pub const COMPLETE_CFLAGS: usize = 36;

/// A send request between submit and completion (the `URING_SENDS` value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendInFlight {
    /// `bpf_ktime_get_ns()` at io_uring_submit_req.
    pub submit_ns: u64,
    pub opcode: u8,
    pub _pad: [u8; 7],
}
crate::layout!(SendInFlight, 16, opcode @ 8);

/// [`UringEvent::kind`]: a send request's result.
pub const EVENT_RESULT: u8 = 0;
/// [`UringEvent::kind`]: a SEND_ZC notification.
pub const EVENT_NOTIF: u8 = 1;

/// A send request's result or a notification of a target thread, as it completed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringEvent {
    /// When the completion was posted (`bpf_ktime_get_ns()`).
    pub complete_ns: u64,
    /// When the request was submitted; 0 for a notification.
    pub submit_ns: u64,
    pub user_data: u64,
    /// The CQE's result: bytes or -errno; for a notification, the usage bits.
    pub res: i32,
    pub cflags: u32,
    pub tid: u32,
    pub opcode: u8,
    pub kind: u8,
    pub _pad: [u8; 2],
}
crate::layout!(UringEvent, 40, res @ 24, tid @ 32, kind @ 37);

/// Bytes of the `URING_EVENTS` ring buffer.
pub const EVENTS_BYTES: u32 = 8 << 20;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)` plain integers with explicit padding, valid for any bytes.
    unsafe impl aya::Pod for super::UringEvent {}
}

/// Send requests remembered between submit and completion, over all target threads.
pub const MAX_SENDS_IN_FLIGHT: u32 = 4096;

/// (program, tracepoint category, tracepoint name).
pub const PROGRAMS: [(&str, &str, &str); 2] = [
    ("uring_submit_req", "io_uring", "io_uring_submit_req"),
    ("uring_complete", "io_uring", "io_uring_complete"),
];
