//! Syscall family: one record per socket call of the target processes.
//!
//! Hooks: `syscalls:sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg}` (classic tracepoints).
//! Numbers: a [`SyscallRecord`] per call into `RECORDS` (or `LOST` +1 when it is full), and
//! `CALL_COUNTS[tid]`, exact totals per kind. The call in flight lives in `INFLIGHT[tid]`,
//! where the sched and net families add what happens during the call.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::TracePointContext,
};
use netcopy_common::{
    exact::EXACT_FNS,
    syscalls::{
        AggKey, Aggregate, CONFIG_AGGREGATE, CONFIG_COUNTERS, CONFIG_EXACT, CallCounts,
        MAX_THREADS, RECORDS_BYTES, SyscallKind, SyscallRecord,
    },
};

use crate::{counters, targets::current_target};

/// A call in flight on one thread.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Inflight {
    pub start_ns: u64,
    /// When the thread was last switched out during the call; 0 while it runs.
    pub switched_out_ns: u64,
    pub offcpu_ns: u64,
    pub bytes_to_user: u64,
    /// Counters moved over the call's finished on-CPU stretches.
    pub cycles: u64,
    pub instructions: u64,
    /// Counter values when the current stretch began.
    pub stretch_cycles: u64,
    pub stretch_instructions: u64,
    /// Exact tier: when each timed function was entered (0: not inside it).
    pub exact_start: [u64; EXACT_FNS],
    /// Exact tier: ns inside each timed function so far.
    pub exact_ns: [u32; EXACT_FNS],
    pub fd: i32,
    pub flags: u32,
    pub voluntary_cs: u32,
    pub involuntary_cs: u32,
    pub skbs_built: u32,
    pub skbs_tx: u32,
    pub skbs_rx: u32,
    pub kind: u8,
    /// 1 while the counters are read for this call (see the counters family).
    pub counters: u8,
    /// 1 when the exact tier times this call.
    pub exact: u8,
    pub _pad: u8,
}

#[map]
pub static INFLIGHT: HashMap<u32, Inflight> = HashMap::with_max_entries(MAX_THREADS, 0);

#[map]
static CALL_COUNTS: HashMap<u32, CallCounts> = HashMap::with_max_entries(MAX_THREADS, 0);

#[map]
static RECORDS: RingBuf = RingBuf::with_byte_size(RECORDS_BYTES, 0);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static CONFIG: Array<u32> = Array::with_max_entries(1, 0);

/// The [`CONFIG`] word (0 until user space sets it).
#[inline(always)]
pub fn config() -> u32 {
    CONFIG.get(0).copied().unwrap_or(0)
}

#[map]
static AGGREGATES: HashMap<AggKey, Aggregate> = HashMap::with_max_entries(MAX_THREADS, 0);

/// A zeroed [`Aggregate`] per CPU to insert new keys from: too big for the 512-byte stack.
#[map]
static FRESH_AGGREGATE: PerCpuArray<Aggregate> = PerCpuArray::with_max_entries(1, 0);

/// The call in flight on thread `tid`, if it is a traced one.
#[inline(always)]
pub fn inflight(tid: u32) -> Option<*mut Inflight> {
    INFLIGHT.get_ptr_mut(&tid)
}

// Offsets in the syscall tracepoints' records (see events/syscalls/*/format): arguments are
// 8-byte slots from offset 16; the exit record's `ret` is at 16.
const ARG_FD: usize = 16;
const FLAGS_SENDTO: usize = 40;
const FLAGS_SENDMSG: usize = 32;
const RET: usize = 16;
/// write/read/writev/readv have no flags argument.
const NO_FLAGS: usize = 0;

#[tracepoint]
pub fn sys_enter_sendto(ctx: TracePointContext) -> u32 {
    enter(&ctx, SyscallKind::Sendto, FLAGS_SENDTO)
}

#[tracepoint]
pub fn sys_enter_sendmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, SyscallKind::Sendmsg, FLAGS_SENDMSG)
}

#[tracepoint]
pub fn sys_enter_recvfrom(ctx: TracePointContext) -> u32 {
    // recvfrom's flags sit where sendto's do.
    enter(&ctx, SyscallKind::Recvfrom, FLAGS_SENDTO)
}

#[tracepoint]
pub fn sys_enter_recvmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, SyscallKind::Recvmsg, FLAGS_SENDMSG)
}

#[tracepoint]
pub fn sys_enter_write(ctx: TracePointContext) -> u32 {
    enter(&ctx, SyscallKind::Write, NO_FLAGS)
}

#[tracepoint]
pub fn sys_enter_read(ctx: TracePointContext) -> u32 {
    enter(&ctx, SyscallKind::Read, NO_FLAGS)
}

#[tracepoint]
pub fn sys_enter_writev(ctx: TracePointContext) -> u32 {
    enter(&ctx, SyscallKind::Writev, NO_FLAGS)
}

#[tracepoint]
pub fn sys_enter_readv(ctx: TracePointContext) -> u32 {
    enter(&ctx, SyscallKind::Readv, NO_FLAGS)
}

#[tracepoint]
pub fn sys_exit_write(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Write)
}

#[tracepoint]
pub fn sys_exit_read(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Read)
}

#[tracepoint]
pub fn sys_exit_writev(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Writev)
}

#[tracepoint]
pub fn sys_exit_readv(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Readv)
}

