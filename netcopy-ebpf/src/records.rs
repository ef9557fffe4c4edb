//! Where finished calls go: each CPU's batch in `STAGING`, sent to the `RECORDS` ring buffer
//! 32 to 55 records at a time (`LOST` counts records that found the ring full), or with
//! `--aggregate` the thread's totals in `TOTALS` (or, where its slot there is taken, in
//! `AGGREGATES`), and with `--records tail` the calls of the tail to the batches too.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use netcopy_common::{
    aggregate::{AggKey, Aggregate, Finished, TOTAL_SLOTS, totals_slot},
    batch::StagedRecords,
    config::{TAIL_EVERY, TAIL_SLOW_NS},
    maps::{MAX_THREADS, RECORDS_BYTES, TOTALS_FLAGS},
    syscalls::{SyscallKind, SyscallRecord},
};

use crate::config::config_at;

#[map]
static RECORDS: RingBuf = RingBuf::with_byte_size(RECORDS_BYTES, 0);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static STAGING: PerCpuArray<StagedRecords> = PerCpuArray::with_max_entries(1, 0);

#[map]
static TOTALS: Array<Aggregate> = Array::with_max_entries(TOTAL_SLOTS, TOTALS_FLAGS);

/// The totals whose `TOTALS` slot is another's: a quarter of its capacity.
#[map]
static AGGREGATES: HashMap<AggKey, Aggregate> = HashMap::with_max_entries(MAX_THREADS / 4, 0);

/// A zeroed [`Aggregate`] per CPU to insert new keys from: too big for the 512-byte stack.
#[map]
static FRESH_AGGREGATE: PerCpuArray<Aggregate> = PerCpuArray::with_max_entries(1, 0);

/// Add a record to this CPU's batch, written in place by `fill` (see
/// [`StagedRecords::push`]). A batch with less room left than a whole record goes to the
/// ring buffer in one piece (or, when the ring is full, into `LOST`). User space reads the
/// batches left at the end.
#[inline(always)]
pub fn stage(fill: impl FnOnce(&mut SyscallRecord)) {
    let Some(batch) = STAGING.get_ptr_mut(0) else {
        add_lost(1);
        return;
    };
    // SAFETY: per-CPU slot; tracepoint programs do not interleave on one CPU.
    let batch = unsafe { &mut *batch };
    match batch.push(fill) {
        Some(false) => {}
        Some(true) => {
            if RECORDS.output::<[u8]>(batch.item(), wakeup_flag()).is_err() {
                add_lost(u64::from(batch.count));
            }
            batch.clear();
        }
        None => {
            // Never: a full batch is sent before the next record comes.
            batch.clear();
            add_lost(1);
        }
    }
}

#[inline(always)]
fn add_lost(n: u64) {
    if let Some(lost) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *lost += n };
    }
}

/// Wake the reader only when a batch takes the ring past an eighth of its size: a forced
/// wake-up is an irq_work, a self-interrupt (a VM exit here) and a context switch. Forcing
/// one for every batch while the ring held more than a fixed 256 KiB made sys_exit cost
/// 525 ns per run in a traced onecopy 1K run instead of 200-260 (bpf_stats), with 85,000 IRQ
/// work interrupts in 5 s instead of 6. User space drains the ring every few milliseconds
/// on its own anyway.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;
const BPF_RB_RING_SIZE: u64 = 1;
/// Bytes of a batch at most, header and records.
const ITEM_BYTES: u64 = core::mem::size_of::<StagedRecords>() as u64;

#[inline(always)]
fn wakeup_flag() -> u64 {
    let waiting = RECORDS.query(BPF_RB_AVAIL_DATA);
    let wake_at = RECORDS.query(BPF_RB_RING_SIZE) / 8;
    if waiting < wake_at && waiting + ITEM_BYTES >= wake_at {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// `--records tail`: whether the call is one of the tail, recorded beside the totals: it
/// failed, left the CPU, took at least the slow threshold, or is the `nth` call of its
/// thread and kind where every Nth is kept.
#[inline(always)]
pub fn in_tail(c: &impl Finished, nth: u64) -> bool {
    if c.ret() < 0 || c.offcpu_ns() > 0 {
        return true;
    }
    let slow = u64::from(config_at(TAIL_SLOW_NS));
    if slow != 0 && c.wall_ns() >= slow {
        return true;
    }
    let every = u64::from(config_at(TAIL_EVERY));
    every != 0 && nth % every == 0
}

/// `--aggregate`: add the call of `kind` of thread `tid` of process `tgid` to the thread's
/// totals instead of emitting it: in its `TOTALS` slot, claimed by the thread's first call
/// of the kind, or where another thread or kind holds that slot, in `AGGREGATES`.
#[inline(always)]
pub fn fold(tid: u32, tgid: u32, kind: SyscallKind, c: &impl Finished) {
    if let Some(agg) = TOTALS.get_ptr_mut(totals_slot(tid, kind)) {
        // SAFETY: pointer from the lookup. A slot is claimed once per trace; two threads
        // claim the same free slot only when their ids and kinds map to it (see
        // `totals_slot`) and both call at the same instant, and then the checks below
        // send the one whose ids did not stick to the hash map (user space adds up both by
        // key).
        unsafe {
            if (*agg).tid == 0 {
                (*agg).tgid = tgid;
                (*agg).kind = kind as u32;
                core::ptr::write_volatile(&raw mut (*agg).tid, tid);
            }
            if (*agg).tid == tid && (*agg).tgid == tgid && (*agg).kind == kind as u32 {
                (*agg).add(c);
                return;
            }
        }
    }
    let key = AggKey::new(tid, kind as u8);
    let agg = match AGGREGATES.get_ptr_mut(&key) {
        Some(a) => a,
        None => {
            let Some(fresh) = FRESH_AGGREGATE.get_ptr_mut(0) else {
                return;
            };
            // SAFETY: per-CPU slot; only its tgid is ever written, the counters stay zero.
            let fresh = unsafe {
                (*fresh).tgid = tgid;
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
    unsafe { (*agg).add(c) };
}
