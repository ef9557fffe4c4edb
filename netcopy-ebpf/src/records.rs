//! Where finished calls go: each CPU's ring of records in `RECORDS`, written in place and
//! read by user space through a mapping of the array (`RECORD_RINGS` says where each side
//! is; `LOST` counts records that found their ring full), or with `--aggregate` the
//! thread's totals in `AGGREGATES` (and with `--records tail` the calls of the tail to the
//! rings too).

use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    helpers::bpf_get_smp_processor_id,
    macros::map,
    maps::{Array, HashMap, PerCpuArray},
};
use netcopy_common::{
    aggregate::{AggKey, Aggregate},
    config::{TAIL_EVERY, TAIL_SLOW_NS},
    maps::MAX_THREADS,
    syscalls::{RingCursor, RingPos, SyscallRecord},
};

use crate::config::config_at;

/// User space sets both sizes at load time: one ring per possible CPU.
#[map]
static RECORDS: Array<SyscallRecord> = Array::with_max_entries(1, BPF_F_MMAPABLE);

#[map]
static RECORD_RINGS: Array<RingPos> = Array::with_max_entries(1, BPF_F_MMAPABLE);

#[map]
static RING_CURSORS: PerCpuArray<RingCursor> = PerCpuArray::with_max_entries(1, 0);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static AGGREGATES: HashMap<AggKey, Aggregate> = HashMap::with_max_entries(MAX_THREADS, 0);

/// A zeroed [`Aggregate`] per CPU to insert new keys from: too big for the 512-byte stack.
#[map]
static FRESH_AGGREGATE: PerCpuArray<Aggregate> = PerCpuArray::with_max_entries(1, 0);

/// Write a record into this CPU's ring, or count it lost when the ring is full.
///
/// The record is written once, where user space reads it. Records used to be gathered 32
/// at a time in a per-CPU batch and copied into a BPF ring buffer: the copy went to lines
/// the reader had last held, and the commit's atomic exchange waited for all of them, about
/// 30 ns a call in sys_exit (perf: bpf_ringbuf_output and its memcpy). Here the record's
/// stores drain while the kernel goes on, and on x86-64 nothing waits for them.
#[inline(always)]
pub fn stage(fill: impl FnOnce(&mut SyscallRecord)) {
    let Some(cursor) = RING_CURSORS.get_ptr_mut(0) else {
        add_lost(1);
        return;
    };
    // SAFETY: this CPU's cursor; programs that write records do not interleave on one CPU.
    let cursor = unsafe { &mut *cursor };
    let head = cursor.head;
    if head >= cursor.limit {
        // The ring may be full: see how far user space has read.
        let Some(pos) = ring_pos() else {
            add_lost(1);
            return;
        };
        // SAFETY: this CPU's entry; user space writes `tail` at any time.
        let tail = unsafe { core::ptr::read_volatile(&raw const (*pos).tail) };
        cursor.limit = tail.wrapping_add(u64::from(cursor.mask) + 1);
        if head >= cursor.limit {
            add_lost(1);
            return;
        }
    }
    let Some(slot) = RECORDS.get_ptr_mut(cursor.first + (head as u32 & cursor.mask)) else {
        add_lost(1);
        return;
    };
    // SAFETY: a slot outside what user space is reading (between `tail` and `head`).
    fill(unsafe { &mut *slot });
    cursor.head = head + 1;
    let ordered = cursor.ordered != 0;
    // The compiler cannot see into the helper calls of this lookup, so the record's stores
    // stay before them and before the store of `head` (BPF has no compiler fence). The
    // verifier inlines both.
    let Some(pos) = ring_pos() else {
        return;
    };
    // SAFETY (both): an aligned u64 of this CPU's entry, written only here.
    let head_at = unsafe { &raw mut (*pos).head };
    if ordered {
        // The atomic add also orders the record's stores before it for the other CPUs.
        // (core offers BPF, whose target lacks compare-and-swap, no atomic add but this.)
        unsafe {
            core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Release }>(
                head_at, 1,
            )
        };
    } else {
        unsafe { core::ptr::write_volatile(head_at, head + 1) };
    }
}

/// This CPU's entry in `RECORD_RINGS`.
#[inline(always)]
fn ring_pos() -> Option<*mut RingPos> {
    // SAFETY: a helper without arguments.
    RECORD_RINGS.get_ptr_mut(unsafe { bpf_get_smp_processor_id() })
}

#[inline(always)]
fn add_lost(n: u64) {
    if let Some(lost) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *lost += n };
    }
}

/// `--records tail`: whether the call is one of the tail, recorded beside the totals: it
/// failed, left the CPU, took at least the slow threshold, or is the `nth` call of its
/// thread and kind where every Nth is kept.
#[inline(always)]
pub fn in_tail(r: &SyscallRecord, nth: u64) -> bool {
    if r.ret < 0 || r.offcpu_ns > 0 {
        return true;
    }
    let slow = u64::from(config_at(TAIL_SLOW_NS));
    if slow != 0 && r.wall_ns >= slow {
        return true;
    }
    let every = u64::from(config_at(TAIL_EVERY));
    every != 0 && nth % every == 0
}

/// `--aggregate`: add the call to its thread's totals instead of emitting it.
#[inline(always)]
pub fn fold(r: &SyscallRecord) {
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
