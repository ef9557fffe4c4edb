//! Syscall family: count send syscalls per thread of the target processes.
//!
//! Hooks: `syscalls:sys_enter_sendmsg`, `syscalls:sys_enter_sendto` (classic tracepoints).
//! Numbers: `SEND_COUNTS[tid]`, the calls each target thread entered, exact (no sampling).
//! The target filter is `TARGET_TGIDS`, filled by user space before the workload starts.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{map, tracepoint},
    maps::HashMap,
    programs::TracePointContext,
};
use netcopy_common::syscalls::{MAX_TARGETS, MAX_THREADS, SendCounts, SendSyscall};

#[map]
static TARGET_TGIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TARGETS, 0);

#[map]
static SEND_COUNTS: HashMap<u32, SendCounts> = HashMap::with_max_entries(MAX_THREADS, 0);

#[tracepoint]
pub fn sys_enter_sendmsg(_ctx: TracePointContext) -> u32 {
    count(SendSyscall::Sendmsg)
}

#[tracepoint]
pub fn sys_enter_sendto(_ctx: TracePointContext) -> u32 {
    count(SendSyscall::Sendto)
}

#[inline(always)]
fn count(syscall: SendSyscall) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let tid = pid_tgid as u32;
    // SAFETY: the value is a plain u8 and is only read.
    if unsafe { TARGET_TGIDS.get(&tgid) }.is_none() {
        return 0;
    }
    // Only the thread itself writes its own entry, so the increment does not race.
    match SEND_COUNTS.get_ptr_mut(&tid) {
        // SAFETY: the pointer comes from the map lookup and stays valid during the program.
        Some(counts) => unsafe { *(*counts).slot(syscall) += 1 },
        None => {
            let mut counts = SendCounts::default();
            *counts.slot(syscall) = 1;
            // A full map drops the count; user space sees the shortfall in its cross-check.
            let _ = SEND_COUNTS.insert(&tid, &counts, 0);
        }
    }
    0
}
