//! Reading syscall records from the ring buffer (`RECORDS`, batches of
//! [`StagedRecords`](netcopy_common::batch::StagedRecords)) and folding them into
//! per-(thread, kind) statistics, so memory stays bounded whatever the call rate; each
//! record also goes to a [`RecordWriter`] (syscalls.parquet) with its thread's role. A
//! writer that folds the records it is given ([`RecordWriter::folds`]) does it instead of
//! the reader: then the reader only hands records over while the trace runs, and the
//! folding happens where the writer reads them back, behind the workload. Numbers:
//! [`CallStats`] per thread and kind, folded into [`SyscallSummary`] rows per role.
//!
//! The reader runs on its own thread with a small tokio runtime: `AsyncFd` wakes it when the
//! kernel has written records, and it drains the buffer completely after the stop request.

use std::{
    collections::{BTreeMap, HashMap, btree_map::Entry},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use aya::maps::{MapData, RingBuf};
use netcopy_common::{
    aggregate::{AggKey, Aggregate},
    batch::batch_records,
    brackets,
    exact::TIMED,
    offcpu::Reason,
    syscalls::{SyscallKind, SyscallRecord},
};
use thiserror::Error;
use tokio::io::{Interest, unix::AsyncFd};

use super::procs::Processes;
use crate::{
    model::{Process, Role, SyscallSummary},
    workload::{stats::Latency, watch::Roles},
};

/// An error of the [`RecordWriter`], boxed: collect does not know the writer's types.
pub type WriterError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum CollectError {
    #[error("record reader: {0}")]
    Io(#[from] std::io::Error),
    #[error("the record reader thread panicked")]
    Panicked,
    #[error("syscalls table: {0}")]
    Writer(WriterError),
}

/// Where each record goes besides the statistics, in the order the records arrive.
pub trait RecordWriter: Send {
    fn push(&mut self, r: &SyscallRecord, kind: SyscallKind, role: Role)
    -> Result<(), WriterError>;
    /// Whether the writer folds every record it is given into [`ByThread`] statistics,
    /// which [`Self::close`] returns; the reader then does not fold them itself.
    fn folds(&self) -> bool {
        false
    }
    /// Write what is buffered and finish; the statistics of every record pushed, where the
    /// writer [`folds`](Self::folds).
    fn close(self: Box<Self>) -> Result<Option<ByThread>, WriterError>;
}

/// Statistics by (thread, kind).
pub type ByThread = BTreeMap<(u32, SyscallKind), CallStats>;

/// Count one record of `kind` into its thread's statistics; true the first time the thread
/// and kind are seen.
#[inline(always)]
pub fn fold(by_thread: &mut ByThread, r: &SyscallRecord, kind: SyscallKind) -> bool {
    match by_thread.entry((r.tid, kind)) {
        Entry::Occupied(mut e) => {
            e.get_mut().add(r);
            false
        }
        Entry::Vacant(e) => {
            e.insert(CallStats::default()).add(r);
            true
        }
    }
}

/// What the calls of one thread and syscall kind add up to, and their latency.
#[derive(Default)]
pub struct CallStats {
    /// The same totals the kernel keeps with `--aggregate`.
    pub totals: Aggregate,
    /// Per-call wall time, exact from records, or from log2 buckets with `--aggregate`.
    pub latency: Latency,
}

impl CallStats {
    fn add(&mut self, r: &SyscallRecord) {
        self.totals.add(r);
        self.latency.record(r.wall_ns);
    }

    pub fn merge(&mut self, o: &CallStats) {
        self.totals.merge(&o.totals);
        self.latency.add(&o.latency);
    }

    /// The summary row of these calls, for `role` and `kind`.
    pub fn summary(&self, role: Role, kind: SyscallKind) -> SyscallSummary {
        let l = self.latency.summary();
        let s = &self.totals;
        let counted = s.calls > 0 && s.counted == s.calls;
        let per_1000 = |n: u64| {
            if s.calls > 0 {
                n as f64 * 1000.0 / s.calls as f64
            } else {
                0.0
            }
        };
        SyscallSummary {
            role,
            process: None,
            syscall: kind.name(),
            calls: s.calls,
            errors: s.errors,
            bytes: s.bytes,
            p50_ns: l.p50,
            p99_ns: l.p99,
            oncpu_ns_per_kib: (s.bytes > 0).then(|| s.oncpu_ns() as f64 * 1024.0 / s.bytes as f64),
            oncpu_ns: s.oncpu_ns(),
            offcpu_ns: s.offcpu_ns,
            offcpu_by_reason: Reason::ALL
                .iter()
                .map(|r| {
                    let ns = s
                        .offcpu_reason_ns
                        .get(*r as usize)
                        .copied()
                        .unwrap_or_else(|| {
                            s.offcpu_ns
                                .saturating_sub(s.offcpu_reason_ns.iter().sum::<u64>())
                        });
                    (r.name(), ns)
                })
                .collect(),
            cycles: counted.then_some(s.cycles),
            instructions: counted.then_some(s.instructions),
            cycles_per_byte: (counted && s.bytes > 0).then(|| s.cycles as f64 / s.bytes as f64),
            exact_ns: (s.calls > 0 && s.exact_calls == s.calls)
                .then(|| TIMED.iter().map(|t| t.function).zip(s.exact_ns).collect()),
            bracket_ns: (s.calls > 0 && s.bracket_calls == s.calls).then(|| {
                let ns = [s.rx_softirq_ns, s.tx_softirq_ns, s.dev_xmit_ns];
                brackets::STAGES
                    .iter()
                    .map(|(_, stage)| stage.name())
                    .zip(ns)
                    .collect()
            }),
            cs_per_1000_calls: per_1000(s.voluntary_cs + s.involuntary_cs),
            voluntary_cs: s.voluntary_cs,
            involuntary_cs: s.involuntary_cs,
            skbs_built: s.skbs_built,
            skbs_tx: s.skbs_tx,
            skbs_rx: s.skbs_rx,
            bytes_to_user: s.bytes_to_user,
            zerocopy_calls: s.zerocopy,
            errqueue_calls: s.errqueue,
        }
    }
}

/// Everything the records said, by (tid, kind).
#[derive(Default)]
pub struct Collected {
    pub by_thread: ByThread,
    /// The process of every thread seen, named when first seen (`procs`).
    pub processes: Processes,
    /// Records whose bytes did not form a record (never expected; counted, not hidden).
    pub malformed: u64,
    /// Records received (rows of syscalls.parquet).
    pub rows: u64,
    /// `--records tail`: the records are the tail's rows only; the statistics come from the
    /// kernel's totals ([`Self::add_aggregates`]), so records are not counted into them.
    pub rows_only: bool,
}

impl Collected {
    /// Count one record into its thread's statistics, unless `folded` elsewhere; `None`
    /// when its kind is unknown. Records are passed by reference from here on: at a million
    /// a second, each copy of one showed in the collector's profile.
    fn add(&mut self, r: &SyscallRecord, folded: bool) -> Option<SyscallKind> {
        let Some(kind) = SyscallKind::from_u8(r.kind) else {
            self.malformed += 1;
            return None;
        };
        self.rows += 1;
        if !self.rows_only && !folded && fold(&mut self.by_thread, r, kind) {
            self.processes.see(r.tid, Some(r.tgid));
        }
        Some(kind)
    }

    /// Add the kernel's `--aggregate` totals. Latency comes from log2 buckets: each call is
    /// counted at its bucket's geometric middle, so percentiles are good to a factor of √2.
    pub fn add_aggregates(&mut self, aggs: &[(AggKey, Aggregate)]) {
        for (key, a) in aggs {
            let Some(kind) = SyscallKind::from_u8(key.kind) else {
                self.malformed += 1;
                continue;
            };
            self.processes.see(key.tid, None);
            let s = self.by_thread.entry((key.tid, kind)).or_default();
            s.totals.merge(a);
            for (bucket, n) in a.hist.iter().enumerate() {
                let middle = ((1u64 << bucket) as f64 * std::f64::consts::SQRT_2) as u64;
                s.latency.record_n(middle, *n);
            }
        }
    }

    /// Calls of `tid` of `kind` seen in records.
    pub fn calls(&self, tid: u32, kind: SyscallKind) -> u64 {
        self.by_thread
            .get(&(tid, kind))
            .map_or(0, |s| s.totals.calls)
    }

    /// Context switches out of `tid`'s calls, every kind.
    pub fn switches(&self, tid: u32) -> crate::model::Switches {
        let mut in_calls = crate::model::Switches::default();
        for kind in SyscallKind::ALL {
            if let Some(s) = self.by_thread.get(&(tid, kind)) {
                in_calls.voluntary += s.totals.voluntary_cs;
                in_calls.involuntary += s.totals.involuntary_cs;
            }
        }
        in_calls
    }

    /// Per-(role, process, kind) rows for the roles in `keep`: a row per traced program's
    /// process and syscall, for `trace --pid/--comm/--cgroup`.
    pub fn summarize_processes(&self, roles: &Roles, keep: &[Role]) -> Vec<SyscallSummary> {
        let mut totals: BTreeMap<(Role, Process, SyscallKind), CallStats> = BTreeMap::new();
        for ((tid, kind), stats) in &self.by_thread {
            let role = roles.of(*tid);
            if keep.contains(&role) {
                let process = self.processes.of(*tid);
                totals
                    .entry((role, process, *kind))
                    .or_default()
                    .merge(stats);
            }
        }
        totals
            .into_iter()
            .map(|((role, process, kind), total)| SyscallSummary {
                process: Some(process),
                ..total.summary(role, kind)
            })
            .collect()
    }

    /// Per-(role, kind) rows for the roles in `keep`, of the kinds that had calls.
    pub fn summarize(&self, roles: &Roles, keep: &[Role]) -> Vec<SyscallSummary> {
        let mut totals: BTreeMap<(Role, SyscallKind), CallStats> = BTreeMap::new();
        for ((tid, kind), stats) in &self.by_thread {
            let role = roles.of(*tid);
            if keep.contains(&role) {
                totals.entry((role, *kind)).or_default().merge(stats);
            }
        }
        totals
            .iter()
            .map(|((role, kind), total)| total.summary(*role, *kind))
            .collect()
    }
}

/// The reader thread; [`Collector::finish`] stops it after a final drain.
pub struct Collector {
    done: Arc<AtomicBool>,
    tail: Arc<std::sync::Mutex<Vec<SyscallRecord>>>,
    handle: thread::JoinHandle<Result<Collected, CollectError>>,
}

impl Collector {
    /// Start reading; every record also goes to `writer`, if given, with its thread's role
    /// in `roles`. With `rows_only` the records are only rows (see [`Collected::rows_only`]).
    pub fn start(
        records: RingBuf<MapData>,
        writer: Option<Box<dyn RecordWriter>>,
        roles: Roles,
        rows_only: bool,
    ) -> Result<Self, CollectError> {
        let done = Arc::new(AtomicBool::new(false));
        let tail = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, staged) = (done.clone(), tail.clone());
        let sink = Sink {
            collected: Collected {
                rows_only,
                ..Collected::default()
            },
            writer_folds: writer.as_ref().is_some_and(|w| w.folds()),
            writer,
            roles,
            seen: HashMap::new(),
            last: None,
        };
        let handle = thread::Builder::new()
            .name("nc-collect".into())
            .spawn(move || read_all(records, sink, &flag, &staged))?;
        Ok(Self { done, tail, handle })
    }

    /// Stop after draining what the kernel has written so far, then take `staged`: the
    /// records still in the per-CPU batches (see [`crate::probes::Probes::staged`]).
    pub fn finish(self, staged: Vec<SyscallRecord>) -> Result<Collected, CollectError> {
        if let Ok(mut tail) = self.tail.lock() {
            *tail = staged;
        }
        self.done.store(true, Ordering::Release);
        self.handle.join().map_err(|_| CollectError::Panicked)?
    }
}

/// Where each record goes: the statistics, and the table if one is written.
struct Sink {
    collected: Collected,
    writer: Option<Box<dyn RecordWriter>>,
    /// The writer folds the records into the statistics (see [`RecordWriter::folds`]).
    writer_folds: bool,
    roles: Roles,
    /// Roles already looked up, by tid.
    seen: HashMap<u32, Role>,
    /// The latest record's thread and role.
    last: Option<(u32, Role)>,
}

impl Sink {
    /// One ring buffer item: a [`StagedRecords`](netcopy_common::batch::StagedRecords)
    /// batch. A batch that is not one counts as malformed once, after the records before
    /// its fault.
    fn take(&mut self, bytes: &[u8]) -> Result<(), CollectError> {
        let mut failed = Ok(());
        let batch = batch_records(bytes, |r| {
            if failed.is_ok() {
                failed = self.write(r);
            }
        });
        if batch.is_err() {
            self.collected.malformed += 1;
        }
        failed
    }

    /// Count `r` into the statistics (or leave that to a writer that folds), and give it
    /// to the writer.
    fn write(&mut self, r: &SyscallRecord) -> Result<(), CollectError> {
        if let Some(kind) = self.collected.add(r, self.writer_folds)
            && let Some(w) = self.writer.as_mut()
        {
            // A batch comes from one CPU, mostly one thread: ask the map only on a change.
            let role = match self.last {
                Some((tid, role)) if tid == r.tid => role,
                _ => {
                    let role = match self.seen.entry(r.tid) {
                        std::collections::hash_map::Entry::Occupied(e) => *e.get(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            // The thread's first record: name its process while it lives.
                            if !self.collected.rows_only {
                                self.collected.processes.see(r.tid, Some(r.tgid));
                            }
                            *e.insert(self.roles.of(r.tid))
                        }
                    };
                    self.last = Some((r.tid, role));
                    role
                }
            };
            w.push(r, kind, role).map_err(CollectError::Writer)?;
        }
        Ok(())
    }

    fn drain(&mut self, rb: &mut RingBuf<MapData>) -> Result<(), CollectError> {
        while let Some(item) = rb.next() {
            self.take(&item)?;
        }
        Ok(())
    }
}

/// How long the reader waits for a wake-up before it drains the ring anyway.
const POLL: std::time::Duration = std::time::Duration::from_millis(5);

fn read_all(
    records: RingBuf<MapData>,
    mut sink: Sink,
    done: &AtomicBool,
    staged: &std::sync::Mutex<Vec<SyscallRecord>>,
) -> Result<Collected, CollectError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // SAFETY: the ring buffer owns its map fd, which stays open as long as `fd` lives.
        let mut fd = unsafe { AsyncFd::register_with_interest(records, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        loop {
            let finishing = done.load(Ordering::Acquire);
            // The programs wake us only when the ring fills past an eighth (see
            // `wakeup_flag` in netcopy-ebpf/src/records.rs), so drain every few milliseconds
            // anyway: records arrive in batches, and the ring (16 MiB) never gets close to
            // full between two drains.
            match tokio::time::timeout(POLL, fd.readable_mut()).await {
                Ok(guard) => {
                    let mut guard = guard?;
                    sink.drain(guard.get_inner_mut())?;
                    guard.clear_ready();
                }
                Err(_) => sink.drain(fd.get_mut())?,
            }
            if finishing {
                // One last drain: records written before the stop are all read, then the
                // ones still waiting in the per-CPU batches.
                sink.drain(fd.get_mut())?;
                let tail = std::mem::take(&mut *staged.lock().map_err(|_| CollectError::Panicked)?);
                for r in &tail {
                    sink.write(r)?;
                }
                if let Some(w) = sink.writer.take() {
                    let folded = w.close().map_err(CollectError::Writer)?;
                    if let Some(by_thread) = folded
                        && !sink.collected.rows_only
                    {
                        sink.collected.by_thread = by_thread;
                    }
                }
                return Ok(sink.collected);
            }
        }
    })
}
