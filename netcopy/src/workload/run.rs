//! `netcopy run`: server and client in one process, over loopback or through the netns
//! testbed, with one stop flag for both; and the summary of a finished run (both ends' own
//! numbers, before any kernel view is added).

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    sync::Arc,
    thread,
};

use thiserror::Error;

use super::{
    WorkloadError,
    client::{ClientConfig, ClientReport, run_client},
    conn::Stop,
    join,
    server::{Served, serve_session},
    stats::Latency,
    watch::Watch,
};
use crate::{
    model::{
        CallCounts, ConnectionSummary, Mode, NetPath, RunSummary, RxZerocopyStats, ZerocopyStats,
    },
    testbed::netns::{self, NetnsError, Testbed},
};

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A uring mode on a kernel or process without the io_uring it needs.
    #[error("--mode {0}: {1}")]
    Uring(Mode, super::uring::UringError),
}

impl RunError {
    /// Bad setup the user can fix (`--netns` without the privileges it needs, a uring mode
    /// where io_uring is off).
    pub fn is_usage(&self) -> bool {
        match self {
            RunError::Netns(e) => e.is_usage(),
            RunError::Uring(..) => true,
            RunError::Workload(_) => false,
        }
    }
}

/// Both ends of a finished run.
pub struct RunOutcome {
    pub config: ClientConfig,
    pub path: NetPath,
    pub client: ClientReport,
    /// The server's connections, in accept order.
    pub served: Vec<Served>,
}

impl RunOutcome {
    /// Both ends' own numbers, as the run's summary (no kernel view yet).
    pub fn summary(&self) -> RunSummary {
        let cfg = &self.config;
        // Null where no end timed its calls (`--no-latency`).
        let mut send_latency: Option<Latency> = None;
        let mut recv_latency: Option<Latency> = None;
        let mut send_calls = CallCounts::default();
        let mut recv_calls = CallCounts::default();
        let mut zerocopy: Option<ZerocopyStats> = None;
        for s in &self.served {
            merge(&mut send_latency, s.report.latency.as_ref());
            send_calls.add(&s.report.end.calls);
            if let Some(z) = &s.report.zerocopy {
                zerocopy.get_or_insert_with(Default::default).add(z);
            }
        }
        let receivers = &self.client.receivers;
        let mut rx_zerocopy: Option<RxZerocopyStats> = None;
        for r in receivers {
            merge(&mut recv_latency, r.latency.as_ref());
            recv_calls.add(&r.end.calls);
            if let Some(z) = &r.rx_zerocopy {
                rx_zerocopy.get_or_insert_with(Default::default).add(z);
            }
        }
        // Pair the ends by the index the client put in each hello.
        let connections = receivers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let s = self.served.iter().find(|s| s.hello.index as usize == i)?;
                Some(ConnectionSummary {
                    index: i as u32,
                    sender: s.report.end.clone(),
                    receiver: r.end.clone(),
                })
            })
            .collect();
        RunSummary {
            mode: cfg.mode,
            rx: cfg.rx,
            size: cfg.size,
            threads: cfg.threads,
            path: self.path,
            cpu_affinity: cfg.affinity.is_set().then_some(cfg.affinity),
            warmup_s: cfg.warmup.as_secs_f64(),
            duration_s: cfg.duration.as_secs_f64(),
            bytes: receivers.iter().map(|r| r.end.bytes).sum(),
            messages: receivers.iter().map(|r| r.end.messages).sum(),
            throughput_gbps: self.client.window.throughput_gbps,
            window: self.client.window.clone(),
            verified: receivers.iter().all(|r| r.verified),
            interrupted: self.client.interrupted,
            calls_timed_one_in: cfg.timing.one_in(),
            send_latency_ns: send_latency.map(|l| l.summary()),
            recv_latency_ns: recv_latency.map(|l| l.summary()),
            send_calls,
            recv_calls,
            zerocopy,
            rx_zerocopy,
            connections,
            syscalls: None,
            stages: None,
            probe: None,
        }
    }
}

/// Add one end's latency, if it timed its calls, into `into`.
fn merge(into: &mut Option<Latency>, one: Option<&Latency>) {
    if let Some(one) = one {
        into.get_or_insert_with(Latency::new).add(one);
    }
}

/// Run the server and the client against each other. `cfg.server` is ignored: the server
/// listens on an ephemeral port of 127.0.0.1, or of the testbed's server address.
pub fn run(cfg: &ClientConfig, path: NetPath, stop: &Stop) -> Result<RunOutcome, RunError> {
    run_watched(cfg, path, stop, &Watch::default())
}

/// [`run`], with the threads registering their roles with `watch` and the server's zerocopy
/// completions handed to it.
pub fn run_watched(
    cfg: &ClientConfig,
    path: NetPath,
    stop: &Stop,
    watch: &Watch,
) -> Result<RunOutcome, RunError> {
    let testbed = match path {
        NetPath::Loopback | NetPath::Network => None,
        NetPath::Netns => Some(Arc::new(Testbed::create()?)),
    };
    run_with(cfg, testbed, stop, watch)
}

/// [`run_watched`] over a testbed the caller built (and may have tuned), or over loopback.
pub fn run_with(
    cfg: &ClientConfig,
    testbed: Option<Arc<Testbed>>,
    stop: &Stop,
    watch: &Watch,
) -> Result<RunOutcome, RunError> {
    if cfg.mode.uses_uring() {
        super::uring::available(cfg.mode.is_zerocopy())
            .map_err(|e| RunError::Uring(cfg.mode, e))?;
    }
    let path = if testbed.is_some() {
        NetPath::Netns
    } else {
        NetPath::Loopback
    };
    let bind = |ip: Ipv4Addr| {
        TcpListener::bind(SocketAddr::from((ip, 0)))
            .map_err(|e| WorkloadError::io(format!("listen on {ip}"), e))
    };
    let listener = match &testbed {
        None => bind(Ipv4Addr::LOCALHOST)?,
        Some(bed) => bed.in_server(|| bind(netns::SERVER_ADDR))??,
    };
    let mut config = cfg.clone();
    config.server = listener
        .local_addr()
        .map_err(|e| WorkloadError::io("listener address", e))?;

    let server = {
        let (stop, conns, cpu, watch) = (
            stop.clone(),
            cfg.threads,
            cfg.affinity.sender,
            watch.clone(),
        );
        thread::Builder::new()
            .name("nc-accept".into())
            .spawn(move || serve_session(&listener, conns, cpu, &stop, &watch))
            .map_err(|e| WorkloadError::io("spawn server thread", e))?
    };
    let setup = testbed.clone().map(|bed| {
        Arc::new(move || {
            bed.enter_client()
                .map_err(|e| WorkloadError::io("enter client netns", std::io::Error::other(e)))
        }) as super::client::ThreadSetup
    });
    let client = run_client(&config, stop, setup, &watch.roles);
    if client.is_err() {
        stop.request();
    }
    let served = join(server)?;
    let client = client?;
    let served = served.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(RunOutcome {
        config,
        path,
        client,
        served,
    })
}
