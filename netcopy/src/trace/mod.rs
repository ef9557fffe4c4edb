//! `netcopy trace`: run the built-in workload with the probes attached, fold the per-call
//! records into statistics, and check them against what the workload counted itself.

use std::collections::BTreeMap;

use netcopy_common::exact::FUNCTIONS;

use serde::Serialize;
use thiserror::Error;

pub mod external;

pub use crate::collect::roles::Role;
use crate::{
    collect::{
        kallsyms::{Kallsyms, KallsymsError},
        records::{CallStats, CollectError, Collected, Collector},
        samples::{Sampled, aggregate},
        stages::StageTable,
    },
    probes::{ProbeError, Probes, counters::Source, plan},
    report::summary::RunSummary,
    sink::{
        RunDir, SinkError,
        runs::{self, RunMeta},
        stages,
        syscalls::SyscallsWriter,
        zerocopy::ZerocopyRecorder,
    },
    workload::{
        client::ClientConfig,
        conn::{CallCounts, Stop},
        run::{NetPath, RunError, run_logged},
        stats::Switches,
    },
};
use netcopy_common::syscalls::SyscallKind;

#[derive(Debug, Error)]
pub enum TraceError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Kallsyms(#[from] KallsymsError),
    #[error("{0}")]
    Target(String),
}

/// One thread and syscall kind: the workload's count, the kernel's exact total, and the
/// records that reached user space.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadCheck {
    pub tid: u32,
    pub role: Role,
    pub syscall: &'static str,
    pub workload: u64,
    pub kernel: u64,
    pub records: u64,
}

/// One thread's context switches: inside traced calls (eBPF) and over its whole life
/// (getrusage, the kernel's own counters). Switches outside the traced calls (in poll,
/// connect, thread start and exit, or preemption in user code) make the second larger.
#[derive(Clone, Debug, Serialize)]
pub struct SwitchCheck {
    pub tid: u32,
    pub role: Role,
    pub in_calls: Switches,
    pub thread: Switches,
}

/// What the probes counted, beside what the workload counted itself.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeCheck {
    /// The attach methods used, as `hook=method` pairs.
    pub method: String,
    /// Records the ring buffer had no room for.
    pub lost: u64,
    /// What fell back and why; shown once in the summary and saved in runs.parquet.
    pub fallbacks: Vec<String>,
    pub threads: Vec<ThreadCheck>,
    pub switches: Vec<SwitchCheck>,
}

impl ProbeCheck {
    /// Kernel totals equal the workload's counts, and, when nothing was lost, so do records.
    pub fn agrees(&self) -> bool {
        self.threads
            .iter()
            .all(|t| t.kernel == t.workload && (self.lost > 0 || t.records == t.kernel))
    }
}

/// Per role and syscall kind, what the kernel saw.
#[derive(Clone, Debug, Serialize)]
pub struct SyscallSummary {
    pub role: Role,
    pub syscall: &'static str,
    pub calls: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Kernel time per call (entry to exit), from the records.
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    /// On-CPU ns (wall minus switched-out time) per KiB moved; null when no bytes moved.
    pub oncpu_ns_per_kib: Option<f64>,
    /// Wall minus switched-out time, summed over the calls.
    pub oncpu_ns: u64,
    pub offcpu_ns: u64,
    /// Counter totals over the calls; null unless every call's counters were read.
    pub cycles: Option<u64>,
    pub instructions: Option<u64>,
    /// Cycles per byte moved; null without counters or bytes.
    pub cycles_per_byte: Option<f64>,
    /// Exact tier: ns inside each timed kernel function, summed over the calls; null unless
    /// fentry/fexit timed every call.
    pub exact_ns: Option<BTreeMap<&'static str, u64>>,
    /// Voluntary + involuntary switches out of these calls per 1000 calls.
    pub cs_per_1000_calls: f64,
    pub voluntary_cs: u64,
    pub involuntary_cs: u64,
    pub skbs_built: u64,
    pub skbs_tx: u64,
    pub skbs_rx: u64,
    pub bytes_to_user: u64,
    pub zerocopy_calls: u64,
    pub errqueue_calls: u64,
}

