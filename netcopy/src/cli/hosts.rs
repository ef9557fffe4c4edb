//! `serve --trace` and `client --trace`: one end each, on two hosts, each writing a shard of
//! tables under a run id both ends share, for analysis/ to join.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;
use netcopy::{
    probes::check_privileges,
    report::summary::RunSummary,
    sink::RunDir,
    trace::{TraceOptions, trace_outcome},
    units::utc_stamp,
    workload::{
        WorkloadError,
        client::{ClientConfig, run_client},
        conn::Stop,
        gate::Limits,
        receiver::Verify,
        run::{NetPath, RunError, RunOutcome},
        server::serve_forever,
        stats::WindowTotals,
    },
};

use super::Usage;
use crate::with_signals;

/// Tracing one end of a run between two hosts.
#[derive(Args, Clone)]
pub struct HostTraceArgs {
    /// Trace this end with the eBPF probes and write its tables (needs root). `serve
    /// --trace` serves one client run and exits.
    #[arg(long)]
    pub trace: bool,
    /// Directory of this end's tables [default: ./netcopy-runs/<run id>-<end>].
    #[arg(long, short, requires = "trace")]
    pub out: Option<PathBuf>,
    /// Run id both ends write, so that their shards join (give both the same) [default: a
    /// new one, printed].
    #[arg(long, requires = "trace", value_parser = run_id_arg)]
    pub run_id: Option<String>,
    /// Replace the tables of an earlier run in --out.
    #[arg(long, requires = "trace")]
    pub force: bool,
    /// Kernel stack samples per second per CPU (0: none).
    #[arg(long, requires = "trace", default_value_t = netcopy::probes::sample::DEFAULT_HZ, value_parser = clap::value_parser!(u64).range(0..=50_000))]
    pub sample_hz: u64,
}

/// Run ids go into file metadata and paths: letters, digits, `-`, `_`, `.`; 1 to 64.
fn run_id_arg(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "run id {s:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

impl HostTraceArgs {
    fn dir(&self, end: &str) -> anyhow::Result<RunDir> {
        let run_id = self.run_id.clone().unwrap_or_else(|| {
            format!(
                "{}-{}",
                utc_stamp(std::time::SystemTime::now()),
                std::process::id()
            )
        });
        Ok(match &self.out {
            Some(path) => RunDir::create(path, run_id, self.force)?,
            None => RunDir::create_new(
                Path::new("netcopy-runs"),
                &format!("{run_id}-{end}"),
                run_id.clone(),
            )?,
        })
    }

    fn options(&self, dir: &RunDir) -> TraceOptions {
        TraceOptions {
            out: Some(dir.clone()),
            sample_hz: (self.sample_hz > 0).then_some(self.sample_hz),
            // The summary shows the fallbacks.
            quiet: true,
            ..TraceOptions::default()
        }
    }
}

fn check() -> anyhow::Result<()> {
    check_privileges().map_err(|e| Usage(e.to_string()))?;
    Ok(())
}

/// Serve one client run with this end traced.
pub fn serve(
    listener: TcpListener,
    args: &HostTraceArgs,
    stop: &Stop,
) -> anyhow::Result<RunSummary> {
    check()?;
    let dir = args.dir("server")?;
    let opts = args.options(&dir);
    let addr = listener.local_addr()?;
    eprintln!(
        "netcopy: serving one client run on {addr}, traced, run id {} (Ctrl-C to stop)",
        dir.run_id
    );
    let summary = with_signals(stop, move |stop| {
        trace_outcome(&opts, true, |log| {
            let mut served = Vec::new();
            let mut failed = None;
            serve_forever(listener, true, Limits::default(), stop, log, |s| match s {
                Ok(s) => served.push(s),
                // Someone else knocking (a scanner, a bad client) is not this run's failure.
                Err(e @ WorkloadError::Turned(_)) => eprintln!("netcopy: {e}"),
                Err(e) => failed = Some(e),
            })?;
            if let Some(e) = failed {
                return Err(RunError::from(e));
            }
            let first = served.first().map(|s| s.hello.clone());
            let Some(hello) = first else {
                return Err(RunError::from(netcopy::workload::WorkloadError::NoClient));
            };
            Ok(RunOutcome {
                config: ClientConfig {
                    server: addr,
                    mode: hello.mode,
                    size: hello.size,
                    threads: hello.conns,
                    warmup: hello.warmup,
                    duration: hello.duration,
                    verify: Verify::Yes,
                    affinity: Default::default(),
                },
                path: NetPath::Network,
                client: netcopy::workload::client::ClientReport {
                    receivers: Vec::new(),
                    window: WindowTotals::default(),
                    interrupted: stop.requested(),
                },
                served,
            })
        })
    })?;
    eprintln!("netcopy: wrote {}", dir.path.display());
    Ok(summary)
}

/// Run the client with this end traced.
pub fn client(cfg: ClientConfig, args: &HostTraceArgs, stop: &Stop) -> anyhow::Result<RunSummary> {
    check()?;
    let dir = args.dir("client")?;
    let opts = args.options(&dir);
    eprintln!("netcopy: traced client, run id {}", dir.run_id);
    let summary = with_signals(stop, move |stop| {
        trace_outcome(&opts, false, |_| {
            let client = run_client(&cfg, stop, None)?;
            Ok(RunOutcome {
                config: cfg.clone(),
                path: NetPath::Network,
                client,
                served: Vec::new(),
            })
        })
    })?;
    eprintln!("netcopy: wrote {}", dir.path.display());
    Ok(summary)
}

/// Exit code of a traced end: 130 when interrupted.
pub fn exit_code(s: &RunSummary) -> ExitCode {
    if s.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}
