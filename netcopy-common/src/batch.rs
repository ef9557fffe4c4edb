//! How records travel: each CPU fills a [`StagedRecords`] batch in `STAGING`, one record
//! after another, and sends it to the `RECORDS` ring buffer as one item when it has less room
//! left than a whole record. A record takes its head ([`HEAD_BYTES`]), or its head and tail
//! when it [`SyscallRecord::has_tail`]: most calls' tails are all zeros, and leaving them
//! out takes 72 of 168 bytes off the copy into the ring and off what user space reads.
//!
//! Writers: `netcopy-ebpf/src/records.rs` ([`StagedRecords::push`], [`StagedRecords::item`]).
//! Readers: the collector, for ring items, and user space at the end of a trace, for the
//! batches left in `STAGING` (both with [`batch_records`]).

use crate::{
    layout,
    syscalls::{HEAD_BYTES, RECORD_BYTES, SyscallRecord},
};

/// Room in a batch for this many whole records: a batch goes to the ring buffer once it has
/// less room left than one whole record, so it carries at least this many records, and up
/// to [`MAX_BATCH_RECORDS`] when none has a tail.
pub const BATCH_RECORDS: usize = 32;
/// Bytes of records a batch holds.
pub const BATCH_BYTES: usize = BATCH_RECORDS * RECORD_BYTES;
/// Records in a batch at most (every one a head without a tail).
pub const MAX_BATCH_RECORDS: usize = BATCH_BYTES / HEAD_BYTES;

/// A batch of records: what one ring buffer item holds (its header and the first `used`
/// bytes of `data`), and what each CPU fills. A reservation in the shared ring costs a lock
/// and cache-line traffic between CPUs, so one per batch instead of one per call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StagedRecords {
    /// Records in `data`, one after another from its start, each [`SyscallRecord::wire_bytes`]
    /// long.
    pub count: u32,
    /// Bytes of `data` the records take.
    pub used: u32,
    pub data: [u64; BATCH_BYTES / 8],
}
layout!(StagedRecords, 8 + BATCH_BYTES, data @ 8);
/// Bytes before a batch's records.
pub const BATCH_HEADER: usize = core::mem::offset_of!(StagedRecords, data);
const _: () = assert!(HEAD_BYTES.is_multiple_of(8) && RECORD_BYTES.is_multiple_of(8));

/// Where the last record of a batch may start: a whole record fits from there.
const LAST_START: usize = BATCH_BYTES - RECORD_BYTES;

impl StagedRecords {
    /// Append a record that `fill` writes in place. It takes its head, or its head and tail
    /// (see [`SyscallRecord::has_tail`]): `fill` writes the tail only where it has one.
    /// `Some(true)` when the batch has less room left than a whole record, and goes out as
    /// [`Self::item`] before the next; `None` when it had no room for this one (never, if
    /// full batches are sent).
    #[inline(always)]
    pub fn push(&mut self, fill: impl FnOnce(&mut SyscallRecord)) -> Option<bool> {
        let used = self.used as usize;
        if used > LAST_START {
            return None;
        }
        // SAFETY: `used` is a multiple of 8 (heads and whole records are) and at most
        // LAST_START, so a whole, aligned record fits from there inside `data`; any bytes
        // are a valid SyscallRecord.
        let slot = unsafe {
            &mut *self
                .data
                .as_mut_ptr()
                .cast::<u8>()
                .add(used)
                .cast::<SyscallRecord>()
        };
        fill(slot);
        let used = used + slot.wire_bytes();
        self.count += 1;
        self.used = used as u32;
        Some(used > LAST_START)
    }

    /// The batch as one ring buffer item: its header and the bytes its records take.
    #[inline(always)]
    pub fn item(&self) -> &[u8] {
        let len = BATCH_HEADER + (self.used as usize).min(BATCH_BYTES);
        // SAFETY: `len` is at most the size of `self`, whose bytes are plain integers.
        unsafe { core::slice::from_raw_parts(core::ptr::from_ref(self).cast::<u8>(), len) }
    }

    /// Start the batch over, empty.
    #[inline(always)]
    pub fn clear(&mut self) {
        self.count = 0;
        self.used = 0;
    }
}

impl Default for StagedRecords {
    fn default() -> Self {
        Self {
            count: 0,
            used: 0,
            data: [0; BATCH_BYTES / 8],
        }
    }
}

/// Why the bytes of a batch are not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotABatch;

