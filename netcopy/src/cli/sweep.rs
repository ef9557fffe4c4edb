//! `netcopy sweep`: the command line around [`crate::sweep`].

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{
    args::{MAX_THREADS, size_arg, warmup_arg, window_arg},
    error::{Error, Usage},
    signals::with_signals,
};
use crate::{
    model::{CellRecord, Mode, NetPath},
    probes::{check_privileges, sample::DEFAULT_HZ},
    sweep::{self, Event, Spec},
    units::format_size,
    workload::conn::Stop,
};

/// Every combination of modes, sizes and thread counts, repeated, into one Parquet dataset.
///
/// Writes DIR/mode=M/size=BYTES/threads=T/rep=R/ with the tables of `netcopy trace`, a
/// cell.json per cell, and DIR/summary.csv (one row per cell; the seed report's columns
/// first). Running the same command again skips the cells already done; an interrupted cell
/// leaves nothing behind. The defaults reproduce the seed report's matrix (3 modes x 6 sizes
/// x 4 thread counts x 10 s), three times for medians; `--modes` adds uring and uringzc.
///
/// Examples:
///   sudo netcopy sweep --out sweep-1
///   netcopy sweep --no-trace --modes onecopy,zerocopy --sizes 1K,64K,1M --threads 1,2 \
///       --duration 3s --repeat 2 --out quick
///   netcopy report quick && netcopy plot quick
#[derive(Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct SweepArgs {
    /// Copy modes, comma-separated (the seed's three by default; uring, uringzc also).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "twocopy,onecopy,zerocopy"
    )]
    modes: Vec<Mode>,
    /// Message sizes, comma-separated (1K, 64K, 1M, ...).
    #[arg(long, value_delimiter = ',', default_value = "1K,4K,64K,1M,4M,16M", value_parser = size_arg)]
    sizes: Vec<u64>,
    /// Connection (thread) counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8", value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    threads: Vec<u32>,
    /// Measurement window of each cell.
    #[arg(long, short, default_value = "10s", value_parser = window_arg)]
    duration: Duration,
    /// Unmeasured time before each window.
    #[arg(long, short, default_value = "1s", value_parser = warmup_arg)]
    warmup: Duration,
    /// Runs of each combination (the report shows their median and spread).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Run each cell between two network namespaces joined by veth (needs root).
    #[arg(long)]
    netns: bool,
    /// Attach the probes to every cell (the default; needs root).
    #[arg(long, overrides_with = "no_trace")]
    trace: bool,
    /// Do not attach probes: the workload's own numbers only, no kernel tables.
    #[arg(long)]
    no_trace: bool,
    /// Kernel stack samples per second per CPU when tracing (0: no stage breakdown).
    #[arg(long, default_value_t = DEFAULT_HZ, value_parser = clap::value_parser!(u64).range(0..=50_000))]
    sample_hz: u64,
    /// Do not draw the plots at the end (`netcopy plot DIR` draws them any time).
    #[arg(long)]
    no_plot: bool,
    /// Directory of the dataset (created; an existing one is resumed).
    #[arg(long, short)]
    out: PathBuf,
}

impl SweepArgs {
    fn spec(&self) -> Spec {
        Spec {
            modes: dedup(&self.modes),
            sizes: dedup(&self.sizes),
            threads: dedup(&self.threads),
            duration: self.duration,
            warmup: self.warmup,
            repeat: self.repeat,
            path: if self.netns {
                NetPath::Netns
            } else {
                NetPath::Loopback
            },
            sample_hz: (self.sample_hz > 0).then_some(self.sample_hz),
            trace: !self.no_trace,
            out: self.out.clone(),
        }
    }
}

/// The values in their first order, each once.
fn dedup<T: PartialEq + Copy>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

/// One line for a finished cell.
fn cell_line(r: &CellRecord) -> String {
    let cpu = r
        .send_oncpu_ns_per_byte
        .map_or(String::new(), |v| format!("  send {v:.3} ns/B on-CPU"));
    let lat = r
        .recv_p50_us
        .map_or(String::new(), |v| format!("  recv p50 {v:.1} µs"));
    let zc = r
        .zc_avoided_share
        .map_or(String::new(), |v| format!("  zc avoided {:.0}%", v * 100.0));
    format!(
        "{:<8} {:>5} x{:<2} rep {}: {:>8.3} Gbit/s{lat}{cpu}  {} cs{zc}",
        r.mode,
        format_size(r.size),
        r.threads,
        r.rep,
        r.throughput_gbps,
        r.context_switches
    )
}

/// A line above the bar, or on stderr when there is no bar (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

pub fn execute(args: SweepArgs, stop: &Stop) -> Result<ExitCode, Error> {
    let spec = args.spec();
    if spec.trace {
        check_privileges().map_err(|e| Usage(format!("{e} (or run the sweep with --no-trace)")))?;
    }
    crate::sink::writable_dir(&spec.out).map_err(|e| Usage(format!("--out {e}")))?;
    let cells = spec.cells().len();
    let minutes = cells as f64 * spec.cell_seconds() / 60.0;
    let time = if minutes < 90.0 {
        format!("{minutes:.0} min")
    } else {
        format!("{:.1} h", minutes / 60.0)
    };
    eprintln!(
        "netcopy sweep: {cells} cells ({} modes x {} sizes x {} thread counts x {} repeats), at least {time}, into {}",
        spec.modes.len(),
        spec.sizes.len(),
        spec.threads.len(),
        spec.repeat,
        spec.out.display()
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} cells  {elapsed_precise} elapsed, ETA {eta_precise}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let outcome = with_signals(stop, move |stop| {
        sweep::run(&spec, stop, |event| match event {
            Event::Skipped { .. } => {}
            Event::Start { cell, index, total } => {
                if index == 0 {
                    shown.set_length(total as u64);
                }
                shown.set_message(format!("running {cell}"));
            }
            Event::Done { record, .. } => {
                say(&shown, cell_line(record));
                shown.inc(1);
            }
            Event::Failed { cell, error } => {
                say(&shown, format!("{cell}: FAILED: {error}"));
                shown.inc(1);
            }
        })
    })?;
    bar.finish_and_clear();
    if !args.no_plot && (outcome.done > 0 || !args.out.join("plots").exists()) {
        match super::plot::plot_sweep(&args.out) {
            Ok(files) => eprintln!(
                "netcopy sweep: {} plots in {}",
                files.len(),
                args.out.join("plots").display()
            ),
            Err(e) => eprintln!("netcopy sweep: no plots: {e}"),
        }
    }
    eprintln!(
        "netcopy sweep: {} cells run, {} already done, {} failed{}; summary in {}",
        outcome.done,
        outcome.skipped,
        outcome.failed,
        if outcome.interrupted {
            ", interrupted (run the same command to resume)"
        } else {
            ""
        },
        args.out.join(sweep::csv::FILE).display()
    );
    Ok(if outcome.interrupted {
        ExitCode::from(130)
    } else if outcome.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
