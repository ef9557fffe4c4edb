//! `netcopy run`: server and client in one process, over loopback or through the netns
//! testbed, with one stop flag for both.

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
    zerocopy::CompletionLog,
};
use crate::testbed::netns::{self, NetnsError, Testbed};

/// Where the bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetPath {
    /// 127.0.0.1 in the current namespace.
    Loopback,
    /// Two namespaces joined by a veth pair.
    Netns,
    /// `netcopy client` against a separately started server.
    Network,
}

impl NetPath {
    pub fn name(self) -> &'static str {
        match self {
            NetPath::Loopback => "loopback",
            NetPath::Netns => "netns",
            NetPath::Network => "network",
        }
    }
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

/// Both ends of a finished run.
pub struct RunOutcome {
    pub config: ClientConfig,
    pub path: NetPath,
    pub client: ClientReport,
    /// The server's connections, in accept order.
    pub served: Vec<Served>,
}

/// Run the server and the client against each other. `cfg.server` is ignored: the server
/// listens on an ephemeral port of 127.0.0.1, or of the testbed's server address.
pub fn run(cfg: &ClientConfig, path: NetPath, stop: &Stop) -> Result<RunOutcome, RunError> {
    run_logged(cfg, path, stop, None)
}

/// [`run`], with the server's zerocopy completions handed to `log`.
pub fn run_logged(
    cfg: &ClientConfig,
    path: NetPath,
    stop: &Stop,
    log: Option<CompletionLog>,
) -> Result<RunOutcome, RunError> {
    let testbed = match path {
        NetPath::Loopback | NetPath::Network => None,
        NetPath::Netns => Some(Arc::new(Testbed::create()?)),
    };
    run_with(cfg, testbed, stop, log)
}

/// [`run_logged`] over a testbed the caller built (and may have tuned), or over loopback.
pub fn run_with(
    cfg: &ClientConfig,
    testbed: Option<Arc<Testbed>>,
    stop: &Stop,
    log: Option<CompletionLog>,
) -> Result<RunOutcome, RunError> {
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
        let (stop, conns, cpu) = (stop.clone(), cfg.threads, cfg.affinity.sender);
        thread::Builder::new()
            .name("nc-accept".into())
            .spawn(move || serve_session(&listener, conns, cpu, &stop, log))
            .map_err(|e| WorkloadError::io("spawn server thread", e))?
    };
    let setup = testbed.clone().map(|bed| {
        Arc::new(move || {
            bed.enter_client()
                .map_err(|e| WorkloadError::io("enter client netns", std::io::Error::other(e)))
        }) as super::client::ThreadSetup
    });
    let client = run_client(&config, stop, setup);
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
