//! The server end: accept connections, read each client's hello, and send what it asks for.
//! Each connection gets its own thread.

use std::{
    io,
    net::{TcpListener, TcpStream},
    os::fd::AsRawFd,
    thread,
    time::{Duration, Instant},
};

use super::{
    WorkloadError,
    conn::{Conn, Stop},
    gate::{self, Arrival, HELLO_TIMEOUT, Limits},
    join,
    message::Layout,
    protocol::{AckStatus, HELLO_LEN, Hello, encode_ack},
    sender::{SenderReport, send_messages},
    stats::{Window, thread_switches},
    watch::Watch,
    zerocopy::CompletionLog,
};
use crate::model::{Role, Switches};

/// One connection served.
pub struct Served {
    pub hello: Hello,
    pub report: SenderReport,
}

/// Serve one connection: handshake, then send until the hello's deadline. Zerocopy
/// completions go to `log`, if given.
pub fn serve_connection(
    stream: TcpStream,
    stop: Stop,
    log: Option<CompletionLog>,
) -> Result<Served, WorkloadError> {
    let started = thread_switches();
    // The handshake is bounded by HELLO_TIMEOUT, not by `stop` (see Conn::set_stop).
    let mut conn = Conn::new(
        stream,
        Window::after(Instant::now(), Duration::ZERO, Duration::ZERO),
        Stop::default(),
    )
    .map_err(|e| WorkloadError::io("socket options", e))?;
    let mut raw = [0u8; HELLO_LEN];
    read_handshake(&mut conn, &mut raw)?;
    conn.set_stop(stop);
    let hello = match Hello::decode(&raw) {
        Ok(h) => h,
        Err(e) => {
            let _ = conn.send_all(&encode_ack(AckStatus::BadHello));
            return Err(e.into());
        }
    };
    serve_hello(conn, hello, log, started)
}

/// Serve a connection whose hello `netcopy serve`'s door has read and admitted.
pub fn serve_admitted(
    stream: TcpStream,
    hello: Hello,
    stop: Stop,
    log: Option<CompletionLog>,
) -> Result<Served, WorkloadError> {
    let started = thread_switches();
    let conn = Conn::new(
        stream,
        Window::after(Instant::now(), Duration::ZERO, Duration::ZERO),
        stop,
    )
    .map_err(|e| WorkloadError::io("socket options", e))?;
    serve_hello(conn, hello, log, started)
}

/// Ack the hello and send what it asks for.
fn serve_hello(
    mut conn: Conn,
    hello: Hello,
    log: Option<CompletionLog>,
    started: Switches,
) -> Result<Served, WorkloadError> {
    let layout = Layout::new(hello.size as usize)?;
    conn.send_all(&encode_ack(AckStatus::Ok))
        .map_err(|e| WorkloadError::io("send ack", e))?;
    let start = Instant::now();
    conn.set_window(Window::after(start, hello.warmup, hello.duration));
    conn.set_call_timing(hello.timing);
    let report = send_messages(
        conn,
        hello.mode,
        &layout,
        start + hello.send_time(),
        log,
        started,
    )?;
    Ok(Served { hello, report })
}

/// Read exactly the hello, giving up after [`HELLO_TIMEOUT`].
fn read_handshake(conn: &mut Conn, buf: &mut [u8]) -> Result<(), WorkloadError> {
    let start = Instant::now();
    let mut at = 0;
    while at < buf.len() {
        match conn.recv(&mut buf[at..]) {
            Ok(0) => {
                return Err(WorkloadError::io(
                    "read hello",
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "client closed before its hello",
                    ),
                ));
            }
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if start.elapsed() > HELLO_TIMEOUT {
                    return Err(WorkloadError::io(
                        "read hello",
                        io::Error::new(io::ErrorKind::TimedOut, "no hello within 5 s"),
                    ));
                }
            }
            Err(e) => return Err(WorkloadError::io("read hello", e)),
        }
    }
    Ok(())
}

/// How long a run's server still waits for its client's connections after a stop request:
/// they are on their way, and a run stopped during setup still ends with both reports.
const ACCEPT_GRACE: Duration = Duration::from_secs(2);

