//! The record rings: each CPU's ring of syscall records in `RECORDS`, which the syscall
//! exit programs write in place (`netcopy-ebpf/src/records.rs`), with where each side is in
//! `RECORD_RINGS`. Both arrays are mapped into netcopy at load time, sized here, and read by
//! the collector. Numbers: the records of each CPU in the order it wrote them, and the
//! records given up on when a ring's positions are impossible (never expected; counted).

use std::{
    os::fd::AsFd,
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use aya::maps::{Map, MapData};
use netcopy_common::syscalls::{RingCursor, RingPos, SyscallRecord};

use super::ProbeError;

const RECORD: usize = std::mem::size_of::<SyscallRecord>();

/// How the rings are sized: `cpus` rings (one per possible CPU) of `slots` records each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingPlan {
    pub cpus: u32,
    pub slots: u32,
}

impl RingPlan {
    /// Each of `cpus` rings gets the most records that fit in `bytes`, a power of two of
    /// them, and at least one.
    pub fn new(bytes: u32, cpus: u32) -> Result<Self, ProbeError> {
        let fit = (bytes as usize / RECORD).max(1) as u32;
        let slots = 1 << fit.ilog2();
        let plan = Self { cpus, slots };
        match plan.records() {
            Some(_) if cpus > 0 => Ok(plan),
            _ => Err(ProbeError::Rings(format!(
                "{cpus} rings of {slots} records do not fit in one array; use a smaller --ring-buffer"
            ))),
        }
    }

    /// Slots of `RECORDS` in all.
    pub fn records(&self) -> Option<u32> {
        self.cpus.checked_mul(self.slots)
    }

    /// Each CPU's cursor before tracing starts: its ring's place in `RECORDS`, room for a
    /// whole ring, and how the kernel publishes a record on this architecture.
    pub fn cursors(&self) -> Vec<RingCursor> {
        (0..self.cpus)
            .map(|cpu| RingCursor {
                first: cpu * self.slots,
                mask: self.slots - 1,
                limit: u64::from(self.slots),
                // Other CPUs see x86-64's stores in program order; elsewhere the kernel
                // publishes each record with an atomic add.
                ordered: u32::from(std::env::consts::ARCH != "x86_64"),
                ..RingCursor::default()
            })
            .collect()
    }
}

/// Which of a ring's records to read now, as (the first, how many, how many given up on):
/// from `tail` up to `head`, or none when the positions are impossible (`head` behind
/// `tail`, or more than a ring ahead of it, which the kernel never writes), counted and
/// skipped: the reader then starts again at `head`.
pub fn span(head: u64, tail: u64, slots: u32) -> (u64, u64, u64) {
    let ahead = head.wrapping_sub(tail);
    if ahead <= u64::from(slots) {
        (tail, ahead, 0)
    } else if head > tail {
        (head, 0, ahead)
    } else {
        (head, 0, 0)
    }
}

/// A shared mapping of a map's values, unmapped when dropped.
struct Mapping {
    at: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(map: &Map, len: usize, writable: bool) -> Result<Self, ProbeError> {
        let Map::Array(map) = map else {
            return Err(ProbeError::Rings(
                "a record ring map is not an array".into(),
            ));
        };
        let map: &MapData = map;
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        use std::os::fd::AsRawFd;
        // SAFETY: a new shared mapping of the map's fd; the kernel checks that the map is
        // mappable and `len` is within its values.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(ProbeError::Rings(format!(
                "map the record rings: {}",
                std::io::Error::last_os_error()
            )));
        }
        let at =
            NonNull::new(at.cast()).ok_or_else(|| ProbeError::Rings("mmap gave null".into()))?;
        Ok(Self { at, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.at.as_ptr().cast(), self.len) };
    }
}

/// The mapped rings, read by one thread.
pub struct RecordRings {
    records: Mapping,
    rings: Mapping,
    plan: RingPlan,
}

// SAFETY: the mappings are plain shared memory that this value alone reads and writes in
// user space; moving it to the reader thread moves that access with it.
unsafe impl Send for RecordRings {}

