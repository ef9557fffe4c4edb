//! Sched family: off-CPU time and context switches of a thread inside a traced call.
//!
//! Hook: `sched:sched_switch` (classic tracepoint). Numbers, added to `INFLIGHT[tid]`:
//! voluntary / involuntary switches out of the call and the time spent switched out.
//! Involuntary means the thread was still runnable: the tracepoint reports a preempted task
//! with TASK_REPORT_MAX (0x100) and a task that yielded while running with 0.

use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::tracepoint, programs::TracePointContext};

use crate::syscalls::inflight;

// Offsets in events/sched/sched_switch/format.
const PREV_PID: usize = 24;
const PREV_STATE: usize = 32;
const NEXT_PID: usize = 56;
const TASK_REPORT_MAX: i64 = 0x100;

#[tracepoint]
pub fn sched_switch(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets of the tracepoint's format.
    let (prev, state, next) = unsafe {
        (
            ctx.read_at::<i32>(PREV_PID).unwrap_or(0),
            ctx.read_at::<i64>(PREV_STATE).unwrap_or(0),
            ctx.read_at::<i32>(NEXT_PID).unwrap_or(0),
        )
    };
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(call) = inflight(prev as u32) {
        // SAFETY: pointer from the map lookup; only this CPU switches this thread now.
        unsafe {
            (*call).switched_out_ns = now;
            if state == 0 || state & TASK_REPORT_MAX != 0 {
                (*call).involuntary_cs += 1;
            } else {
                (*call).voluntary_cs += 1;
            }
        }
    }
    if let Some(call) = inflight(next as u32) {
        // SAFETY: as above.
        unsafe {
            let out = (*call).switched_out_ns;
            if out != 0 {
                (*call).offcpu_ns += now.saturating_sub(out);
                (*call).switched_out_ns = 0;
            }
        }
    }
    0
}
