//! The classic per-syscall tracepoints `syscalls:sys_{enter,exit}_*`, 18 programs: the
//! fallback where raw_tp is refused or the architecture is not x86-64. Arguments come from
//! the tracepoint's record at the offsets of its format.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use netcopy_common::syscalls::SyscallKind;

use super::{enter_with, exit_with};
use crate::{fields::field, targets::current_ids};

// Offsets in the syscall tracepoints' records (see events/syscalls/*/format): arguments are
// 8-byte slots from offset 16; the exit record's `ret` is at 16.
const ARG_FD: usize = 16;
const FLAGS_SENDTO: usize = 40;
const FLAGS_SENDMSG: usize = 32;
const RET: usize = 16;
/// write/read/writev/readv have no flags argument.
const NO_FLAGS: usize = 0;

#[inline(always)]
fn enter(ctx: &TracePointContext, kind: SyscallKind, flags_at: usize) -> u32 {
    enter_with(kind, || {
        // SAFETY: the offsets are those of the tracepoint's format, 8-byte aligned.
        let fd: u64 = unsafe { field(ctx, ARG_FD) };
        let flags: u64 = if flags_at == NO_FLAGS {
            0
        } else {
            // SAFETY: as above.
            unsafe { field(ctx, flags_at) }
        };
        (fd, flags)
    })
}

#[inline(always)]
fn exit(ctx: &TracePointContext, kind: SyscallKind) -> u32 {
    // SAFETY: `ret` is at its format offset.
    exit_with(current_ids(), Some(kind), || unsafe { field(ctx, RET) })
}

/// The entry and exit program of one syscall; `$flags` is where its flags argument is.
macro_rules! syscall {
    ($enter:ident, $exit:ident, $kind:ident, $flags:expr) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            enter(&ctx, SyscallKind::$kind, $flags)
        }

        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            exit(&ctx, SyscallKind::$kind)
        }
    };
}

syscall!(sys_enter_sendto, sys_exit_sendto, Sendto, FLAGS_SENDTO);
syscall!(sys_enter_sendmsg, sys_exit_sendmsg, Sendmsg, FLAGS_SENDMSG);
// recvfrom's flags sit where sendto's do, recvmsg's where sendmsg's do.
syscall!(
    sys_enter_recvfrom,
    sys_exit_recvfrom,
    Recvfrom,
    FLAGS_SENDTO
);
syscall!(sys_enter_recvmsg, sys_exit_recvmsg, Recvmsg, FLAGS_SENDMSG);
syscall!(sys_enter_write, sys_exit_write, Write, NO_FLAGS);
syscall!(sys_enter_read, sys_exit_read, Read, NO_FLAGS);
syscall!(sys_enter_writev, sys_exit_writev, Writev, NO_FLAGS);
syscall!(sys_enter_readv, sys_exit_readv, Readv, NO_FLAGS);
// io_uring_enter(fd, to_submit, min_complete, flags, ...): flags in the 4th slot, as sendto's.
syscall!(
    sys_enter_io_uring_enter,
    sys_exit_io_uring_enter,
    IoUringEnter,
    FLAGS_SENDTO
);
