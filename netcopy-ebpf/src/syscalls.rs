//! Syscall family: one record per socket call of the target processes.
//!
//! Hooks: `syscalls:sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg}` (classic tracepoints).
//! Numbers: a [`SyscallRecord`] per call into `RECORDS` (or `LOST` +1 when it is full), and
//! `THREADS[tid].counts`, exact totals per kind. The call in flight lives in
//! `THREADS[tid].call`, where the sched, net, counters and exact families add what happens
//! during the call. The net family counts into `ON_CPU`, this CPU's slot for the call running
//! on it, which is folded into the call when its thread leaves the CPU and at exit.

use aya_ebpf::{
    EbpfContext as _,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_probe_read_kernel,
    },
    macros::{map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::{RawTracePointContext, TracePointContext},
};
use netcopy_common::{
    exact::EXACT_FNS,
    syscalls::{
        AggKey, Aggregate, BATCH_RECORDS, CONFIG_AGGREGATE, CONFIG_COUNTERS, CONFIG_EXACT,
        CONFIG_PAUSED, Inflight, MAX_THREADS, NetCounts, OnCpu, RECORDS_BYTES, StagedRecords,
        SyscallKind, SyscallRecord, ThreadEntry,
    },
};

use crate::{counters, targets::current_target};

#[map]
pub static THREADS: HashMap<u32, ThreadEntry> = HashMap::with_max_entries(MAX_THREADS, 0);

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

/// Field of a classic tracepoint's record at `offset`, read directly from the context (the
/// verifier allows aligned reads of it; bpf_probe_read would cost a helper call per field).
///
/// # Safety
/// `offset` must be a field of type `T` in the tracepoint's format, aligned to its size.
#[inline(always)]
pub unsafe fn field<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: the caller names a field of the record the context points to.
    unsafe { core::ptr::read(ctx.as_ptr().cast::<u8>().wrapping_add(offset).cast::<T>()) }
}

/// The call in flight on thread `tid`, if it is a traced one and inside a call.
#[inline(always)]
pub fn inflight(tid: u32) -> Option<*mut Inflight> {
    let entry = THREADS.get_ptr_mut(&tid)?;
    // SAFETY: pointer from the lookup; `active` is written only by the thread itself.
    unsafe { ((*entry).call.active == 1).then(|| &raw mut (*entry).call) }
}

#[map]
static ON_CPU: PerCpuArray<OnCpu> = PerCpuArray::with_max_entries(1, 0);

/// Store 0 in each place, one store each. LLVM turns runs of plain zero stores (a zeroed
/// struct, or neighbouring fields set to 0 one by one) into a call of a byte-by-byte memset
/// subprogram; `perf` put that memset at 1.6% of a traced 1K run's CPU. Volatile stores are
/// never merged.
macro_rules! zero {
    ($($place:expr),+ $(,)?) => {
        // SAFETY: each place is a field behind a valid `&mut`.
        $(unsafe { core::ptr::write_volatile(&raw mut $place, 0) };)+
    };
}

#[inline(always)]
fn zero(net: &mut NetCounts) {
    zero!(net.bytes_to_user, net.skbs_built, net.skbs_tx, net.skbs_rx);
}

/// The traced call running on this CPU: `tid`'s from now on (0: none). Called where a call
/// starts and where a thread comes onto the CPU.
#[inline(always)]
pub fn run_on_cpu(tid: u32) {
    if let Some(slot) = ON_CPU.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; programs that write it do not interleave on one CPU.
        unsafe {
            (*slot).tid = tid;
            zero(&mut (*slot).net);
        }
    }
}

/// This CPU's slot, if the traced call running here is thread `tid`'s.
#[inline(always)]
fn slot_of(tid: u32) -> Option<*mut OnCpu> {
    let slot = ON_CPU.get_ptr_mut(0)?;
    // SAFETY: this CPU's slot; programs that write it do not interleave on one CPU.
    (unsafe { (*slot).tid } == tid).then_some(slot)
}

/// Move what the net family counted on this CPU for `tid`'s call into `net`, and mark the
/// CPU free. Called where a call ends and where a thread leaves the CPU.
#[inline(always)]
pub fn leave_cpu(tid: u32, net: &mut NetCounts) {
    if let Some(slot) = slot_of(tid) {
        // SAFETY: as above.
        unsafe {
            net.add(&(*slot).net);
            (*slot).tid = 0;
        }
    }
}

/// The net counts of the traced call the current thread is in, if any: this CPU's slot
/// when the call is the one running here (always, once sched_switch is attached), else the
/// thread's entry.
#[inline(always)]
pub fn net_counts() -> Option<*mut NetCounts> {
    let tid = bpf_get_current_pid_tgid() as u32;
    if tid == 0 {
        // The idle task: never traced.
        return None;
    }
    if let Some(slot) = slot_of(tid) {
        // SAFETY: this CPU's slot.
        return Some(unsafe { &raw mut (*slot).net });
    }
    // SAFETY: pointer from the lookup.
    inflight(tid).map(|call| unsafe { &raw mut (*call).net })
}

