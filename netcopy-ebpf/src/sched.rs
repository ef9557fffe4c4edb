//! Sched family: off-CPU time and context switches of a thread inside a traced call.
//!
//! Hooks, one of them attached (see the attach record):
//! - `tp_btf/sched_switch`: the kernel's own arguments (`preempt`, `prev`, `next`,
//!   `prev_state`). The pid of `next` is read at `TASK_PID_OFFSET`, the offset of
//!   `task_struct.pid` that user space finds in the kernel's BTF.
//! - `tracepoint/sched/sched_switch`: the classic event, where BTF is missing.
//!
//! Numbers, added to the call in flight (`THREADS[tid].call`): voluntary / involuntary
//! switches out of the call, the time spent switched out, and that time by reason
//! (`netcopy_common::offcpu`: a voluntary switch reads the kernel stack to find the wait). Involuntary means the thread
//! was still runnable: it was preempted, or it yielded while running (state 0). It also
//! hands this CPU's `ON_CPU` slot (the net family's counts) from the call switched out to
//! the call switched in, and pauses and resumes the call's counters. A voluntary switch's
//! stack goes to `OFFCPU_STACKS` and the time out to `OFFCPU[{tid, stack, kind, reason}]`,
//! the off-CPU flame graph's data.

use aya_ebpf::{
    EbpfContext as _,
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel},
    macros::{btf_tracepoint, map, tracepoint},
    maps::{HashMap, PerCpuArray},
    programs::{BtfTracePointContext, TracePointContext},
};
use netcopy_common::offcpu::{
    KEPT, MAX_OFFCPU_KEYS, MAX_WAIT_STACKS, OffcpuKey, Reason, STACK_DEPTH, WAITERS, WaitFrames,
    stack_hash,
};

use crate::{
    call::{inflight, leave_cpu, run_on_cpu},
    counters,
    fields::field,
};

/// Each of `netcopy_common::offcpu::WAITERS`' [start, end) address, set by user space at
/// load time from /proc/kallsyms (its name is `netcopy_common::offcpu::WAIT_RANGES`).
#[unsafe(no_mangle)]
static WAIT_RANGES: [[u64; 2]; WAITERS.len()] = [[0; 2]; WAITERS.len()];

/// Each CPU's buffer for the stack read at a switch out of a call.
#[map]
static WAIT_STACK: PerCpuArray<[u64; STACK_DEPTH]> = PerCpuArray::with_max_entries(1, 0);

/// The switch-out stacks, by [`stack_hash`] (for the off-CPU flame graph).
#[map]
static OFFCPU_STACKS: HashMap<u32, WaitFrames> = HashMap::with_max_entries(MAX_WAIT_STACKS, 0);

/// Off-CPU ns by thread, call kind, reason and switch-out stack.
#[map]
static OFFCPU: HashMap<OffcpuKey, u64> = HashMap::with_max_entries(MAX_OFFCPU_KEYS, 0);

/// Why the current thread is being switched out: preempted when still runnable, else the
/// first waiter whose function holds a frame of its kernel stack; with the hash of that
/// stack, kept in `OFFCPU_STACKS` (0: no stack was read).
#[inline(always)]
fn reason(ctx: *mut core::ffi::c_void, involuntary: bool) -> (Reason, u32) {
    if involuntary {
        return (Reason::Preempt, 0);
    }
    let Some(buf) = WAIT_STACK.get_ptr_mut(0) else {
        return (Reason::Other, 0);
    };
    // SAFETY: the helper writes at most the buffer's size into this CPU's slot, and zeroes
    // what the stack does not fill, so a stack hashes and compares the same every time.
    let n = unsafe {
        aya_ebpf::helpers::generated::bpf_get_stack(ctx, buf.cast(), (8 * STACK_DEPTH) as u32, 0)
    };
    if n <= 0 {
        return (Reason::Other, 0);
    }
    let frames = n as usize / 8;
    // SAFETY: this CPU's slot, just filled.
    let buf = unsafe { &*buf };
    let hash = stack_hash(buf, STACK_DEPTH);
    if OFFCPU_STACKS.get_ptr(&hash).is_none() {
        // A full map drops the stack; its time still counts in the reasons.
        let _ = OFFCPU_STACKS.insert(&hash, buf, u64::from(BPF_NOEXIST));
    }
    (waiter(buf, frames), hash)
}

/// The first waiter whose function holds one of the first `frames` of `buf`.
#[inline(always)]
fn waiter(buf: &WaitFrames, frames: usize) -> Reason {
    for (w, &(_, why)) in WAITERS.iter().enumerate() {
        // SAFETY: a global written once by the loader; volatile so the load is kept.
        let [start, end] = unsafe { core::ptr::read_volatile(&raw const WAIT_RANGES[w]) };
        if start == 0 {
            continue;
        }
        for (i, &ip) in buf.iter().enumerate() {
            if i >= frames {
                break;
            }
            if ip >= start && ip < end {
                return why;
            }
        }
    }
    Reason::Other
}

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
        ctx.as_ptr(),
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
    switch(ctx.as_ptr(), prev, preempt != 0 || state == 0, next as u32);
    0
}

/// Add `off` ns to the thread's time out at `stack`.
#[inline(always)]
fn add_offcpu(tid: u32, stack: u32, kind: u8, reason: u8, off: u64) {
    let key = OffcpuKey {
        tid,
        stack,
        kind,
        reason,
        _pad: [0; 6],
    };
    match OFFCPU.get_ptr_mut(&key) {
        // SAFETY: pointer from the lookup; only the CPU switching this thread in adds to it.
        Some(ns) => unsafe { *ns += off },
        None => {
            let _ = OFFCPU.insert(&key, &off, 0);
        }
    }
}

/// Account one switch from `prev` to `next` for whichever of them is inside a call (`ctx`:
/// the program's context, for reading `prev`'s stack).
#[inline(always)]
fn switch(ctx: *mut core::ffi::c_void, prev: u32, involuntary: bool, next: u32) {
    if let Some(call) = inflight(prev) {
        let (why, stack) = reason(ctx, involuntary);
        // SAFETY: pointer from the map lookup; only this CPU switches this thread now.
        unsafe {
            // Counters and clock are read back to back, so both see the same stretch.
            counters::pause(&mut *call);
            leave_cpu(prev, &mut (*call).net);
            (*call).switched_out_ns = bpf_ktime_get_ns();
            (*call).reason = why as u8;
            (*call).wait_stack = stack;
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
            let off = now.saturating_sub(out);
            (*call).offcpu_ns += off;
            (*call).switched_out_ns = 0;
            let why = (*call).reason as usize;
            if why < KEPT {
                if let Some(ns) = (*call).offcpu_reason_ns.get_mut(why) {
                    *ns += off;
                }
            }
            let stack = (*call).wait_stack;
            if stack != 0 {
                add_offcpu(next, stack, (*call).kind, (*call).reason, off);
                (*call).wait_stack = 0;
            }
        }
        counters::resume(&mut *call);
    }
}
