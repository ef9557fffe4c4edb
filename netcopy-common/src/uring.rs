//! The io_uring family's contract: the hooks, the opcodes and completion flags they read,
//! and the offsets of the fields in the tracepoints' records.
//!
//! Hooks (classic tracepoints, `netcopy-ebpf/src/uring.rs`): `io_uring:io_uring_submit_req`
//! counts the send requests a target thread submits and remembers them by request;
//! `io_uring:io_uring_complete` adds a send's result to the bytes of the call it completes
//! in and counts SEND_ZC notifications and the ones that say the kernel copied. Numbers: the
//! `uring_*` counts of [`crate::call::ExactCounts`] and a record's `uring_bytes`.
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

/// IORING_CQE_F_NOTIF: the completion is a zerocopy notification, not a request's result.
pub const CQE_F_NOTIF: u32 = 1 << 3;
/// IORING_NOTIF_USAGE_ZC_COPIED: set in a notification's result when the kernel copied.
pub const NOTIF_USAGE_ZC_COPIED: u32 = 1 << 31;
/// IORING_SEND_ZC_REPORT_USAGE: a SEND_ZC flag asking for that report.
pub const SEND_ZC_REPORT_USAGE: u16 = 1 << 3;

/// Offsets in the records (events/io_uring/*/format): `req` in both, `opcode` in
/// io_uring_submit_req, `res` and `cflags` in io_uring_complete.
pub const REQ: usize = 16;
pub const SUBMIT_OPCODE: usize = 32;
pub const COMPLETE_RES: usize = 32;
pub const COMPLETE_CFLAGS: usize = 36;

/// Send requests remembered between submit and completion, over all target threads.
pub const MAX_SENDS_IN_FLIGHT: u32 = 4096;

/// (program, tracepoint category, tracepoint name).
pub const PROGRAMS: [(&str, &str, &str); 2] = [
    ("uring_submit_req", "io_uring", "io_uring_submit_req"),
    ("uring_complete", "io_uring", "io_uring_complete"),
];