#[tracepoint]
pub fn sys_exit_sendto(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Sendto)
}

#[tracepoint]
pub fn sys_exit_sendmsg(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Sendmsg)
}

#[tracepoint]
pub fn sys_exit_recvfrom(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Recvfrom)
}

#[tracepoint]
pub fn sys_exit_recvmsg(ctx: TracePointContext) -> u32 {
    exit(&ctx, SyscallKind::Recvmsg)
}

#[inline(always)]
fn enter(ctx: &TracePointContext, kind: SyscallKind, flags_at: usize) -> u32 {
    let Some((_, tid)) = current_target() else {
        return 0;
    };
    // SAFETY: the offsets are those of the tracepoint's format; a failed read leaves a marker.
    let fd = unsafe { ctx.read_at::<u64>(ARG_FD) }.unwrap_or(u64::MAX);
    let flags = if flags_at == NO_FLAGS {
        0
    } else {
        // SAFETY: as above.
        unsafe { ctx.read_at::<u64>(flags_at) }.unwrap_or(0)
    };
    let word = config();
    let mut call = Inflight {
        fd: fd as i32,
        flags: flags as u32,
        kind: kind as u8,
        counters: u8::from(word & CONFIG_COUNTERS != 0),
        exact: u8::from(word & CONFIG_EXACT != 0),
        ..Default::default()
    };
    counters::resume(&mut call);
    call.start_ns = unsafe { bpf_ktime_get_ns() };
    // A full map loses this call's record; CALL_COUNTS still counts nothing for it, and
    // user space sees the gap against the workload's own count.
    let _ = INFLIGHT.insert(&tid, &call, 0);
    0
}

#[inline(always)]
fn exit(ctx: &TracePointContext, kind: SyscallKind) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    // Only target threads have calls in flight, so no target lookup is needed here.
    let Some(call) = inflight(tid) else {
        return 0;
    };
    // SAFETY: the pointer comes from the lookup; copy the value out before removing it.
    let mut call = unsafe { *call };
    counters::pause(&mut call);
    let now = unsafe { bpf_ktime_get_ns() };
    let _ = INFLIGHT.remove(&tid);
    if call.kind != kind as u8 {
        return 0;
    }
    if kind.socket_only_if_seen() && call.skbs_built == 0 && call.bytes_to_user == 0 {
        // A file, a pipe, or a socket call that moved nothing: not a record.
        return 0;
    }
    // SAFETY: `ret` is at its format offset.
    let ret = unsafe { ctx.read_at::<i64>(RET) }.unwrap_or(i64::MIN);
    count(tid, kind);
    let record = SyscallRecord {
        start_ns: call.start_ns,
        wall_ns: now.saturating_sub(call.start_ns),
        offcpu_ns: call.offcpu_ns,
        ret,
        bytes_to_user: call.bytes_to_user,
        cycles: call.cycles,
        instructions: call.instructions,
        tgid: (pid_tgid >> 32) as u32,
        tid,
        fd: call.fd,
        flags: call.flags,
        voluntary_cs: call.voluntary_cs,
        involuntary_cs: call.involuntary_cs,
        skbs_built: call.skbs_built,
        skbs_tx: call.skbs_tx,
        skbs_rx: call.skbs_rx,
        cpu: unsafe { bpf_get_smp_processor_id() },
        kind: kind as u8,
        counters: call.counters,
        exact: call.exact,
        _pad: 0,
        exact_ns: call.exact_ns,
    };
    let aggregate = config() & CONFIG_AGGREGATE != 0;
    if aggregate {
        fold(&record);
    } else if RECORDS.output::<SyscallRecord>(&record, 0).is_err() {
        if let Some(lost) = LOST.get_ptr_mut(0) {
            // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
            unsafe { *lost += 1 };
        }
    }
    0
}

/// `--aggregate`: add the call to its thread's totals instead of emitting it.
#[inline(always)]
fn fold(r: &SyscallRecord) {
    let key = AggKey {
        tid: r.tid,
        kind: r.kind,
        _pad: [0; 3],
    };
    let agg = match AGGREGATES.get_ptr_mut(&key) {
        Some(a) => a,
        None => {
            let Some(fresh) = FRESH_AGGREGATE.get_ptr_mut(0) else {
                return;
            };
            // SAFETY: per-CPU slot; only its tgid is ever written, the counters stay zero.
            let fresh = unsafe {
                (*fresh).tgid = r.tgid;
                &*fresh
            };
            if AGGREGATES.insert(&key, fresh, 0).is_err() {
                return;
            }
            match AGGREGATES.get_ptr_mut(&key) {
                Some(a) => a,
                None => return,
            }
        }
    };
    // SAFETY: pointer from the lookup; only this thread writes its own key.
    unsafe { (*agg).add(r) };
}

/// Exact totals, independent of the ring buffer.
#[inline(always)]
fn count(tid: u32, kind: SyscallKind) {
    let i = kind as usize;
    match CALL_COUNTS.get_ptr_mut(&tid) {
        // SAFETY: only this thread writes its own entry; `i` < KINDS.
        Some(counts) => unsafe {
            if let Some(c) = (*counts).calls.get_mut(i) {
                *c += 1;
            }
        },
        None => {
            let mut counts = CallCounts::default();
            if let Some(c) = counts.calls.get_mut(i) {
                *c = 1;
            }
            let _ = CALL_COUNTS.insert(&tid, &counts, 0);
        }
    }
}
