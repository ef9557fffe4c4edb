//! The raw tracepoints `raw_syscalls:sys_enter`/`sys_exit`, which fire for every syscall:
//! the programs keep the eight traced ones by number and read their arguments from `struct
//! pt_regs`, both laid out as on x86-64 (`netcopy_common::syscalls::raw`; user space
//! attaches these programs only there). They skip the record the classic per-syscall
//! tracepoints build before a program runs.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use netcopy_common::syscalls::{
    SyscallKind,
    raw::{REG_DI, REG_DX, REG_ORIG_AX, REG_R10, kind_of},
};

use super::{enter_with, exit_with};
use crate::call::slot_of;

/// The register at `offset` of a `struct pt_regs`.
#[inline(always)]
fn reg(regs: *const u8, offset: usize) -> u64 {
    // SAFETY: bpf_probe_read_kernel checks the address; a failed read gives 0.
    unsafe { bpf_probe_read_kernel(regs.wrapping_add(offset).cast::<u64>()) }.unwrap_or(0)
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn raw_sys_enter(ctx: RawTracePointContext) -> i32 {
    let nr: u64 = ctx.arg(1);
    let Some(kind) = kind_of(nr) else {
        return 0;
    };
    let regs: *const u8 = ctx.arg(0);
    enter_with(kind, || {
        // sendto/recvfrom: flags are the 4th argument (r10); sendmsg/recvmsg: the 3rd (rdx).
        let flags = match kind {
            SyscallKind::Sendto | SyscallKind::Recvfrom => reg(regs, REG_R10),
            SyscallKind::Sendmsg | SyscallKind::Recvmsg => reg(regs, REG_DX),
            _ => 0,
        };
        (reg(regs, REG_DI), flags)
    });
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn raw_sys_exit(ctx: RawTracePointContext) -> i32 {
    let ret: i64 = ctx.arg(1);
    let tid = bpf_get_current_pid_tgid() as u32;
    if tid != 0 && slot_of(tid).is_some() {
        // The exit of the traced call this CPU runs (syscalls do not nest): its kind is the
        // one its entry saw, and the syscall number need not be read from the registers.
        exit_with(None, || ret);
        return 0;
    }
    // Not the call of this CPU's slot: a syscall that is not traced, or a traced call whose
    // thread came onto the CPU unseen (before sched_switch was attached).
    let regs: *const u8 = ctx.arg(0);
    let Some(kind) = kind_of(reg(regs, REG_ORIG_AX)) else {
        return 0;
    };
    exit_with(Some(kind), || ret);
    0
}