impl RecordRings {
    /// Map `RECORDS` (`records`) and `RECORD_RINGS` (`rings`), sized by `plan`.
    pub(super) fn map(records: &Map, rings: &Map, plan: RingPlan) -> Result<Self, ProbeError> {
        let total = plan
            .records()
            .ok_or_else(|| ProbeError::Rings("the rings do not fit".into()))?;
        let records = Mapping::new(records, total as usize * RECORD, false)?;
        let ring_bytes = plan.cpus as usize * std::mem::size_of::<RingPos>();
        let rings = Mapping::new(rings, ring_bytes, true)?;
        Ok(Self {
            records,
            rings,
            plan,
        })
    }

    fn pos(&self, cpu: u32) -> *mut RingPos {
        // SAFETY: `cpu` < cpus, within the mapping of `cpus` entries.
        unsafe { self.rings.at.as_ptr().cast::<RingPos>().add(cpu as usize) }
    }

    pub fn plan(&self) -> RingPlan {
        self.plan
    }

    /// Give `take` every record written since the last drain, CPU by CPU, in each CPU's
    /// order, then hand the slots back to the kernel. Returns the records given up on (see
    /// [`span`]).
    pub fn drain<E>(
        &mut self,
        mut take: impl FnMut(&SyscallRecord) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut given_up = 0;
        for cpu in 0..self.plan.cpus {
            let pos = self.pos(cpu);
            // SAFETY: aligned u64s of this CPU's entry: `head` is the kernel's (read with
            // acquire: the record's stores come before it), `tail` ours.
            let (head, tail) = unsafe {
                (
                    AtomicU64::from_ptr(&raw mut (*pos).head).load(Ordering::Acquire),
                    AtomicU64::from_ptr(&raw mut (*pos).tail).load(Ordering::Relaxed),
                )
            };
            let (from, count, lost) = span(head, tail, self.plan.slots);
            given_up += lost;
            let first = cpu as usize * self.plan.slots as usize;
            let mask = u64::from(self.plan.slots - 1);
            for i in 0..count {
                let slot = first + (from.wrapping_add(i) & mask) as usize;
                // SAFETY: a slot of the mapping (`first` + less than `slots`), aligned (the
                // array's values are 8-byte aligned from a page), which the kernel does not
                // write until `tail` passes it; SyscallRecord is plain data valid for any
                // bytes.
                let r = unsafe { &*self.records.at.as_ptr().cast::<SyscallRecord>().add(slot) };
                take(r)?;
            }
            // SAFETY: as above; the kernel may reuse the slots from now on.
            unsafe { AtomicU64::from_ptr(&raw mut (*pos).tail).store(head, Ordering::Release) };
        }
        Ok(given_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_gives_each_cpu_a_power_of_two_of_records_that_fit() {
        let plan = RingPlan::new(8 << 20, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.slots, 32768, "8 MiB holds 49,932 records of 168 bytes");
        assert_eq!(plan.records(), Some(65536));
        // A ring smaller than a record still holds one.
        assert_eq!(RingPlan::new(4, 2).map(|p| p.slots).ok(), Some(1));
        assert_eq!(RingPlan::new(4096, 3).map(|p| p.slots).ok(), Some(16));
        // More slots than one array can index is an error, not a wrapped size.
        assert!(RingPlan::new(1 << 30, 1 << 12).is_err());
        assert!(RingPlan::new(4096, 0).is_err());
    }

    #[test]
    fn each_cpu_gets_its_own_ring_with_room_for_all_of_it() {
        let plan = RingPlan { cpus: 3, slots: 16 };
        let c = plan.cursors();
        assert_eq!(c.iter().map(|c| c.first).collect::<Vec<_>>(), [0, 16, 32]);
        assert!(
            c.iter()
                .all(|c| c.mask == 15 && c.limit == 16 && c.head == 0)
        );
        let ordered = u32::from(std::env::consts::ARCH != "x86_64");
        assert!(c.iter().all(|c| c.ordered == ordered));
    }

    #[test]
    fn a_span_reads_from_tail_to_head_and_gives_up_on_impossible_positions() {
        assert_eq!(span(10, 4, 8), (4, 6, 0));
        assert_eq!(span(12, 4, 8), (4, 8, 0), "a full ring is read whole");
        assert_eq!(span(4, 4, 8), (4, 0, 0));
        assert_eq!(
            span(2, u64::MAX - 1, 8),
            (u64::MAX - 1, 4, 0),
            "across the wrap"
        );
        assert_eq!(
            span(13, 4, 8),
            (13, 0, 9),
            "overrun: the kernel never writes past tail"
        );
        assert_eq!(span(3, 4, 8), (3, 0, 0), "head behind tail");
    }
}
