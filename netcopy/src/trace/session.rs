//! One trace's probes and record reader: load and attach (saying once what fell back),
//! start the collector, and at the end stop counting, take every record and read the
//! samples back.

use super::{TraceError, TraceOptions};
use crate::{
    collect::{
        kallsyms::Kallsyms,
        offcpu::{self, OffcpuStack},
        records::{Collected, Collector, RecordWriter},
        requests::{RequestReader, RequestWriter, RequestsRead},
        samples::{Sampled, aggregate},
    },
    model::RunMeta,
    probes::{
        Probes,
        attach::{Intent, Wanted},
        counters,
        sample::DEFAULT_HZ,
    },
    sink::{runs, syscalls::SyscallsWriter, uring::UringWriter},
    workload::watch::Roles,
};

/// Probes attached and the record reader running.
pub struct Session {
    pub probes: Probes,
    collector: Option<Collector>,
    requests: Option<RequestReader>,
    /// How the probes were attached, for runs.parquet.
    pub meta: RunMeta,
    /// When the records started, if they go to syscalls.parquet.
    noted_table: Option<std::time::Instant>,
}

/// A trace longer than this says that it is writing its tables: at the highest call rate
/// the rows spooled behind the workload take seconds to encode after it (sink::spool), and
/// a long syscalls.parquet has parts to join, about 3 s per minute traced (29 s after a
/// 10-minute soak).
const SAY_WRITING_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

/// What the records said once the trace ended.
pub struct Ended {
    pub collected: Collected,
    /// Records the ring buffer had no room for, and any that did not decode.
    pub lost: u64,
    /// The io_uring send requests read from their events (uring.parquet's rows).
    pub requests: RequestsRead,
}

/// The sampling period in ns of `hz` (the default rate's when not sampling).
pub fn period_ns(hz: Option<u64>) -> u64 {
    1_000_000_000 / hz.unwrap_or(DEFAULT_HZ).max(1)
}

impl Session {
    /// Load, attach (saying once what fell back unless `quiet`), and start reading records;
    /// `roles` names each thread's role in syscalls.parquet.
    pub fn start(opts: &TraceOptions, roles: &Roles) -> Result<Self, TraceError> {
        // Where kallsyms cannot be read the load below fails on privileges anyway.
        let waits = Kallsyms::load()
            .map(|k| k.wait_ranges())
            .unwrap_or_default();
        let mut probes = Probes::load(opts.ring_bytes, &waits)?;
        probes.set_aggregate(opts.aggregate)?;
        if let Some(t) = opts.tail {
            probes.set_tail(t.slow_ns, t.every)?;
        }
        let wanted = Wanted {
            counters: counters::wanted(),
            sample_hz: opts.sample_hz,
        };
        let attached = probes.attach(Intent::Trace, &wanted)?;
        let fallbacks = attached.fallbacks();
        if !opts.quiet && !fallbacks.is_empty() {
            eprintln!("netcopy: fallbacks: {}", fallbacks.join("; "));
        }
        let mut meta = runs::meta_here(attached.methods(), opts.sample_hz.map(|hz| hz as u32));
        meta.counters = attached.counters;
        meta.fallbacks = fallbacks;
        // No per-call records, so no per-call table, when the kernel aggregates.
        let writer: Option<Box<dyn RecordWriter>> = match &opts.out {
            Some(dir) if !opts.aggregate => {
                Some(Box::new(SyscallsWriter::create(dir, opts.encoding)?))
            }
            _ => None,
        };
        let collector = Collector::start(
            probes.take_records()?,
            writer,
            roles.clone(),
            opts.tail.is_some(),
        )?;
        let uring: Option<Box<dyn RequestWriter>> = match &opts.out {
            Some(dir) => Some(Box::new(UringWriter::create(dir)?)),
            None => None,
        };
        let requests = RequestReader::start(probes.take_uring_events()?, uring, roles.clone())?;
        // Not tied to `quiet`, which only keeps the fallbacks line for the summary: the CLI
        // always sets it, and a long trace would end in silence.
        let noted_table = (opts.out.is_some() && !opts.aggregate).then(std::time::Instant::now);
        Ok(Self {
            probes,
            collector: Some(collector),
            requests: Some(requests),
            meta,
            noted_table,
        })
    }

    /// End the records: pause counting, let the collector drain the ring buffer and take
    /// the records left in the per-CPU batches, and add the kernel's aggregates.
    pub fn finish(&mut self) -> Result<Ended, TraceError> {
        self.probes.pause()?;
        let staged = self.probes.staged()?;
        if self
            .noted_table
            .is_some_and(|t| t.elapsed() >= SAY_WRITING_AFTER)
        {
            eprintln!(
                "netcopy: writing the tables (syscalls.parquet's rows were spooled during the \
                 trace and are encoded now; a long one is joined from parts)"
            );
        }
        let mut collected = match self.collector.take() {
            Some(c) => c.finish(staged)?,
            None => Collected::default(),
        };
        collected.add_aggregates(&self.probes.aggregates()?);
        let lost = self.probes.lost()? + collected.malformed;
        let requests = match self.requests.take() {
            Some(r) => r.finish()?,
            None => RequestsRead::default(),
        };
        Ok(Ended {
            collected,
            lost,
            requests,
        })
    }

    /// The switch-out stacks of the traced calls with their time out, symbolized.
    pub fn offcpu_stacks(&self, roles: &Roles) -> Result<Vec<OffcpuStack>, TraceError> {
        let read = self.probes.offcpu()?;
        if read.times.is_empty() {
            return Ok(Vec::new());
        }
        let syms = Kallsyms::load()?;
        Ok(offcpu::fold(&read.times, &read.stacks, &syms, roles))
    }

    /// The sampled stacks, symbolized and classified, when sampling ran.
    pub fn sampled(&self, hz: Option<u64>, roles: &Roles) -> Result<Option<Sampled>, TraceError> {
        if hz.is_none() {
            return Ok(None);
        }
        let syms = Kallsyms::load()?;
        let samples = self.probes.samples()?;
        Ok(Some(aggregate(
            &samples,
            |id| self.probes.stack(id),
            &syms,
            roles,
        )?))
    }
}
