//! The maps user space writes and reads, outside the programs: which processes are traced
//! (`TARGET_*`), the config word and `--records tail`'s thresholds (`CONFIG`), and after a trace the exact per-thread counts
//! (`THREADS`), `--aggregate`'s totals (`TOTALS` and `AGGREGATES`), the lost-record count (`LOST`), the
//! batches left in `STAGING`, and the record ring buffer (`RECORDS`) for the collector.

use std::collections::BTreeMap;

use aya::maps::{Array, HashMap, MapData, PerCpuArray, PerCpuValues, RingBuf};
use netcopy_common::{
    aggregate::{AggKey, Aggregate, TOTAL_SLOTS},
    batch::{StagedRecords, batch_records},
    call::{ExactCounts, PROBES, ThreadEntry, thread_slot},
    config::{
        AGGREGATE, ALL_TASKS, BY_CGROUP, BY_COMM, PAUSED, TAIL, TAIL_EVERY, TAIL_SLOW_NS, WORD,
    },
    maps::{
        AGGREGATES, CONFIG, LOST, RECORDS, STAGING, TARGET_CGROUPS, TARGET_COMMS, TARGET_TGIDS,
        THREADS, TOTALS,
    },
    syscalls::SyscallRecord,
    targets::{COMM_LEN, PRESENT},
};

use super::{
    ProbeError, Probes, map_error,
    mapped::{Mapped, MappedError},
};
use crate::model::attach::Feature;

/// The owner of a `TOTALS` slot taken with `NETCOPY_HIDE=totals`: no thread has this id (the
/// kernel's ids stop at PID_MAX_LIMIT, 4,194,304).
const NO_THREAD: u32 = u32::MAX;

/// Totals added up by key, in key order.
fn add_up(
    totals: impl Iterator<Item = Result<(AggKey, Aggregate), ProbeError>>,
) -> Result<Vec<(AggKey, Aggregate)>, ProbeError> {
    let mut by_key: BTreeMap<AggKey, Aggregate> = BTreeMap::new();
    for kv in totals {
        let (key, a) = kv?;
        by_key
            .entry(key)
            .and_modify(|sum| sum.merge(&a))
            .or_insert(a);
    }
    Ok(by_key.into_iter().collect())
}

impl Probes {
    /// Trace the threads of process `tgid` from now on.
    pub fn add_target(&mut self, tgid: u32) -> Result<(), ProbeError> {
        self.mark(TARGET_TGIDS, tgid)
    }

    /// Trace every thread whose command name is `comm` (the kernel keeps 15 bytes of it).
    pub fn add_comm(&mut self, comm: &str) -> Result<(), ProbeError> {
        let mut key = [0u8; COMM_LEN];
        let bytes = comm.as_bytes();
        let n = bytes.len().min(COMM_LEN - 1);
        key[..n].copy_from_slice(&bytes[..n]);
        self.mark(TARGET_COMMS, key)?;
        self.update_config(|word| word | BY_COMM)
    }

    /// Trace every process (`netcopy top` without targets).
    pub fn add_all(&mut self) -> Result<(), ProbeError> {
        self.update_config(|word| word | ALL_TASKS)
    }

    /// Trace every thread in the cgroup (v2) whose directory has inode `id`.
    pub fn add_cgroup(&mut self, id: u64) -> Result<(), ProbeError> {
        self.mark(TARGET_CGROUPS, id)?;
        self.update_config(|word| word | BY_CGROUP)
    }

    fn mark<K: aya::Pod>(&mut self, name: &'static str, key: K) -> Result<(), ProbeError> {
        let mut targets: HashMap<&mut MapData, K, u8> =
            HashMap::try_from(self.map_mut(name)?).map_err(map_error(name))?;
        targets.insert(key, PRESENT, 0).map_err(map_error(name))
    }