/// Each record of a batch's bytes (a ring buffer item, or a CPU's [`StagedRecords`] as
/// bytes), in order, to `each`; `Err` when the header does not fit the bytes, or the
/// records do not fill exactly the bytes the header says (the records before the fault
/// have been given to `each` then).
pub fn batch_records(
    bytes: &[u8],
    mut each: impl FnMut(&SyscallRecord),
) -> Result<usize, NotABatch> {
    let word = |at: usize| -> Result<usize, NotABatch> {
        let b = bytes.get(at..at + 4).ok_or(NotABatch)?;
        Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let (count, used) = (word(0)?, word(4)?);
    if count > MAX_BATCH_RECORDS || used > BATCH_BYTES {
        return Err(NotABatch);
    }
    let mut data = bytes
        .get(BATCH_HEADER..BATCH_HEADER + used)
        .ok_or(NotABatch)?;
    // One record read into over and over: a head overwrites the last one's, and its tail
    // is cleared only where the last record had one (zeroing and copying a whole record per
    // record took about a fifth of the collector's time).
    let mut r = SyscallRecord::default();
    let mut tail_written = false;
    for _ in 0..count {
        let n = r.read_wire(data, &mut tail_written).ok_or(NotABatch)?;
        each(&r);
        data = &data[n..];
    }
    if data.is_empty() {
        Ok(count)
    } else {
        Err(NotABatch)
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)` plain integers with explicit padding, valid for any bytes.
    unsafe impl aya::Pod for super::StagedRecords {}
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::syscalls::SyscallKind;

    /// A call of `kind` by thread `tid`, its `n`th; every head field set, so that a field the
    /// wire drops or moves shows.
    fn call(n: u32, kind: SyscallKind, offcpu_ns: u64) -> SyscallRecord {
        let n64 = u64::from(n);
        SyscallRecord {
            start_ns: 1_000 + n64,
            wall_ns: 10 + n64,
            offcpu_ns,
            ret: -(n as i64),
            bytes_to_user: 7 * n64,
            tgid: 40,
            tid: 41 + n,
            fd: 3,
            flags: n,
            voluntary_cs: n % 3,
            involuntary_cs: n % 5,
            skbs_built: n + 1,
            skbs_tx: n + 2,
            skbs_rx: n + 3,
            cpu: n % 2,
            kind: kind as u8,
            brackets: 1,
            rx_softirq_ns: n + 4,
            tx_softirq_ns: n + 5,
            dev_xmit_ns: n + 6,
            ..Default::default()
        }
    }

    /// `r` with a tail written as the kernel writes it where the record has one.
    fn with_tail(mut r: SyscallRecord, n: u32) -> SyscallRecord {
        r.offcpu_reason_ns = [1, 2, 3, r.offcpu_ns - 6];
        r.uring_bytes = if r.kind == SyscallKind::IoUringEnter as u8 {
            n * 9
        } else {
            0
        };
        r
    }

    /// Push `r` as the kernel does: head fields, then the tail only where it has one.
    fn push(batch: &mut StagedRecords, r: &SyscallRecord) -> Option<bool> {
        batch.push(|slot| {
            let tail = (
                slot.cycles,
                slot.instructions,
                slot.offcpu_reason_ns,
                slot.exact_ns,
                slot.uring_bytes,
            );
            *slot = *r;
            if !r.has_tail() {
                // The bytes after a head keep what was there: a later record's or junk.
                (
                    slot.cycles,
                    slot.instructions,
                    slot.offcpu_reason_ns,
                    slot.exact_ns,
                    slot.uring_bytes,
                ) = tail;
            }
        })
    }

    fn decode(bytes: &[u8]) -> Result<Vec<SyscallRecord>, NotABatch> {
        let mut out = Vec::new();
        batch_records(bytes, |r| out.push(*r)).map(|n| {
            assert_eq!(n, out.len());
            out
        })
    }

    #[test]
    fn a_batch_reads_back_as_the_records_pushed_with_tails_only_where_they_are() {
        let mut batch = StagedRecords::default();
        // Junk where tails will not be written: it must not come back.
        batch.data.fill(0xdead_beef_dead_beef);
        let mut pushed = Vec::new();
        for n in 0.. {
            let r = match n % 4 {
                0 => call(n, SyscallKind::Sendto, 0),
                1 => with_tail(call(n, SyscallKind::Recvfrom, 100 + u64::from(n)), n),
                2 => with_tail(call(n, SyscallKind::IoUringEnter, 0), n),
                _ => call(n, SyscallKind::Sendmsg, 0),
            };
            pushed.push(r);
            if push(&mut batch, &r) == Some(true) {
                break;
            }
            assert!(n < 100, "the batch never filled");
        }
        // Two heads and two whole records per four: 528 bytes, so 5208 is passed at the 40th.
        assert_eq!(pushed.len(), 40);
        assert_eq!(batch.count as usize, pushed.len());
        assert_eq!(batch.item().len(), BATCH_HEADER + batch.used as usize);
        assert_eq!(decode(batch.item()).unwrap(), pushed);
        // A CPU's batch read whole at the end of a trace reads the same.
        // SAFETY: plain integers.
        let whole = unsafe {
            core::slice::from_raw_parts(
                core::ptr::from_ref(&batch).cast::<u8>(),
                core::mem::size_of::<StagedRecords>(),
            )
        };
        assert_eq!(decode(whole).unwrap(), pushed);
    }

    #[test]
    fn heads_alone_fill_a_batch_later_and_a_full_batch_takes_no_more() {
        let mut batch = StagedRecords::default();
        let mut n = 0;
        while push(&mut batch, &call(n, SyscallKind::Sendto, 0)) == Some(false) {
            n += 1;
        }
        // 55 heads take 5,280 bytes: past the last start (5,208), with room for no whole record.
        assert_eq!(batch.count, 55);
        assert_eq!(batch.used as usize, 55 * HEAD_BYTES);
        assert!(batch.count as usize <= MAX_BATCH_RECORDS);
        assert_eq!(push(&mut batch, &call(99, SyscallKind::Sendto, 0)), None);
        assert_eq!(batch.count, 55, "a refused record is not counted");
        batch.clear();
        assert_eq!(decode(batch.item()).unwrap(), Vec::new());
        // Whole records alone: exactly 32.
        let mut k = 0;
        while push(&mut batch, &with_tail(call(k, SyscallKind::Recvmsg, 50), k)) == Some(false) {
            k += 1;
        }
        assert_eq!(batch.count as usize, BATCH_RECORDS);
        assert_eq!(batch.used as usize, BATCH_BYTES);
    }

    #[test]
    fn bytes_that_are_not_a_batch_are_refused_after_the_records_before_the_fault() {
        let mut batch = StagedRecords::default();
        for n in 0..3 {
            push(&mut batch, &call(n, SyscallKind::Sendto, 0));
        }
        let item = batch.item().to_vec();
        assert_eq!(decode(&item).unwrap().len(), 3);
        // Too short for the header, or for the bytes the header says.
        assert_eq!(decode(&item[..7]), Err(NotABatch));
        assert_eq!(decode(&item[..item.len() - 1]), Err(NotABatch));
        // A count the bytes do not hold: the three records come, then the fault.
        let mut more = item.clone();
        more[0] = 4;
        let mut seen = 0;
        assert_eq!(batch_records(&more, |_| seen += 1), Err(NotABatch));
        assert_eq!(seen, 3);
        // Bytes left over after the records.
        let mut fewer = item.clone();
        fewer[0] = 2;
        assert_eq!(decode(&fewer), Err(NotABatch));
        // A header past what a batch can hold.
        let mut huge = item;
        huge[4..8].copy_from_slice(&(BATCH_BYTES as u32 + 8).to_ne_bytes());
        assert_eq!(decode(&huge), Err(NotABatch));
    }

    #[test]
    fn the_tail_is_read_from_head_fields_only() {
        let plain = call(1, SyscallKind::Sendto, 0);
        assert!(!plain.has_tail());
        assert_eq!(plain.wire_bytes(), HEAD_BYTES);
        for r in [
            SyscallRecord {
                counters: 1,
                ..plain
            },
            SyscallRecord { exact: 1, ..plain },
            SyscallRecord {
                offcpu_ns: 1,
                ..plain
            },
            call(1, SyscallKind::IoUringEnter, 0),
        ] {
            assert!(r.has_tail(), "{r:?}");
            assert_eq!(r.wire_bytes(), RECORD_BYTES);
        }
        // Every tail field lies after the head.
        assert_eq!(core::mem::offset_of!(SyscallRecord, cycles), HEAD_BYTES);
        assert!(core::mem::offset_of!(SyscallRecord, dev_xmit_ns) + 4 == HEAD_BYTES);
    }
}
