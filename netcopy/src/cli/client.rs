//! `netcopy client`: connect to a `netcopy serve`, receive for the given time and print a
//! summary; with `--trace`, this end traced, writing its shard of the tables.

use std::{
    net::{IpAddr, SocketAddr},
    process::ExitCode,
};

use clap::Args;

use super::{
    args::{DEFAULT_PORT, HostTraceArgs, OutputArgs, WorkloadArgs},
    error::{Error, Usage},
    output::print_summary,
    signals::with_signals,
};
use crate::{
    model::{NetPath, RunSummary},
    sink::behind::Level,
    trace::trace_outcome,
    workload::{
        client::{ClientConfig, routable, run_client},
        conn::Stop,
        run::RunOutcome,
    },
};

#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Address of the server.
    #[arg(long, short = 'c', default_value = "127.0.0.1")]
    server: IpAddr,
    /// Port of the server.
    #[arg(long, short, default_value_t = DEFAULT_PORT)]
    port: u16,
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    traced: HostTraceArgs,
}

pub fn execute(args: ClientArgs, stop: &Stop) -> Result<ExitCode, Error> {
    let cfg = args
        .workload
        .client_config(SocketAddr::new(args.server, args.port));
    routable(cfg.server).map_err(|e| Usage(format!("--server {}: {e}", args.server)))?;
    let summary = if args.traced.trace {
        client_traced(cfg, &args.traced, stop)?
    } else {
        let client = with_signals(stop, {
            let cfg = cfg.clone();
            move |stop| run_client(&cfg, stop, None, &Default::default())
        })?;
        outcome(cfg, client).summary()
    };
    print_summary(&summary, args.output.json)
}

fn outcome(config: ClientConfig, client: crate::workload::client::ClientReport) -> RunOutcome {
    RunOutcome {
        config,
        path: NetPath::Network,
        client,
        served: Vec::new(),
    }
}

/// Run the client with this end traced.
fn client_traced(
    cfg: ClientConfig,
    args: &HostTraceArgs,
    stop: &Stop,
) -> Result<RunSummary, Error> {
    let (dir, mut opts) = args.start("client")?;
    // This end's thread of each connection, each a receiver (`--cpu-affinity`'s second CPU).
    opts.encoding = Level::beside(cfg.threads as usize, cfg.affinity.receivers_cpus());
    eprintln!("netcopy: traced client, run id {}", dir.run_id);
    let summary = with_signals(stop, move |stop| {
        trace_outcome(&opts, false, |watch| {
            let client = run_client(&cfg, stop, None, &watch.roles)?;
            Ok(outcome(cfg.clone(), client))
        })
    })?;
    eprintln!("netcopy: wrote {}", dir.path.display());
    Ok(summary)
}
