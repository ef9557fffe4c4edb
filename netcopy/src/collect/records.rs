//! Reading syscall records from the ring buffer and folding them into per-(thread, kind)
//! statistics as they arrive, so memory stays bounded whatever the call rate.
//!
//! The reader runs on its own thread with a small tokio runtime: `AsyncFd` wakes it when the
//! kernel has written records, and it drains the buffer completely after the stop request.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use aya::maps::{MapData, RingBuf};
use netcopy_common::syscalls::{
    AggKey, Aggregate, MSG_ERRQUEUE, MSG_ZEROCOPY, SyscallKind, SyscallRecord,
};
use thiserror::Error;
use tokio::io::{Interest, unix::AsyncFd};

use super::roles::Roles;
use crate::{
    sink::{SinkError, syscalls::SyscallsWriter},
    workload::stats::Latency,
};

#[derive(Debug, Error)]
pub enum CollectError {
    #[error("record reader: {0}")]
    Io(#[from] std::io::Error),
    #[error("the record reader thread panicked")]
    Panicked,
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What the records of one thread and syscall kind add up to.
#[derive(Default)]
pub struct CallStats {
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Sum of the positive return values.
    pub bytes: u64,
    pub wall_ns: u64,
    pub offcpu_ns: u64,
    pub voluntary_cs: u64,
    pub involuntary_cs: u64,
    pub skbs_built: u64,
    pub skbs_tx: u64,
    pub skbs_rx: u64,
    pub bytes_to_user: u64,
    /// Calls with MSG_ERRQUEUE / MSG_ZEROCOPY in their flags.
    pub errqueue: u64,
    pub zerocopy: u64,
    pub latency: Latency,
}

impl CallStats {
    fn add(&mut self, r: &SyscallRecord) {
        self.calls += 1;
        if r.ret < 0 {
            self.errors += 1;
        } else {
            self.bytes += r.ret as u64;
        }
        self.wall_ns += r.wall_ns;
        self.offcpu_ns += r.offcpu_ns;
        self.voluntary_cs += u64::from(r.voluntary_cs);
        self.involuntary_cs += u64::from(r.involuntary_cs);
        self.skbs_built += u64::from(r.skbs_built);
        self.skbs_tx += u64::from(r.skbs_tx);
        self.skbs_rx += u64::from(r.skbs_rx);
        self.bytes_to_user += r.bytes_to_user;
        self.errqueue += u64::from(r.flags & MSG_ERRQUEUE != 0);
        self.zerocopy += u64::from(r.flags & MSG_ZEROCOPY != 0);
        self.latency.record(r.wall_ns);
    }

    pub fn merge(&mut self, o: &CallStats) {
        self.calls += o.calls;
        self.errors += o.errors;
        self.bytes += o.bytes;
        self.wall_ns += o.wall_ns;
        self.offcpu_ns += o.offcpu_ns;
        self.voluntary_cs += o.voluntary_cs;
        self.involuntary_cs += o.involuntary_cs;
        self.skbs_built += o.skbs_built;
        self.skbs_tx += o.skbs_tx;
        self.skbs_rx += o.skbs_rx;
        self.bytes_to_user += o.bytes_to_user;
        self.errqueue += o.errqueue;
        self.zerocopy += o.zerocopy;
        self.latency.add(&o.latency);
    }

    /// On-CPU time: wall time minus time switched out.
    pub fn oncpu_ns(&self) -> u64 {
        self.wall_ns.saturating_sub(self.offcpu_ns)
    }
}

/// Everything the records said, by (tid, kind).
#[derive(Default)]
pub struct Collected {
    pub by_thread: BTreeMap<(u32, SyscallKind), CallStats>,
    /// Records whose bytes did not form a record (never expected; counted, not hidden).
    pub malformed: u64,
}

impl Collected {
    /// Decode one ring-buffer item; `None` (and a count) for bytes that are not a record.
    fn decode(&mut self, bytes: &[u8]) -> Option<(SyscallRecord, SyscallKind)> {
        if bytes.len() < std::mem::size_of::<SyscallRecord>() {
            self.malformed += 1;
            return None;
        }
        // SAFETY: the length was checked; SyscallRecord is plain data valid for any bytes.
        let r: SyscallRecord = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
        let Some(kind) = SyscallKind::from_u8(r.kind) else {
            self.malformed += 1;
            return None;
        };
        self.by_thread.entry((r.tid, kind)).or_default().add(&r);
        Some((r, kind))
    }

    /// Add the kernel's `--aggregate` totals. Latency comes from log2 buckets: each call is
    /// counted at its bucket's geometric middle, so percentiles are good to a factor of √2.
    pub fn add_aggregates(&mut self, aggs: &[(AggKey, Aggregate)]) {
        for (key, a) in aggs {
            let Some(kind) = SyscallKind::from_u8(key.kind) else {
                self.malformed += 1;
                continue;
            };
            let s = self.by_thread.entry((key.tid, kind)).or_default();
            s.calls += a.calls;
            s.errors += a.errors;
            s.bytes += a.bytes;
            s.wall_ns += a.wall_ns;
            s.offcpu_ns += a.offcpu_ns;
            s.voluntary_cs += a.voluntary_cs;
            s.involuntary_cs += a.involuntary_cs;
            s.skbs_built += a.skbs_built;
            s.skbs_tx += a.skbs_tx;
            s.skbs_rx += a.skbs_rx;
            s.bytes_to_user += a.bytes_to_user;
            s.zerocopy += a.zerocopy;
            s.errqueue += a.errqueue;
            for (bucket, n) in a.hist.iter().enumerate() {
                let middle = ((1u64 << bucket) as f64 * std::f64::consts::SQRT_2) as u64;
                s.latency.record_n(middle, *n);
            }
        }
    }

    /// Calls of `tid` of `kind` seen in records.
    pub fn calls(&self, tid: u32, kind: SyscallKind) -> u64 {
        self.by_thread.get(&(tid, kind)).map_or(0, |s| s.calls)
    }
}

/// The reader thread; [`Collector::finish`] stops it after a final drain.
pub struct Collector {
    done: Arc<AtomicBool>,
    handle: thread::JoinHandle<Result<Collected, CollectError>>,
}

impl Collector {
    /// Start reading; every record also becomes a row of `writer`, if given.
    pub fn start(
        records: RingBuf<MapData>,
        writer: Option<SyscallsWriter>,
    ) -> Result<Self, CollectError> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let handle = thread::Builder::new()
            .name("nc-collect".into())
            .spawn(move || read_all(records, writer, &flag))?;
        Ok(Self { done, handle })
    }

    /// Stop after draining what the kernel has written so far.
    pub fn finish(self) -> Result<Collected, CollectError> {
        self.done.store(true, Ordering::Release);
        self.handle.join().map_err(|_| CollectError::Panicked)?
    }
}

/// Where each record goes: the statistics, and the table if one is written.
struct Sink {
    collected: Collected,
    writer: Option<SyscallsWriter>,
    roles: Roles,
}

impl Sink {
    fn take(&mut self, bytes: &[u8]) -> Result<(), CollectError> {
        if let Some((r, kind)) = self.collected.decode(bytes)
            && let Some(w) = self.writer.as_mut()
        {
            w.push(&r, kind, self.roles.of(r.tgid, r.tid).name())?;
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

fn read_all(
    records: RingBuf<MapData>,
    writer: Option<SyscallsWriter>,
    done: &AtomicBool,
) -> Result<Collected, CollectError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // SAFETY: the ring buffer owns its map fd, which stays open as long as `fd` lives.
        let mut fd = unsafe { AsyncFd::register_with_interest(records, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        let mut sink = Sink {
            collected: Collected::default(),
            writer,
            roles: Roles::default(),
        };
        loop {
            let finishing = done.load(Ordering::Acquire);
            // Wake on new records, or every 50 ms to look at the stop flag.
            if let Ok(guard) =
                tokio::time::timeout(std::time::Duration::from_millis(50), fd.readable_mut()).await
            {
                let mut guard = guard?;
                sink.drain(guard.get_inner_mut())?;
                guard.clear_ready();
            }
            if finishing {
                // One last drain: records written before the stop are all read.
                sink.drain(fd.get_mut())?;
                if let Some(w) = sink.writer.take() {
                    w.close()?;
                }
                return Ok(sink.collected);
            }
        }
    })
}
