//! `netcopy trace`: the built-in workload with the probes attached, or other programs by
//! pid, command name or cgroup; the tables go to `--out`.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;

use super::{
    args::{LocalArgs, TargetArgs, ring_arg},
    error::{EXIT_LOST, Error},
    output::{print, print_summary},
    signals::with_signals,
};
use crate::{
    probes::{check_privileges, sample::DEFAULT_HZ},
    report,
    sink::RunDir,
    trace::{
        Tail, TraceOptions,
        external::{self, Target},
        trace,
    },
    workload::conn::Stop,
};

/// `trace`: the workload's options, or targets of other programs, and where tables go.
#[derive(Args, Clone)]
pub struct TraceArgs {
    #[command(flatten)]
    pub local: LocalArgs,
    /// Directory for the Parquet tables [default: ./netcopy-runs/<UTC time>-<mode>]
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace the tables of an earlier run in --out.
    #[arg(long)]
    force: bool,
    /// Kernel stack samples per second per CPU for the stage breakdown (0: none).
    #[arg(long, default_value_t = DEFAULT_HZ, value_parser = clap::value_parser!(u64).range(0..=50_000))]
    sample_hz: u64,
    /// Add calls up per thread in the kernel instead of one record per call (for very high
    /// call rates; no syscalls.parquet, latency percentiles from log2 buckets).
    #[arg(long)]
    aggregate: bool,
    /// Which calls get a row in syscalls.parquet. all: one row per call. tail: the totals
    /// are added up in the kernel, exact, as with --aggregate (and cost about as little),
    /// and a row is kept for each call that failed, left the CPU, took --tail-slow or
    /// longer, or is every --tail-every-th of its thread and kind.
    #[arg(long, value_enum, default_value_t = Records::All, conflicts_with = "aggregate")]
    records: Records,
    /// With --records tail: calls this slow or slower get a row (0: none; at most 4s).
    #[arg(long, default_value = "100us", value_parser = tail_slow_arg)]
    tail_slow: u32,
    /// With --records tail: every Nth call of a thread and kind gets a row (0: none).
    #[arg(long, default_value_t = 1000)]
    tail_every: u32,
    /// Size of the ring buffer that carries one record per call to netcopy: a power of two
    /// from 4K to 1G. Records that find it full are counted as lost and reported.
    #[arg(long, default_value = "16M", value_parser = ring_arg)]
    ring_buffer: u32,
    /// Exit with status 3 when any record was lost (the run still completes and is saved).
    #[arg(long)]
    strict: bool,
    /// Other programs to trace instead of the built-in workload.
    #[command(flatten)]
    targets: TargetArgs,
}

impl TraceArgs {
    fn options(&self, dir: &RunDir) -> TraceOptions {
        TraceOptions {
            out: Some(dir.clone()),
            sample_hz: (self.sample_hz > 0).then_some(self.sample_hz),
            aggregate: self.aggregate,
            quiet: true,
            ring_bytes: Some(self.ring_buffer),
            tail: (self.records == Records::Tail).then_some(Tail {
                slow_ns: self.tail_slow,
                every: self.tail_every,
            }),
            // `trace::trace` chooses it for the built-in workload; other programs' threads
            // are not known to be busy.
            ..TraceOptions::default()
        }
    }

    /// With `--strict`, the exit status when records were lost.
    fn strict_code(&self, lost: u64) -> Option<ExitCode> {
        (self.strict && lost > 0).then(|| {
            eprintln!("netcopy: {lost} records lost (--strict); a larger --ring-buffer or --aggregate keeps them");
            ExitCode::from(EXIT_LOST)
        })
    }
}

/// `--records`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Records {
    All,
    Tail,
}

/// `--tail-slow`: a duration that fits the kernel's u32 of nanoseconds.
fn tail_slow_arg(s: &str) -> Result<u32, String> {
    let d = crate::units::parse_duration(s).map_err(|e| e.to_string())?;
    u32::try_from(d.as_nanos())
        .map_err(|_| format!("{s}: at most 4s (the threshold is kept in ns in a u32)"))
}

pub fn execute(args: TraceArgs, stop: &Stop) -> Result<ExitCode, Error> {
    let (cfg, path) = args.local.local_run();
    let targets = args.targets.targets();
    // Say what is missing before anything is created.
    check_privileges()?;
    external::validate(&targets)?;
    if !targets.is_empty() {
        return trace_targets(&args, targets, stop);
    }
    let dir = RunDir::for_run(args.out.as_deref(), cfg.mode.name(), None, args.force)?;
    let opts = args.options(&dir);
    let summary = with_signals(stop, move |stop| trace(&cfg, path, &opts, stop))?;
    eprintln!("netcopy: wrote {}", dir.path.display());
    let agrees = summary.probe.as_ref().is_some_and(|p| p.agrees());
    let code = print_summary(&summary, args.local.output.json)?;
    if let Some(strict) = args.strict_code(summary.probe.as_ref().map_or(0, |p| p.lost)) {
        return Ok(strict);
    }
    if !agrees {
        eprintln!("netcopy: the probes' counts differ from the workload's (see `probe`)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(code)
}

/// `--pid`, `--comm`, `--cgroup`: other programs, for `--duration` or until they exit.
fn trace_targets(args: &TraceArgs, targets: Vec<Target>, stop: &Stop) -> Result<ExitCode, Error> {
    let dir = RunDir::for_run(args.out.as_deref(), "targets", None, args.force)?;
    let opts = args.options(&dir);
    let duration = args.local.workload.duration;
    let summary = with_signals(stop, move |stop| {
        external::trace_targets(&targets, duration, &opts, stop, || {
            // Scripts (and the benchmarks) wait for this line before they start.
            eprintln!("netcopy: tracing (Ctrl-C to stop)");
        })
    })?;
    eprintln!("netcopy: wrote {}", dir.path.display());
    print(
        &summary,
        &report::external::render(&summary),
        args.local.output.json,
    )?;
    Ok(args.strict_code(summary.lost).unwrap_or(ExitCode::SUCCESS))
}
