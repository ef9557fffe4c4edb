//! Syscall family: a call's entry and exit on a target thread, through either hook set.
//!
//! Hooks, one set attached (see the attach record): `raw_syscalls:sys_enter`/`sys_exit` as
//! raw tracepoints ([`raw`]), or the 16 classic tracepoints
//! `syscalls:sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg,write,read,writev,readv,io_uring_enter}`
//! ([`tracepoint`]). Numbers: the call in flight in `THREADS[tid].call`, opened at entry
//! and turned at exit into a [`SyscallRecord`] (staged into `RECORDS`), or folded into its
//! thread's totals (`TOTALS`), and `THREADS[tid].counts`, the exact calls per kind.

mod raw;
mod tracepoint;

use aya_ebpf::helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns};
use netcopy_common::{
    aggregate::Ending,
    config::{AGGREGATE, BRACKETS, COUNTERS, EXACT, PAUSED, TAIL},
    exact::EXACT_FNS,
    syscalls::{SyscallKind, SyscallRecord},
};

use crate::{
    call::{entry_of, leave_cpu, run_on_cpu, thread_entry, zero},
    config::config,
    counters,
    records::{fold, in_tail, stage},
    targets::{Ids, current_ids},
};

/// Start a call of `kind` on the current thread if it is traced; `args` gives its fd and
/// flags (read only for target threads).
#[inline(always)]
fn enter_with(kind: SyscallKind, args: impl FnOnce() -> (u64, u64)) -> u32 {
    let word = config();
    if word & PAUSED != 0 {
        return 0;
    }
    let ids = current_ids();
    let Some(entry) = thread_entry(ids) else {
        return 0;
    };
    let (fd, flags) = args();
    // SAFETY: pointer from the lookup; only this thread writes its entry's call.
    let call = unsafe { &mut (*entry).call };
    // Field by field, with stores that do not become a memset (see `zero!`).
    zero!(
        call.switched_out_ns,
        call.offcpu_ns,
        call.cycles,
        call.instructions
    );
    zero(&mut call.net);
    call.fd = fd as i32;
    call.flags = flags as u32;
    zero!(
        call.voluntary_cs,
        call.involuntary_cs,
        call.reason,
        call.uring_bytes
    );
    for ns in &mut call.offcpu_reason_ns {
        zero!(*ns);
    }
    call.kind = kind as u8;
    call.counters = u8::from(word & COUNTERS != 0);
    call.exact = u8::from(word & EXACT != 0);
    if call.exact == 1 {
        call.exact_start = [0; EXACT_FNS];
        call.exact_ns = [0; EXACT_FNS];
    }
    counters::resume(call);
    call.start_ns = unsafe { bpf_ktime_get_ns() };
    call.active = 1;
    run_on_cpu(ids.tid);
    0
}

/// End the call of `kind` (`None`: of whatever kind it began as) on the current thread
/// (`ids`), if one is in flight; `ret` gives the syscall's return value.
#[inline(always)]
fn exit_with(ids: Ids, kind: Option<SyscallKind>, ret: impl FnOnce() -> i64) -> u32 {
    let tid = ids.tid;
    // Only target threads have entries, so no target lookup is needed here.
    let Some(entry) = entry_of(tid) else {
        return 0;
    };
    // SAFETY: pointer from the lookup; only this thread writes its entry.
    let entry = unsafe { &mut *entry };
    if entry.call.active != 1 {
        return 0;
    }
    entry.call.active = 0;
    leave_cpu(tid, &mut entry.call.net);
    let word = config();
    if word & PAUSED != 0 {
        // The trace is ending: this call is neither counted nor recorded.
        return 0;
    }
    let call = &mut entry.call;
    counters::pause(call);
    let now = unsafe { bpf_ktime_get_ns() };
    let kind = match kind {
        Some(k) if call.kind == k as u8 => k,
        Some(_) => return 0,
        None => match SyscallKind::from_u8(call.kind) {
            Some(k) => k,
            None => return 0,
        },
    };
    if kind.socket_only_if_seen() && call.net.skbs_built == 0 && call.net.bytes_to_user == 0 {
        // A file, a pipe, or a socket call that moved nothing: not a record.
        return 0;
    }
    let ret = ret();
    let brackets = u8::from(word & BRACKETS != 0);
    let mut nth = 0;
    if let Some(n) = entry.counts.calls.get_mut(kind as usize) {
        *n += 1;
        nth = *n;
    }
    // The head, then the tail only where it can hold more than zeros: most calls leave it
    // unwritten, and their records go to user space without it.
    let fill = |r: &mut SyscallRecord| {
        let call = &entry.call;
        r.start_ns = call.start_ns;
        r.wall_ns = now.saturating_sub(call.start_ns);
        r.offcpu_ns = call.offcpu_ns;
        r.ret = ret;
        r.bytes_to_user = call.net.bytes_to_user;
        r.tgid = ids.tgid;
        r.tid = tid;
        r.fd = call.fd;
        r.flags = call.flags;
        r.voluntary_cs = call.voluntary_cs;
        r.involuntary_cs = call.involuntary_cs;
        r.skbs_built = call.net.skbs_built;
        r.skbs_tx = call.net.skbs_tx;
        r.skbs_rx = call.net.skbs_rx;
        r.cpu = unsafe { bpf_get_smp_processor_id() };
        r.kind = kind as u8;
        r.counters = call.counters;
        r.exact = call.exact;
        r.brackets = brackets;
        r.rx_softirq_ns = call.net.rx_softirq_ns;
        r.tx_softirq_ns = call.net.tx_softirq_ns;
        r.dev_xmit_ns = call.net.dev_xmit_ns;
        if r.has_tail() {
            r.cycles = call.cycles;
            r.instructions = call.instructions;
            r.offcpu_reason_ns = call.offcpu_reason_ns;
            if call.exact == 1 {
                r.exact_ns = call.exact_ns;
            } else {
                for ns in &mut r.exact_ns {
                    zero!(*ns);
                }
            }
            r.uring_bytes = call.uring_bytes;
        }
    };
    if word & AGGREGATE != 0 {
        // Folded from the call where it is: no record is built unless the tail keeps it.
        let ending = Ending {
            call: &entry.call,
            kind: kind as u8,
            wall_ns: now.saturating_sub(entry.call.start_ns),
            ret,
            brackets,
        };
        fold(tid, ids.tgid, kind, &ending);
        if word & TAIL != 0 && in_tail(&ending, nth) {
            stage(fill);
        }
    } else {
        stage(fill);
    }
    0
}

/// The timing floor's entry: the current thread's entry found (or claimed) as a traced
/// call's is, and the clock read into it. `active` stays 0, so no other program sees a call
/// in flight.
#[inline(always)]
fn time_enter() {
    if config() & PAUSED != 0 {
        return;
    }
    let Some(entry) = thread_entry(current_ids()) else {
        return;
    };
    // SAFETY: pointer from the lookup; only this thread writes its entry's call.
    unsafe { (*entry).call.start_ns = bpf_ktime_get_ns() };
}

/// The timing floor's exit: the clock read again and the call's wall time kept in its
/// entry, where nothing reads it (a store the compiler cannot drop).
#[inline(always)]
fn time_exit() {
    let Some(entry) = entry_of(current_ids().tid) else {
        return;
    };
    // SAFETY: pointer from the lookup; only this thread writes its entry's call.
    let call = unsafe { &mut (*entry).call };
    if call.start_ns == 0 {
        return;
    }
    call.offcpu_ns = unsafe { bpf_ktime_get_ns() }.saturating_sub(call.start_ns);
    call.start_ns = 0;
}