/// Wait for the next connection, waking every 200 ms to check `stop`; `None` once `stop`
/// has been requested for longer than [`ACCEPT_GRACE`].
pub fn accept(listener: &TcpListener, stop: &Stop) -> Result<Option<TcpStream>, WorkloadError> {
    let mut stopped_at = None;
    loop {
        if stop.requested() && stopped_at.get_or_insert_with(Instant::now).elapsed() > ACCEPT_GRACE
        {
            return Ok(None);
        }
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 200) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(WorkloadError::io("poll listener", e));
        }
        if r == 0 {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => return Ok(Some(stream)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(WorkloadError::io("accept", e)),
        }
    }
}

/// Accept `conns` connections (the ones of one client run), serve each on its own thread
/// (pinned to `cpu`, if given), and return their results in accept order. Stops accepting on
/// a stop request. The threads register with `watch`, and hand it their completions.
pub fn serve_session(
    listener: &TcpListener,
    conns: u32,
    cpu: Option<usize>,
    stop: &Stop,
    watch: &Watch,
) -> Result<Vec<Result<Served, WorkloadError>>, WorkloadError> {
    let mut handles = Vec::new();
    for i in 0..conns {
        let Some(stream) = accept(listener, stop)? else {
            break;
        };
        let (stop, log) = (stop.clone(), watch.completions.clone());
        let handle = watch
            .roles
            .spawn(Role::Server, i, move || {
                let served = super::affinity::pin(cpu)
                    .and_then(|()| serve_connection(stream, stop.clone(), log));
                if served.is_err() {
                    // One failed end stops the run rather than leaving the other waiting.
                    stop.request();
                }
                served
            })
            .map_err(|e| WorkloadError::io("spawn sender thread", e))?;
        handles.push(handle);
    }
    Ok(handles.into_iter().map(join).collect())
}

/// `netcopy serve`: accept connections until a stop request (or, with `one_off`, until the
/// first client run's connections are all done), handing each result to `on_served` on the
/// calling thread as it finishes. Hellos are read by [`gate`], which admits a connection only
/// within `limits`; the ones it turns away come to `on_served` as [`WorkloadError::Turned`].
/// The sending threads register with `watch`, and hand it their completions.
pub fn serve_forever(
    listener: TcpListener,
    one_off: bool,
    limits: Limits,
    stop: &Stop,
    watch: &Watch,
    mut on_served: impl FnMut(Result<Served, WorkloadError>),
) -> Result<(), WorkloadError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let accepting = Stop::default();
    let acceptor = {
        let (stop, accepting, watch) = (stop.clone(), accepting.clone(), watch.clone());
        thread::Builder::new()
            .name("nc-accept".into())
            .spawn(move || -> Result<(), WorkloadError> {
                let admission = gate::Admission::default();
                let mut next = 0u64;
                gate::run(&listener, limits, &admission, &accepting, |arrival| {
                    let (stream, hello, ticket) = match arrival {
                        Arrival::Admitted(stream, hello, ticket) => (stream, hello, ticket),
                        Arrival::Turned(why) => {
                            let _ = tx.send(Err(WorkloadError::Turned(why)));
                            return Ok(());
                        }
                    };
                    let (stop, tx, log) = (stop.clone(), tx.clone(), watch.completions.clone());
                    next += 1;
                    watch
                        .roles
                        .spawn(Role::Server, next, move || {
                            let served = serve_admitted(stream, hello, stop, log);
                            // The slot and the buffers are free before the result is told.
                            drop(ticket);
                            let _ = tx.send(served);
                        })
                        .map(drop)
                        .map_err(|e| WorkloadError::io("spawn sender thread", e))
                })
            })
            .map_err(|e| WorkloadError::io("spawn accept thread", e))?
    };
    let mut first_session: Option<(u64, u32)> = None;
    loop {
        if stop.requested() {
            accepting.request();
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(served) => {
                if let (true, Ok(s)) = (one_off, &served) {
                    let (session, left) =
                        first_session.get_or_insert((s.hello.session, s.hello.conns));
                    if *session == s.hello.session {
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            accepting.request();
                        }
                    }
                }
                on_served(served);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // Every sender is done and the acceptor has exited.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    join(acceptor)
}