impl SyscallSummary {
    pub fn new(role: Role, kind: SyscallKind, stats: &CallStats) -> Self {
        let l = stats.latency.summary();
        let s = &stats.totals;
        let counted = s.calls > 0 && s.counted == s.calls;
        Self {
            role,
            syscall: kind.name(),
            calls: s.calls,
            errors: s.errors,
            bytes: s.bytes,
            p50_ns: l.p50,
            p99_ns: l.p99,
            oncpu_ns_per_kib: (s.bytes > 0).then(|| s.oncpu_ns() as f64 * 1024.0 / s.bytes as f64),
            oncpu_ns: s.oncpu_ns(),
            offcpu_ns: s.offcpu_ns,
            cycles: counted.then_some(s.cycles),
            instructions: counted.then_some(s.instructions),
            cycles_per_byte: (counted && s.bytes > 0).then(|| s.cycles as f64 / s.bytes as f64),
            exact_ns: (s.calls > 0 && s.exact_calls == s.calls)
                .then(|| FUNCTIONS.iter().copied().zip(s.exact_ns).collect()),
            cs_per_1000_calls: if s.calls > 0 {
                (s.voluntary_cs + s.involuntary_cs) as f64 * 1000.0 / s.calls as f64
            } else {
                0.0
            },
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

/// Probes loaded and attached per the plan, and the record reader running.
struct Session {
    probes: Probes,
    collector: Collector,
    meta: RunMeta,
}

impl Session {
    /// Load, plan (saying once what fell back), attach, and start reading records.
    fn start(opts: &TraceOptions) -> Result<Self, TraceError> {
        let mut probes = Probes::load_with(opts.ring_bytes)?;
        probes.set_aggregate(opts.aggregate)?;
        let raw_syscalls = probes.attach_syscalls()?;
        let probed = plan::Probed {
            raw_syscalls,
            fentry: probes.attach_exact()?,
            sched_btf: probes.attach_sched()?,
            counters: probes.attach_counters(Source::wanted())?,
        };
        let plan = plan::plan(&plan::Features::detect(), &probed);
        if let Some(line) = plan::skipped_line(&plan).filter(|_| !opts.quiet) {
            eprintln!("{line}");
        }
        let mut fallbacks = plan::fallbacks(&plan);
        if probes.mounted_tracefs {
            fallbacks.insert(0, crate::probes::MOUNTED_TRACEFS.to_owned());
        }
        if let Some(hz) = opts.sample_hz {
            probes.attach_sampling(hz)?;
        }
        let mut meta = RunMeta::here(plan::methods(&plan), opts.sample_hz.map(|hz| hz as u32));
        meta.counters = probed.counters.ok();
        meta.fallbacks = fallbacks;
        // No per-call records, so no per-call table, when the kernel aggregates.
        let writer = match &opts.out {
            Some(dir) if !opts.aggregate => Some(SyscallsWriter::create(dir)?),
            _ => None,
        };
        let collector = Collector::start(probes.take_records()?, writer)?;
        Ok(Self {
            probes,
            collector,
            meta,
        })
    }
}

/// End the records: pause counting, then let the collector drain the ring buffer and take
/// the records left in the per-CPU batches.
fn stop_collecting(probes: &mut Probes, collector: Collector) -> Result<Collected, TraceError> {
    probes.pause()?;
    Ok(collector.finish(probes.staged()?)?)
}

/// The sampled stacks, symbolized and classified, when sampling ran.
fn sample_report(
    probes: &Probes,
    sampling: Option<u64>,
    role_of: &impl Fn(u32) -> Role,
) -> Result<Option<Sampled>, TraceError> {
    if sampling.is_none() {
        return Ok(None);
    }
    let syms = Kallsyms::load()?;
    let samples = probes.samples()?;
    Ok(Some(aggregate(
        &samples,
        |id| probes.stack(id),
        &syms,
        role_of,
    )?))
}

/// How to trace.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// Where the tables go; none are written without it.
    pub out: Option<RunDir>,
    /// Stack sampling frequency per CPU; no stage breakdown without it.
    pub sample_hz: Option<u64>,
    /// Fold calls into per-thread totals in the kernel instead of per-call records.
    pub aggregate: bool,
    /// Do not print the line naming the fallbacks on stderr at the start: the summary shows
    /// them (`ProbeCheck::fallbacks`), and a sweep says them once, not per cell.
    pub quiet: bool,
    /// Size of the per-call record ring buffer, bytes; the object's default without it.
    pub ring_bytes: Option<u32>,
}

/// One role's time in one stage, summed over syscall kinds.
#[derive(Clone, Debug, Serialize)]
pub struct StageRow {
    pub role: Role,
    pub stage: &'static str,
    pub samples: u64,
    /// samples × sampling period.
    pub est_ns: u64,
    /// Of the role's samples inside traced calls.
    pub share: f64,
}

fn stage_rows(sampled: &Sampled, period_ns: u64) -> Vec<StageRow> {
    let mut rows = Vec::new();
    for role in [Role::Server, Role::Client, Role::Other] {
        let mut table = StageTable::default();
        for b in sampled.breakdowns.iter().filter(|b| b.role == role) {
            table.merge(&b.table);
        }
        rows.extend(table.iter().map(|(stage, samples)| StageRow {
            role,
            stage: stage.name(),
            samples,
            est_ns: table.est_ns(stage, period_ns),
            share: table.share(stage),
        }));
    }
    rows
}

/// The workload's own count of the calls the kernel files under `kind`.
fn workload_calls(c: &CallCounts, kind: SyscallKind) -> u64 {
    match kind {
        SyscallKind::Sendto => c.sendto,
        SyscallKind::Sendmsg => c.sendmsg,
        SyscallKind::Recvfrom => c.recvfrom,
        // Completion reads are recvmsg(MSG_ERRQUEUE) calls.
        SyscallKind::Recvmsg => c.recvmsg + c.errqueue,
        // The workload never uses these on its sockets.
        SyscallKind::Write | SyscallKind::Read | SyscallKind::Writev | SyscallKind::Readv => 0,
    }
}

/// Attach the probes to this process, run the workload, and return its summary with the
/// kernel's view beside the workload's. With `out`, the tables are written there.
pub fn trace(
    cfg: &ClientConfig,
    path: NetPath,
    opts: &TraceOptions,
    stop: &Stop,
) -> Result<RunSummary, TraceError> {
    let zerocopy = cfg.mode == crate::workload::Mode::Zerocopy;
    trace_outcome(opts, zerocopy, |log| run_logged(cfg, path, stop, log))
}

/// Trace this process while `work` runs one or both ends of a run (handing it the zerocopy
/// completion log when `log_completions` and tables are written; a server that learns the
/// mode from the client's hello logs, and the empty table goes), then check and write
/// what the probes saw. `netcopy trace` runs both ends; `serve --trace` and
/// `client --trace` one each, on different hosts.
pub fn trace_outcome(
    opts: &TraceOptions,
    log_completions: bool,
    work: impl FnOnce(
        Option<crate::workload::zerocopy::CompletionLog>,
    ) -> Result<crate::workload::run::RunOutcome, RunError>,
) -> Result<RunSummary, TraceError> {
    let out = opts.out.as_ref();
    let Session {
        mut probes,
        collector,
        meta,
    } = Session::start(opts)?;
    let sampling = opts.sample_hz;
    let (log, recorder) = match out {
        Some(dir) if log_completions => {
            let (log, recorder) = ZerocopyRecorder::start(dir)?;
            (Some(log), Some(recorder))
        }
        _ => (None, None),
    };
    probes.add_target(std::process::id())?;
    let outcome = work(log);
    // Stop the writers even when the run failed, so no thread outlives us.
    let mut collected = stop_collecting(&mut probes, collector)?;
    collected.add_aggregates(&probes.aggregates()?);
    if let Some(recorder) = recorder {
        recorder.finish()?;
    }
    let outcome = outcome?;
    if let (Some(dir), true) = (out, outcome.config.mode != crate::workload::Mode::Zerocopy) {
        // Only a zerocopy run has completions.
        let _ = std::fs::remove_file(dir.table_path("zerocopy"));
    }

    let senders = outcome.served.iter().map(|s| {
        (
            s.report.tid,
            Role::Server,
            s.report.calls,
            s.report.switches,
        )
    });
    let receivers = outcome
        .client
        .receivers
        .iter()
        .map(|r| (r.tid, Role::Client, r.calls, r.switches));
    let mut threads = Vec::new();
    let mut switches = Vec::new();
    for (tid, role, calls, thread) in senders.chain(receivers) {
        let mut in_calls = Switches::default();
        for kind in SyscallKind::ALL {
            if let Some(s) = collected.by_thread.get(&(tid, kind)) {
                in_calls.voluntary += s.totals.voluntary_cs;
                in_calls.involuntary += s.totals.involuntary_cs;
            }
        }
        switches.push(SwitchCheck {
            tid,
            role,
            in_calls,
            thread,
        });
        let kernel = probes.call_counts(tid)?;
        for kind in SyscallKind::ALL {
            threads.push(ThreadCheck {
                tid,
                role,
                syscall: kind.name(),
                workload: workload_calls(&calls, kind),
                kernel: kernel.calls[kind as usize],
                records: collected.calls(tid, kind),
            });
        }
    }
    let lost = probes.lost()? + collected.malformed;
    let role_of = |tid: u32| {
        threads
            .iter()
            .find(|t| t.tid == tid)
            .map_or(Role::Other, |t| t.role)
    };
    let sampled = sample_report(&probes, sampling, &role_of)?;
    let mut summary = RunSummary::new(&outcome);
    let period_ns = sampling.map_or(0, |hz| 1_000_000_000 / hz.max(1));
    summary.stages = sampled.as_ref().map(|s| stage_rows(s, period_ns));
    summary.syscalls = Some(summarize(
        &collected,
        role_of,
        &[Role::Server, Role::Client],
    ));
    summary.probe = Some(ProbeCheck {
        method: meta.attach_methods.clone(),
        lost,
        fallbacks: meta.fallbacks.clone(),
        threads,
        switches,
    });
    if let Some(dir) = out {
        runs::write(dir, &summary, &meta, Some(lost))?;
        if let Some(sampled) = &sampled {
            stages::write(
                dir,
                sampled,
                period_ns,
                summary.syscalls.as_deref().unwrap_or_default(),
            )?;
        }
    }
    Ok(summary)
}

/// Fold per-thread statistics into per-(role, kind) rows, for kinds that had calls.
/// Fold per-thread statistics into per-(role, kind) rows for the `roles` asked for.
fn summarize(
    collected: &Collected,
    role_of: impl Fn(u32) -> Role,
    roles: &[Role],
) -> Vec<SyscallSummary> {
    let mut totals: BTreeMap<(Role, SyscallKind), CallStats> = BTreeMap::new();
    for ((tid, kind), stats) in &collected.by_thread {
        let role = role_of(*tid);
        if roles.contains(&role) {
            totals.entry((role, *kind)).or_default().merge(stats);
        }
    }
    totals
        .iter()
        .map(|((role, kind), total)| SyscallSummary::new(*role, *kind, total))
        .collect()
}