    /// `--aggregate`: fold calls into per-thread totals in the kernel instead of records.
    pub fn set_aggregate(&mut self, on: bool) -> Result<(), ProbeError> {
        if on {
            self.take_totals()?;
        }
        self.update_config(|word| {
            if on {
                word | AGGREGATE
            } else {
                word & !AGGREGATE
            }
        })
    }

    /// With `NETCOPY_HIDE=totals`, give every `TOTALS` slot to a thread that does not exist,
    /// so that each call folds into the `AGGREGATES` hash map instead. Such a slot counts no
    /// call, and [`Self::aggregates`] leaves it out.
    fn take_totals(&mut self) -> Result<(), ProbeError> {
        if !self.features.is_hidden(Feature::Totals) {
            return Ok(());
        }
        let mut totals: Array<&mut MapData, Aggregate> =
            Array::try_from(self.map_mut(TOTALS)?).map_err(map_error(TOTALS))?;
        let taken = Aggregate {
            tid: NO_THREAD,
            ..Aggregate::default()
        };
        for slot in 0..TOTAL_SLOTS {
            totals.set(slot, taken, 0).map_err(map_error(TOTALS))?;
        }
        Ok(())
    }

    /// `--records tail`: fold every call into the totals in the kernel, and record the calls
    /// that failed, left the CPU, took `slow_ns` or more (0: none), or are the `every`th of
    /// their thread and kind (0: none).
    pub fn set_tail(&mut self, slow_ns: u32, every: u32) -> Result<(), ProbeError> {
        self.set_config(TAIL_SLOW_NS, slow_ns)?;
        self.set_config(TAIL_EVERY, every)?;
        self.take_totals()?;
        self.update_config(|word| word | AGGREGATE | TAIL)
    }

    fn set_config(&mut self, index: u32, value: u32) -> Result<(), ProbeError> {
        let mut config: Array<&mut MapData, u32> =
            Array::try_from(self.map_mut(CONFIG)?).map_err(map_error(CONFIG))?;
        config.set(index, value, 0).map_err(map_error(CONFIG))
    }

    pub(crate) fn update_config(&mut self, f: impl FnOnce(u32) -> u32) -> Result<(), ProbeError> {
        let mut config: Array<&mut MapData, u32> =
            Array::try_from(self.map_mut(CONFIG)?).map_err(map_error(CONFIG))?;
        let word = config.get(&WORD, 0).map_err(map_error(CONFIG))?;
        config.set(WORD, f(word), 0).map_err(map_error(CONFIG))
    }

    /// The exact calls thread `tid` completed, per kind (zero if it made none): its entry
    /// is in the first of its slots that names it, before the first free one, as the
    /// programs look it up.
    pub fn call_counts(&self, tid: u32) -> Result<ExactCounts, ProbeError> {
        let threads: Array<&MapData, ThreadEntry> =
            Array::try_from(self.map(THREADS)?).map_err(map_error(THREADS))?;
        for i in 0..PROBES {
            let entry = threads
                .get(&thread_slot(tid, i), 0)
                .map_err(map_error(THREADS))?;
            if entry.tid == tid {
                return Ok(entry.counts);
            }
            if entry.tid == 0 {
                break;
            }
        }
        Ok(ExactCounts::default())
    }

    /// The in-kernel totals of `--aggregate`, per thread and kind: the `TOTALS` slots that
    /// threads claimed, and the `AGGREGATES` entries of those whose slot was taken, added
    /// up by key (a thread id reused by another process can be in both).
    pub fn aggregates(&self) -> Result<Vec<(AggKey, Aggregate)>, ProbeError> {
        let overflow: HashMap<&MapData, AggKey, Aggregate> =
            HashMap::try_from(self.map(AGGREGATES)?).map_err(map_error(AGGREGATES))?;
        let claimed = self
            .totals()?
            .iter()
            // Free, or claimed in a race that sent every call to the hash map.
            .filter(|a| a.tid != 0 && a.calls != 0)
            .map(|a| Ok((AggKey::new(a.tid, a.kind as u8), a)));
        let spilled = overflow.iter().map(|kv| kv.map_err(map_error(AGGREGATES)));
        add_up(claimed.chain(spilled))
    }