/// The entry of the current thread and its id, the entry made on its first call if it is a
/// target; `None` for threads that are not traced. Looking the entry up first makes a
/// target thread's call one lookup instead of a target lookup, an insert and, at exit, a
/// delete.
#[inline(always)]
fn thread_entry() -> Option<(*mut ThreadEntry, u32)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let (tgid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    if let Some(entry) = THREADS.get_ptr_mut(&tid) {
        // SAFETY: pointer from the lookup, read by its own thread.
        if unsafe { (*entry).tgid } == tgid {
            return Some((entry, tid));
        }
    }
    current_target()?;
    let fresh = ThreadEntry {
        tgid,
        ..Default::default()
    };
    // A full map: this thread is not traced (its calls are missing from the counts, which
    // user space sees against the workload's own).
    THREADS.insert(&tid, &fresh, 0).ok()?;
    THREADS.get_ptr_mut(&tid).map(|e| (e, tid))
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

// The raw tracepoints raw_syscalls:sys_enter/sys_exit fire for every syscall; the programs
// keep the eight traced ones by number (x86-64) and read their arguments from `struct
// pt_regs`. They skip the record the classic per-syscall tracepoints build before a program
// runs. Offsets in x86-64 `struct pt_regs`:
const REG_R10: usize = 56;
const REG_DX: usize = 96;
const REG_DI: usize = 112;
const REG_ORIG_AX: usize = 120;

/// The traced syscall with x86-64 number `nr`.
#[inline(always)]
fn kind_of(nr: u64) -> Option<SyscallKind> {
    Some(match nr {
        0 => SyscallKind::Read,
        1 => SyscallKind::Write,
        19 => SyscallKind::Readv,
        20 => SyscallKind::Writev,
        44 => SyscallKind::Sendto,
        45 => SyscallKind::Recvfrom,
        46 => SyscallKind::Sendmsg,
        47 => SyscallKind::Recvmsg,
        _ => return None,
    })
}

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

/// Start a call of `kind` on the current thread if it is traced; `args` gives its fd and
/// flags (read only for target threads).
#[inline(always)]
fn enter_with(kind: SyscallKind, args: impl FnOnce() -> (u64, u64)) -> u32 {
    let word = config();
    if word & CONFIG_PAUSED != 0 {
        return 0;
    }
    let Some((entry, tid)) = thread_entry() else {
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
    zero!(call.voluntary_cs, call.involuntary_cs);
    call.kind = kind as u8;
    call.counters = u8::from(word & CONFIG_COUNTERS != 0);
    call.exact = u8::from(word & CONFIG_EXACT != 0);
    if call.exact == 1 {
        call.exact_start = [0; EXACT_FNS];
        call.exact_ns = [0; EXACT_FNS];
    }
    counters::resume(call);
    call.start_ns = unsafe { bpf_ktime_get_ns() };
    call.active = 1;
    run_on_cpu(tid);
    0
}

#[inline(always)]
fn exit(ctx: &TracePointContext, kind: SyscallKind) -> u32 {
    // SAFETY: `ret` is at its format offset.
    exit_with(Some(kind), || unsafe { field(ctx, RET) })
}

/// End the call of `kind` (`None`: of whatever kind it began as) on the current thread, if
/// one is in flight; `ret` gives the syscall's return value.
#[inline(always)]
fn exit_with(kind: Option<SyscallKind>, ret: impl FnOnce() -> i64) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    // Only target threads have entries, so no target lookup is needed here.
    let Some(entry) = THREADS.get_ptr_mut(&tid) else {
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
    if word & CONFIG_PAUSED != 0 {
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
    if let Some(n) = entry.counts.calls.get_mut(kind as usize) {
        *n += 1;
    }
    let fill = |r: &mut SyscallRecord| {
        let call = &entry.call;
        r.start_ns = call.start_ns;
        r.wall_ns = now.saturating_sub(call.start_ns);
        r.offcpu_ns = call.offcpu_ns;
        r.ret = ret;
        r.bytes_to_user = call.net.bytes_to_user;
        r.cycles = call.cycles;
        r.instructions = call.instructions;
        r.tgid = (pid_tgid >> 32) as u32;
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
        r._pad = 0;
        if call.exact == 1 {
            r.exact_ns = call.exact_ns;
        } else {
            for ns in &mut r.exact_ns {
                zero!(*ns);
            }
        }
    };
    if word & CONFIG_AGGREGATE != 0 {
        let mut record = SyscallRecord::default();
        fill(&mut record);
        fold(&record);
    } else {
        stage(fill);
    }
    0
}

#[map]
static STAGING: PerCpuArray<StagedRecords> = PerCpuArray::with_max_entries(1, 0);

/// Add a record to this CPU's batch; a full batch goes to the ring buffer in one piece (or,
/// when the ring is full, into `LOST`). User space reads the batches left at the end.
#[inline(always)]
fn stage(fill: impl FnOnce(&mut SyscallRecord)) {
    let Some(batch) = STAGING.get_ptr_mut(0) else {
        add_lost(1);
        return;
    };
    // SAFETY: per-CPU slot; tracepoint programs do not interleave on one CPU.
    let batch = unsafe { &mut *batch };
    let Some(slot) = batch.records.get_mut(batch.count as usize) else {
        // Never: a full batch is sent before the next record comes.
        batch.count = 0;
        add_lost(1);
        return;
    };
    fill(slot);
    batch.count += 1;
    if batch.count as usize >= BATCH_RECORDS {
        if RECORDS
            .output::<StagedRecords>(&*batch, wakeup_flag())
            .is_err()
        {
            add_lost(BATCH_RECORDS as u64);
        }
        batch.count = 0;
    }
}

#[inline(always)]
fn add_lost(n: u64) {
    if let Some(lost) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *lost += n };
    }
}

/// Wake the reader only once this much is waiting: a wake-up per record (what the ring
/// buffer does by default when the reader has caught up) costs an irq_work and a context
/// switch per call. User space also drains the ring every few milliseconds on its own.
const WAKE_BYTES: u64 = 256 * 1024;
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

#[inline(always)]
fn wakeup_flag() -> u64 {
    if RECORDS.query(BPF_RB_AVAIL_DATA) >= WAKE_BYTES {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
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
