//! `netcopy serve`: wait for clients and send each what it asks for; with `--trace`, serve
//! one client run with this end traced, writing its shard of the tables.

use std::{
    net::{IpAddr, SocketAddr, TcpListener},
    process::ExitCode,
};

use clap::Args;

use super::{
    args::{DEFAULT_PORT, HostTraceArgs, size_arg_any},
    error::{Error, Usage},
    output::print_summary,
    signals::with_signals,
};
use crate::{
    model::{NetPath, RunSummary},
    report,
    trace::trace_outcome,
    workload::{
        WorkloadError,
        client::{ClientConfig, ClientReport},
        conn::Stop,
        gate::{Limits, default_max_memory},
        run::{RunError, RunOutcome},
        server::serve_forever,
        watch::Watch,
    },
};

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// TCP port to listen on.
    #[arg(long, short, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Exit after serving the first client run (all its connections).
    #[arg(long, short = '1')]
    one_off: bool,
    /// Connections served at once; a client asking for more is refused ("busy").
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_conns: u32,
    /// Message buffers all connections may hold together (1K..): a hello that would
    /// exceed it is refused. [default: half of this machine's memory]
    #[arg(long, value_parser = size_arg_any)]
    max_memory: Option<u64>,
    /// Print one JSON object per connection (JSON lines) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    traced: HostTraceArgs,
}

pub fn execute(args: ServeArgs, stop: &Stop) -> Result<ExitCode, Error> {
    let limits = Limits {
        max_conns: args.max_conns as usize,
        max_memory: args.max_memory.unwrap_or_else(default_max_memory),
    };
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => ": choose another --port",
            std::io::ErrorKind::AddrNotAvailable => ": --bind must be an address of this host",
            _ => "",
        };
        Usage(format!("listen on {addr}: {e}{hint}"))
    })?;
    if args.traced.trace {
        let summary = serve_traced(listener, &args.traced, stop)?;
        return print_summary(&summary, args.json);
    }
    eprintln!("netcopy: serving on {addr} (Ctrl-C to stop)");
    let json = args.json;
    with_signals(stop, move |stop| {
        serve_forever(
            listener,
            args.one_off,
            limits,
            stop,
            &Watch::default(),
            |served| match served {
                Ok(s) => println!("{}", report::served::line(&s, json)),
                Err(e @ WorkloadError::Turned(_)) => eprintln!("netcopy: {e}"),
                Err(e) => eprintln!("netcopy: a connection failed: {e}"),
            },
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Serve one client run with this end traced.
fn serve_traced(
    listener: TcpListener,
    args: &HostTraceArgs,
    stop: &Stop,
) -> Result<RunSummary, Error> {
    let (dir, opts) = args.start("server")?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("the listener's address"))?;
    eprintln!(
        "netcopy: serving one client run on {addr}, traced, run id {} (Ctrl-C to stop)",
        dir.run_id
    );
    let summary = with_signals(stop, move |stop| {
        trace_outcome(&opts, true, |watch| {
            let mut served = Vec::new();
            let mut failed = None;
            serve_forever(
                listener,
                true,
                Limits::default(),
                stop,
                watch,
                |s| match s {
                    Ok(s) => served.push(s),
                    // Someone else knocking (a scanner, a bad client) is not this run's failure.
                    Err(e @ WorkloadError::Turned(_)) => eprintln!("netcopy: {e}"),
                    Err(e) => failed = Some(e),
                },
            )?;
            if let Some(e) = failed {
                return Err(RunError::from(e));
            }
            let Some(hello) = served.first().map(|s| s.hello.clone()) else {
                return Err(RunError::from(WorkloadError::NoClient));
            };
            Ok(RunOutcome {
                config: ClientConfig::from_hello(&hello, addr),
                path: NetPath::Network,
                client: ClientReport {
                    receivers: Vec::new(),
                    window: Default::default(),
                    interrupted: stop.requested(),
                },
                served,
            })
        })
    })?;
    eprintln!("netcopy: wrote {}", dir.path.display());
    Ok(summary)
}
