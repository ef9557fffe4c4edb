//! The trace session, on top of the data path: attach the probes (`session`), run the
//! built-in workload or watch other programs (`external`), fold the records, check them
//! against what the workload counted itself (`check`), and write the tables.

mod check;
pub mod external;
pub mod live;
mod session;

use thiserror::Error;

use self::session::Session;
use crate::{
    collect::{kallsyms::KallsymsError, records::CollectError},
    model::{Mode, NetPath, Role, RunMeta, RunSummary},
    probes::ProbeError,
    sink::{RunDir, SinkError, behind::Level, runs, stages, zerocopy::ZerocopyRecorder},
    workload::{
        client::ClientConfig,
        conn::Stop,
        run::{RunError, RunOutcome, run_watched},
        watch::Watch,
    },
};

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

impl TraceError {
    /// Bad input or setup the user can fix, as opposed to a failure.
    pub fn is_usage(&self) -> bool {
        match self {
            TraceError::Probe(e) => e.is_usage(),
            TraceError::Run(e) => e.is_usage(),
            TraceError::Sink(e) => e.is_usage(),
            TraceError::Target(_) => true,
            TraceError::Collect(_) | TraceError::Kallsyms(_) => false,
        }
    }
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
    /// `--records tail`: totals in the kernel, rows for the tail only.
    pub tail: Option<Tail>,
    /// Where syscalls.parquet's rows are encoded while the trace runs (see
    /// [`Level::beside`]): idle time unless the caller knows its workload leaves no CPU
    /// spare.
    pub encoding: Level,
}

/// Which calls `--records tail` keeps a row for, beside the exact totals: every call that
/// failed or left the CPU, and those that took `slow_ns` or more (0: none) or are the
/// `every`th of their thread and kind (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    pub slow_ns: u32,
    pub every: u32,
}

/// Attach the probes to this process, run the workload, and return its summary with the
/// kernel's view beside the workload's. With `out`, the tables are written there.
pub fn trace(
    cfg: &ClientConfig,
    path: NetPath,
    opts: &TraceOptions,
    stop: &Stop,
) -> Result<RunSummary, TraceError> {
    let zerocopy = cfg.mode == Mode::Zerocopy;
    // Both ends of every connection run here, each thread busy but for short waits.
    let opts = &TraceOptions {
        encoding: Level::beside(2 * cfg.threads as usize, cfg.affinity.pinned_cpus()),
        ..opts.clone()
    };
    trace_outcome(opts, zerocopy, |watch| run_watched(cfg, path, stop, watch))
}

/// Trace this process while `work` runs one or both ends of a run, watched: its threads
/// register their roles (one answer for the summary, syscalls.parquet and the stage tables)
/// and, when `log_completions` and tables are written, hand over their zerocopy
/// completions (a server that learns the mode from the client's hello logs, and the empty
/// table goes). Then check and write what the probes saw. `netcopy trace` runs both ends;
/// `serve --trace` and `client --trace` one each, on different hosts.
pub fn trace_outcome(
    opts: &TraceOptions,
    log_completions: bool,
    work: impl FnOnce(&Watch) -> Result<RunOutcome, RunError>,
) -> Result<RunSummary, TraceError> {
    let mut watch = Watch::default();
    let mut session = Session::start(opts, &watch.roles)?;
    let recorder = match &opts.out {
        Some(dir) if log_completions => {
            let (log, recorder) = ZerocopyRecorder::start(dir)?;
            watch.completions = Some(log);
            Some(recorder)
        }
        _ => None,
    };
    session.probes.add_target(std::process::id())?;
    let outcome = work(&watch);
    // The recorder ends when the last sender of the log is gone.
    watch.completions = None;
    // Stop the writers even when the run failed, so no thread outlives us.
    let ended = session.finish()?;
    if let Some(recorder) = recorder {
        recorder.finish()?;
    }
    let outcome = outcome?;
    if let (Some(dir), true) = (&opts.out, outcome.config.mode != Mode::Zerocopy) {
        // Only a zerocopy run has completions.
        let _ = std::fs::remove_file(dir.table_path("zerocopy"));
    }
    if let (Some(dir), true) = (&opts.out, ended.requests.rows.is_empty()) {
        // Only a run with io_uring sends has request rows.
        let _ = std::fs::remove_file(dir.table_path(crate::sink::uring::TABLE));
    }
    let roles = &watch.roles;
    let mut probe = check::probe_check(&outcome, &ended, &session, roles)?;
    let sampled = session.sampled(opts.sample_hz, roles)?;
    probe.stackless_samples = sampled.as_ref().map(|s| s.lost_stacks);
    let mut summary = outcome.summary();
    let syscalls = ended
        .collected
        .summarize(roles, &[Role::Server, Role::Client]);
    let period_ns = session::period_ns(opts.sample_hz);
    summary.stages = sampled.as_ref().map(|s| s.stage_rows(&syscalls, period_ns));
    summary.syscalls = Some(syscalls);
    summary.probe = Some(probe);
    if let Some(dir) = &opts.out {
        let sampled = sampled.as_ref().map(|s| (s, period_ns));
        write_tables(dir, &summary, &session.meta, ended.lost, sampled)?;
        stages::write_offcpu(dir, &session.offcpu_stacks(roles)?)?;
    }
    Ok(summary)
}

/// runs.parquet, and stages.parquet and stacks.parquet when sampling ran.
fn write_tables(
    dir: &RunDir,
    summary: &RunSummary,
    meta: &RunMeta,
    lost: u64,
    sampled: Option<(&crate::collect::samples::Sampled, u64)>,
) -> Result<(), TraceError> {
    runs::write(dir, summary, meta, Some(lost))?;
    if let Some((sampled, period_ns)) = sampled {
        let rows = summary.syscalls.as_deref().unwrap_or_default();
        stages::write(dir, sampled, rows, period_ns)?;
    }
    Ok(())
}
