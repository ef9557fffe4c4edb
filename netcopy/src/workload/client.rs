//! The client end: open N connections (one thread each), ask the server for a stream of
//! messages, receive and check them, and cut one measurement window common to all
//! connections from the outside.

use std::{
    net::{SocketAddr, TcpStream},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use super::{
    WorkloadError, affinity,
    conn::{Conn, Filled, Stop},
    join,
    message::Layout,
    protocol::{ACK_LEN, HELLO_LEN, Hello, decode_ack},
    receiver::{ReceiverReport, Verify, receive_messages},
    rxzc::receive_mapped,
    stats::{Progress, Window, thread_switches, window_totals},
    timing::CallTiming,
    watch::Roles,
};
use crate::model::{Affinity, Mode, Role, Rx, WindowTotals};

/// How long the server keeps sending after the client's window ends, so that the window is
/// full on every connection even though each server thread starts at its own hello.
pub const TAIL: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub server: SocketAddr,
    pub mode: Mode,
    pub size: u64,
    pub threads: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub verify: Verify,
    /// How the receivers read (`--rx`).
    pub rx: Rx,
    /// CPUs for the connection threads: the receivers here, the senders in `netcopy run`.
    pub affinity: Affinity,
    /// Which data calls both ends time (`--latency-sample`, `--no-latency`; the hello tells
    /// the server).
    pub timing: CallTiming,
}

impl ClientConfig {
    /// `threads` connections moving `size`-byte messages in `mode`, measured for `duration`
    /// after `warmup`: to 127.0.0.1 (`netcopy run` puts its own server's address in), every
    /// message verified, no thread pinned.
    pub fn new(mode: Mode, size: u64, threads: u32, warmup: Duration, duration: Duration) -> Self {
        Self {
            server: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode,
            size,
            threads,
            warmup,
            duration,
            verify: Verify::Yes,
            rx: Rx::Copy,
            affinity: Affinity::default(),
            timing: CallTiming::default_for(size),
        }
    }

    /// The run a client's hello asks the server at `server` for: the sending end's view.
    pub fn from_hello(hello: &Hello, server: SocketAddr) -> Self {
        Self {
            server,
            timing: hello.timing,
            ..Self::new(
                hello.mode,
                hello.size,
                hello.conns,
                hello.warmup,
                hello.duration,
            )
        }
    }
}

pub struct ClientReport {
    pub receivers: Vec<ReceiverReport>,
    pub window: WindowTotals,
    /// A stop request cut the run short.
    pub interrupted: bool,
}

/// Something a connection thread runs before it opens its socket (e.g. entering a netns).
pub type ThreadSetup = Arc<dyn Fn() -> Result<(), WorkloadError> + Send + Sync>;

pub fn run_client(
    cfg: &ClientConfig,
    stop: &Stop,
    setup: Option<ThreadSetup>,
    roles: &Roles,
) -> Result<ClientReport, WorkloadError> {
    let layout = Layout::new(cfg.size as usize)?;
    let session = session_id();
    let t0 = Instant::now();
    let window = Window::after(t0, cfg.warmup, cfg.duration);
    let mut handles = Vec::new();
    let mut progress = Vec::new();
    for index in 0..cfg.threads {
        let p = Arc::new(Progress::default());
        progress.push(p.clone());
        let hello = Hello {
            mode: cfg.mode,
            size: cfg.size,
            warmup: cfg.warmup,
            duration: cfg.duration,
            tail: TAIL,
            conns: cfg.threads,
            index,
            session,
            timing: cfg.timing,
        };
        let (cfg, layout, stop, setup) = (cfg.clone(), layout.clone(), stop.clone(), setup.clone());
        let handle = roles
            .spawn(Role::Client, index, move || {
                let started = thread_switches();
                let r = (|| {
                    affinity::pin(cfg.affinity.receiver)?;
                    if let Some(setup) = setup {
                        setup()?;
                    }
                    let conn = connect(&cfg, &hello, window, stop.clone())?;
                    match cfg.rx {
                        Rx::Copy => {
                            receive_messages(conn, cfg.mode, &layout, cfg.verify, &p, started)
                        }
                        Rx::Zerocopy => receive_mapped(conn, &layout, cfg.verify, &p, started),
                    }
                })();
                if r.is_err() {
                    stop.request();
                }
                r
            })
            .map_err(|e| WorkloadError::io("spawn receiver thread", e))?;
        handles.push(handle);
    }

    // Cut the window from outside: snapshot every connection's counters at its start and end.
    let all_done = |h: &[thread::JoinHandle<_>]| h.iter().all(|h| h.is_finished());
    wait_until(window.start, stop, || all_done(&handles));
    let started = Instant::now();
    let first: Vec<_> = progress.iter().map(|p| p.snapshot()).collect();
    wait_until(window.end, stop, || all_done(&handles));
    let ended = Instant::now();
    let last: Vec<_> = progress.iter().map(|p| p.snapshot()).collect();
    let interrupted = stop.requested();
    let totals = window_totals(&first, &last, ended - started);

    let mut receivers = Vec::new();
    let mut first_error = None;
    for h in handles {
        match join(h) {
            Ok(r) => receivers.push(r),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(ClientReport {
        receivers,
        window: totals,
        interrupted,
    })
}

/// Whether this host has a route to `addr`, asked without sending anything (connecting a
/// UDP socket only looks the route up).
pub fn routable(addr: SocketAddr) -> std::io::Result<()> {
    let any: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = std::net::UdpSocket::bind(any)?;
    socket.connect(SocketAddr::new(addr.ip(), addr.port().max(1)))
}

/// Connect, send the hello and wait for the server's ack. The handshake does not look at
/// `stop` (it is bounded by timeouts); the returned connection does.
fn connect(
    cfg: &ClientConfig,
    hello: &Hello,
    window: Window,
    stop: Stop,
) -> Result<Conn, WorkloadError> {
    let stream = TcpStream::connect_timeout(&cfg.server, CONNECT_TIMEOUT)
        .map_err(|e| WorkloadError::io(format!("connect to {}", cfg.server), e))?;
    let mut conn = Conn::new(stream, window, Stop::default())
        .map_err(|e| WorkloadError::io("socket options", e))?;
    let raw: [u8; HELLO_LEN] = hello.encode();
    conn.send_all(&raw)
        .map_err(|e| WorkloadError::io("send hello", e))?;
    let mut ack = [0u8; ACK_LEN];
    match conn.recv_exact(&mut ack, |_| {}) {
        Ok(Filled::Full) => decode_ack(&ack)?,
        Ok(Filled::Closed) => {
            return Err(WorkloadError::io(
                "read ack",
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "server closed without answering the hello",
                ),
            ));
        }
        Err(e) => return Err(WorkloadError::io("read ack", e)),
    }
    conn.set_stop(stop);
    conn.set_call_timing(cfg.timing);
    Ok(conn)
}

/// Sleep until `deadline`, a stop request, or `done()`, whichever comes first.
fn wait_until(deadline: Instant, stop: &Stop, done: impl Fn() -> bool) {
    while !stop.requested() && !done() {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

/// An id shared by the connections of one client run, so the server can group them.
fn session_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 40)
}
