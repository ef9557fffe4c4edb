//! Sched family: off-CPU time and context switches of a thread inside a traced call.
//!
//! Hooks, one of them attached (see the attach record):
//! - `tp_btf/sched_switch`: the kernel's own arguments (`preempt`, `prev`, `next`,
//!   `prev_state`). The pid of `next` is read at `TASK_PID_OFFSET`, the offset of
//!   `task_struct.pid` that user space finds in the kernel's BTF.
//! - `tracepoint/sched/sched_switch`: the classic event, where BTF is missing.
//!
//! Numbers, added to the call in flight (`THREADS[tid].call`): voluntary / involuntary
//! switches out of the call and the time spent switched out. Involuntary means the thread
//! was still runnable: it was preempted, or it yielded while running (state 0). It also
//! hands this CPU's `ON_CPU` slot (the net family's counts) from the call switched out to
//! the call switched in, and pauses and resumes the call's counters.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel},
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};

use crate::{
    call::{inflight, leave_cpu, run_on_cpu},
    counters,
    fields::field,
};

// Offsets in events/sched/sched_switch/format.
const PREV_PID: usize = 24;
const PREV_STATE: usize = 32;
const NEXT_PID: usize = 56;
/// The classic event reports a preempted task with TASK_REPORT_MAX.
const TASK_REPORT_MAX: i64 = 0x100;

/// Byte offset of `pid` in `struct task_struct`, set by user space at load time (its name is
/// `netcopy_common::maps::TASK_PID_OFFSET`).
#[unsafe(no_mangle)]
static TASK_PID_OFFSET: u32 = 0;

#[tracepoint]
pub fn sched_switch(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets of the tracepoint's format.
    let (prev, state, next) = unsafe {
        (
            field::<i32>(&ctx, PREV_PID),
            field::<i64>(&ctx, PREV_STATE),
            field::<i32>(&ctx, NEXT_PID),
        )
    };
    switch(
        prev as u32,
        state == 0 || state & TASK_REPORT_MAX != 0,
        next as u32,
    );
    0
}

#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch_btf(ctx: BtfTracePointContext) -> i32 {
    let preempt: u8 = ctx.arg(0);
    let next: *const u8 = ctx.arg(2);
    let state: u32 = ctx.arg(3);
    // The tracepoint fires on the CPU that switches, while `prev` is still current.
    let prev = bpf_get_current_pid_tgid() as u32;
    // SAFETY: a global written once by the loader; volatile so the compiler keeps the load.
    let offset = unsafe { core::ptr::read_volatile(&raw const TASK_PID_OFFSET) };
    // SAFETY: bpf_probe_read_kernel checks the address; a failed read means no thread.
    let next = unsafe { bpf_probe_read_kernel(next.wrapping_add(offset as usize).cast::<i32>()) }
        .unwrap_or(0);
    switch(prev, preempt != 0 || state == 0, next as u32);
    0
}

/// Account one switch from `prev` to `next` for whichever of them is inside a call.
#[inline(always)]
fn switch(prev: u32, involuntary: bool, next: u32) {
    if let Some(call) = inflight(prev) {
        // SAFETY: pointer from the map lookup; only this CPU switches this thread now.
        unsafe {
            // Counters and clock are read back to back, so both see the same stretch.
            counters::pause(&mut *call);
            leave_cpu(prev, &mut (*call).net);
            (*call).switched_out_ns = bpf_ktime_get_ns();
            if involuntary {
                (*call).involuntary_cs += 1;
            } else {
                (*call).voluntary_cs += 1;
            }
        }
    }
    let Some(call) = inflight(next) else {
        // No traced call runs here now, whatever ran before.
        run_on_cpu(0);
        return;
    };
    run_on_cpu(next);
    // SAFETY: as above.
    unsafe {
        let now = bpf_ktime_get_ns();
        let out = (*call).switched_out_ns;
        if out != 0 {
            (*call).offcpu_ns += now.saturating_sub(out);
            (*call).switched_out_ns = 0;
        }
        counters::resume(&mut *call);
    }
}
