//! `raw_syscalls:sys_enter`/`sys_exit`, which fire for every syscall, hooked two ways:
//! as BTF tracepoints (`btf_sys_enter`/`btf_sys_exit`), which read `struct pt_regs` with
//! plain loads the verifier checks against the kernel's BTF, or as raw tracepoints
//! (`raw_sys_enter`/`raw_sys_exit`), which read it with bpf_probe_read_kernel, a helper call
//! per register. Both keep the nine traced syscalls by number, with numbers and register
//! offsets as on x86-64 (`netcopy_common::syscalls::raw`; user space attaches these programs
//! only there), and both skip the record the classic per-syscall tracepoints build before a
//! program runs.

use aya_ebpf::{
    helpers::bpf_probe_read_kernel,
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use netcopy_common::syscalls::{
    SyscallKind,
    raw::{REG_DI, REG_DX, REG_ORIG_AX, REG_R10, kind_of},
};

use super::{enter_with, exit_with, time_enter, time_exit};
use crate::{call::slot_of, targets::current_ids};

/// How a program reads the register at an offset of `struct pt_regs`.
trait Regs: Copy {
    fn reg(self, offset: usize) -> u64;
}

/// A `struct pt_regs *` without a type: read through the helper (a failed read gives 0).
#[derive(Clone, Copy)]
struct Untyped(*const u8);

impl Regs for Untyped {
    #[inline(always)]
    fn reg(self, offset: usize) -> u64 {
        // SAFETY: bpf_probe_read_kernel checks the address.
        unsafe { bpf_probe_read_kernel(self.0.wrapping_add(offset).cast::<u64>()) }.unwrap_or(0)
    }
}

/// A BTF-typed `struct pt_regs *`: the verifier turns the load into a checked one.
#[derive(Clone, Copy)]
struct Typed(*const u8);

impl Regs for Typed {
    #[inline(always)]
    fn reg(self, offset: usize) -> u64 {
        // SAFETY: the tracepoint's own argument; the offset is a pt_regs member's (the
        // verifier rejects the program otherwise).
        unsafe { core::ptr::read_volatile(self.0.wrapping_add(offset).cast::<u64>()) }
    }
}

#[inline(always)]
fn enter(regs: impl Regs, nr: u64) {
    let Some(kind) = kind_of(nr) else {
        return;
    };
    enter_with(kind, || {
        // sendto/recvfrom/io_uring_enter: flags are the 4th argument (r10); sendmsg/recvmsg:
        // the 3rd (rdx).
        let flags = match kind {
            SyscallKind::Sendto | SyscallKind::Recvfrom | SyscallKind::IoUringEnter => {
                regs.reg(REG_R10)
            }
            SyscallKind::Sendmsg | SyscallKind::Recvmsg => regs.reg(REG_DX),
            _ => 0,
        };
        (regs.reg(REG_DI), flags)
    });
}

#[inline(always)]
fn exit(regs: impl Regs, ret: i64) {
    let ids = current_ids();
    if ids.tid != 0 && slot_of(ids.tid).is_some() {
        // The exit of the traced call this CPU runs (syscalls do not nest): its kind is the
        // one its entry saw, and the syscall number need not be read from the registers.
        exit_with(ids, None, || ret);
        return;
    }
    // Not the call of this CPU's slot: a syscall that is not traced, or a traced call whose
    // thread came onto the CPU unseen (before sched_switch was attached).
    let Some(kind) = kind_of(regs.reg(REG_ORIG_AX)) else {
        return;
    };
    exit_with(ids, Some(kind), || ret);
}

#[btf_tracepoint(function = "sys_enter")]
pub fn btf_sys_enter(ctx: BtfTracePointContext) -> i32 {
    enter(Typed(ctx.arg(0)), ctx.arg(1));
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn btf_sys_exit(ctx: BtfTracePointContext) -> i32 {
    exit(Typed(ctx.arg(0)), ctx.arg(1));
    0
}

/// The hook floor (`NETCOPY_HIDE=callbodies`, a calibration for `cargo xtask bench`): the
/// tp_btf hooks with programs that return at once, so a trace costs what hooking every
/// syscall costs before any program does work. Nothing is counted.
#[btf_tracepoint(function = "sys_enter")]
pub fn floor_sys_enter(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn floor_sys_exit(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// The timing floor (`NETCOPY_HIDE=callwork`, a calibration for `cargo xtask bench`): the
/// tp_btf hooks with programs that time each traced call and do nothing else, so a trace
/// costs what any per-call timer on these hooks costs: finding the thread and two clock
/// reads. Nothing is counted.
#[btf_tracepoint(function = "sys_enter")]
pub fn timer_sys_enter(ctx: BtfTracePointContext) -> i32 {
    if kind_of(ctx.arg(1)).is_some() {
        time_enter();
    }
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn timer_sys_exit(_ctx: BtfTracePointContext) -> i32 {
    time_exit();
    0
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn raw_sys_enter(ctx: RawTracePointContext) -> i32 {
    enter(Untyped(ctx.arg(0)), ctx.arg(1));
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn raw_sys_exit(ctx: RawTracePointContext) -> i32 {
    exit(Untyped(ctx.arg(0)), ctx.arg(1));
    0
}