    /// `TOTALS`' values, mapped once (see [`super::mapped`]).
    fn totals(&self) -> Result<&Mapped<Aggregate>, ProbeError> {
        if let Some(m) = self.totals.get() {
            return Ok(m);
        }
        let map = match self.map(TOTALS)? {
            aya::maps::Map::Array(data) => data,
            _ => {
                return Err(ProbeError::Mapped {
                    name: TOTALS,
                    source: MappedError::NotArray,
                });
            }
        };
        let mapped = Mapped::new(map).map_err(|source| ProbeError::Mapped {
            name: TOTALS,
            source,
        })?;
        Ok(self.totals.get_or_init(|| mapped))
    }

    /// Records the ring buffer had no room for, summed over CPUs.
    pub fn lost(&self) -> Result<u64, ProbeError> {
        Ok(self.per_cpu_slot::<u64>(LOST)?.iter().sum())
    }

    /// Every CPU's value of the one slot of per-CPU array `name`.
    pub(crate) fn per_cpu_slot<V: aya::Pod>(
        &self,
        name: &'static str,
    ) -> Result<PerCpuValues<V>, ProbeError> {
        let array: PerCpuArray<&MapData, V> =
            PerCpuArray::try_from(self.map(name)?).map_err(map_error(name))?;
        array.get(&0, 0).map_err(map_error(name))
    }

    /// Stop counting and recording calls (the end of a trace), and give programs already
    /// running on other CPUs time to finish.
    pub fn pause(&mut self) -> Result<(), ProbeError> {
        self.update_config(|word| word | PAUSED)?;
        std::thread::sleep(std::time::Duration::from_millis(10));
        Ok(())
    }

    /// The records still in the per-CPU batches (they go to the ring buffer when full).
    /// Read after [`Probes::pause`]: then no batch is flushed while it is read, so every
    /// record is taken exactly once. A batch that does not read as one is an error: the
    /// kernel's and netcopy's record layouts differ.
    pub fn staged(&self) -> Result<Vec<SyscallRecord>, ProbeError> {
        let mut records = Vec::new();
        for batch in self.per_cpu_slot::<StagedRecords>(STAGING)?.iter() {
            // SAFETY: StagedRecords is plain integers; its bytes are read, not changed.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    std::ptr::from_ref(batch).cast::<u8>(),
                    std::mem::size_of::<StagedRecords>(),
                )
            };
            batch_records(bytes, |r| records.push(*r)).map_err(|_| ProbeError::Staging)?;
        }
        Ok(records)
    }

    /// The io_uring event ring buffer, handed to its reader (once).
    pub fn take_uring_events(&mut self) -> Result<RingBuf<MapData>, ProbeError> {
        let name = netcopy_common::maps::URING_EVENTS;
        let map = self
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        RingBuf::try_from(map).map_err(map_error(name))
    }

    /// The record ring buffer, handed to the collector (once).
    pub fn take_records(&mut self) -> Result<RingBuf<MapData>, ProbeError> {
        let map = self.ebpf.take_map(RECORDS).ok_or(ProbeError::Missing {
            kind: "map",
            name: RECORDS,
        })?;
        RingBuf::try_from(map).map_err(map_error(RECORDS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(calls: u64, bytes: u64) -> Aggregate {
        Aggregate {
            calls,
            bytes,
            ..Default::default()
        }
    }

    #[test]
    fn a_key_in_both_maps_is_added_up_and_the_others_are_kept() {
        let (a, b) = (AggKey::new(7, 1), AggKey::new(8, 3));
        let out = add_up(
            [
                Ok((b, totals(5, 50))),
                Ok((a, totals(2, 20))),
                Ok((b, totals(1, 10))),
            ]
            .into_iter(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, vec![(a, totals(2, 20)), (b, totals(6, 60))]);
    }
}
