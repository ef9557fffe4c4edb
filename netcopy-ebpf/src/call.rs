//! The call in flight: each target thread's entry in `THREADS` (its call and its exact
//! counts) and each CPU's `ON_CPU` slot, the traced call running there, which the net hooks
//! and the bracket programs count into. The slot is handed over at sched_switch and folded
//! into the call when its thread leaves the CPU and at exit. Everything here runs inside
//! other programs: the syscall family opens and closes calls, sched, net, brackets,
//! counters, exact and sample add to them.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::map,
    maps::{Array, PerCpuArray},
};
use netcopy_common::{
    call::{Inflight, NetCounts, OnCpu, PROBES, ThreadEntry, thread_slot},
    maps::MAX_THREADS,
};

use crate::targets::{Ids, is_target};

#[map]
static THREADS: Array<ThreadEntry> = Array::with_max_entries(MAX_THREADS, 0);

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
pub fn zero(net: &mut NetCounts) {
    zero!(
        net.bytes_to_user,
        net.skbs_built,
        net.skbs_tx,
        net.skbs_rx,
        net.rx_softirq_ns,
        net.tx_softirq_ns,
        net.dev_xmit_ns
    );
}

/// Thread `tid`'s entry, if it has one: the first of its slots that is its own, before the
/// first free one (slots are never freed during a trace).
#[inline(always)]
pub fn entry_of(tid: u32) -> Option<*mut ThreadEntry> {
    for i in 0..PROBES {
        let entry = THREADS.get_ptr_mut(thread_slot(tid, i))?;
        // SAFETY: pointer from the lookup; a slot's tid is written once, when it is claimed.
        match unsafe { (*entry).tid } {
            t if t == tid => return Some(entry),
            0 => return None,
            _ => {}
        }
    }
    None
}

/// Claim a slot for thread `ids` (a target seen for the first time, or a thread id reused
/// by a target process) and start its entry afresh. `None` when all its slots are other
/// threads': this thread is not traced, and user space sees its calls missing from the
/// counts against the workload's own.
#[inline(always)]
fn claim(ids: Ids) -> Option<*mut ThreadEntry> {
    for i in 0..PROBES {
        let entry = THREADS.get_ptr_mut(thread_slot(ids.tid, i))?;
        // SAFETY: pointer from the lookup. Two CPUs claim the same free slot only for two
        // new threads whose ids differ by a multiple of MAX_THREADS at the same instant; the
        // read-back below leaves the loser to the next slot.
        unsafe {
            let owner = (*entry).tid;
            if owner == 0 || owner == ids.tid {
                *entry = ThreadEntry {
                    tgid: ids.tgid,
                    tid: ids.tid,
                    ..Default::default()
                };
                if core::ptr::read_volatile(&raw const (*entry).tid) == ids.tid {
                    return Some(entry);
                }
            }
        }
    }
    None
}

/// The call in flight on thread `tid`, if it is a traced one and inside a call.
#[inline(always)]
pub fn inflight(tid: u32) -> Option<*mut Inflight> {
    let entry = entry_of(tid)?;
    // SAFETY: pointer from the lookup; `active` is written only by the thread itself.
    unsafe { ((*entry).call.active == 1).then(|| &raw mut (*entry).call) }
}

/// The entry of the current thread (`ids`), the entry made on its first call if it is a
/// target; `None` for threads that are not traced. Looking the entry up first makes a
/// target thread's call one lookup instead of a target lookup, an insert and, at exit, a
/// delete.
#[inline(always)]
pub fn thread_entry(ids: Ids) -> Option<*mut ThreadEntry> {
    if let Some(entry) = entry_of(ids.tid) {
        // SAFETY: pointer from the lookup, read by its own thread.
        if unsafe { (*entry).tgid } == ids.tgid {
            return Some(entry);
        }
    }
    if !is_target(ids) {
        return None;
    }
    claim(ids)
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

/// This CPU's slot.
#[inline(always)]
pub fn cpu_slot() -> Option<*mut OnCpu> {
    ON_CPU.get_ptr_mut(0)
}

/// This CPU's slot, if the traced call running here is thread `tid`'s.
#[inline(always)]
pub fn slot_of(tid: u32) -> Option<*mut OnCpu> {
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
