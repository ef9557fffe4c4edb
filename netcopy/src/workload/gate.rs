//! `netcopy serve`'s door: accept connections, read their hellos on one thread, and admit a
//! connection (a sender thread of its own) only when it has asked for something valid and
//! the server has a slot and the memory for it.
//!
//! Peers that connect and say nothing cost a socket and a 48-byte buffer, not a thread:
//! [`MAX_PENDING`] of them at most, each dropped after [`HELLO_TIMEOUT`], the oldest first
//! when there are too many or the process runs out of file descriptors. So idle or garbage
//! connections never keep a well-behaved client out.

use std::{
    collections::VecDeque,
    io::{self, Read as _, Write as _},
    net::{TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    WorkloadError,
    conn::Stop,
    protocol::{AckStatus, HELLO_LEN, Hello, encode_ack},
    zerocopy,
};
use crate::model::Mode;

/// How long a new connection may take to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections that have not finished their hello, at most.
pub const MAX_PENDING: usize = 4096;
/// How often the door looks at the stop flag and the hello deadlines.
const TICK_MS: i32 = 100;

/// What the server admits at once.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections being served (each a thread and its message buffers).
    pub max_conns: usize,
    /// Bytes of message buffers all served connections may hold together.
    pub max_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_conns: 1024,
            max_memory: default_max_memory(),
        }
    }
}

/// Half of the machine's memory (MemTotal), or 4 GiB when /proc/meminfo says nothing.
pub fn default_max_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4 << 30, |kib| kib * 1024 / 2)
}

/// Bytes of message buffers a connection serving `hello` allocates: the message and, for
/// twocopy and uring, its wire copy; for zerocopy and uringzc, the buffer pool (uringzc's
/// beside the message it serializes from).
pub fn buffer_bytes(hello: &Hello) -> u64 {
    let size = hello.size;
    match hello.mode {
        Mode::Twocopy => 2 * size,
        Mode::Onecopy => size,
        Mode::Zerocopy => zerocopy::pool_len(size as usize) as u64 * size,
        Mode::Uring => 2 * size,
        Mode::Uringzc => (zerocopy::pool_len(size as usize) as u64 + 1) * size,
    }
}

/// The slots and memory in use; a [`Ticket`] gives its share back when dropped.
#[derive(Clone, Default)]
pub struct Admission {
    inner: Arc<(AtomicUsize, Mutex<u64>)>,
}

/// One admitted connection's share of the [`Limits`].
pub struct Ticket {
    admission: Admission,
    bytes: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let (conns, memory) = &*self.admission.inner;
        conns.fetch_sub(1, Ordering::SeqCst);
        if let Ok(mut m) = memory.lock() {
            *m = m.saturating_sub(self.bytes);
        }
    }
}

impl Admission {
    /// A ticket for `hello`, or why not.
    pub fn admit(&self, hello: &Hello, limits: &Limits) -> Result<Ticket, AckStatus> {
        let (conns, memory) = &*self.inner;
        let bytes = buffer_bytes(hello);
        let mut used = memory.lock().map_err(|_| AckStatus::Busy)?;
        if conns.load(Ordering::SeqCst) >= limits.max_conns
            || used.saturating_add(bytes) > limits.max_memory
        {
            return Err(AckStatus::Busy);
        }
        *used += bytes;
        conns.fetch_add(1, Ordering::SeqCst);
        Ok(Ticket {
            admission: self.clone(),
            bytes,
        })
    }

    /// Connections being served now.
    pub fn serving(&self) -> usize {
        self.inner.0.load(Ordering::SeqCst)
    }
}

/// A connection whose hello is still coming.
struct Pending {
    stream: TcpStream,
    buf: [u8; HELLO_LEN],
    filled: usize,
    since: Instant,
}

/// What became of a connection at the door.
pub enum Arrival {
    /// A valid hello, admitted: serve it.
    Admitted(TcpStream, Hello, Ticket),
    /// Refused (bad hello, busy) or given up on (silent, closed, reset); already answered.
    Turned(String),
}

/// Let this process open as many files as its hard limit allows (a server holds a socket
/// per peer; the soft limit is often 1024).
pub fn raise_open_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Accept and handshake until `stop`, handing each arrival to `on`. Runs on one thread.
pub fn run(
    listener: &TcpListener,
    limits: Limits,
    admission: &Admission,
    stop: &Stop,
    mut on: impl FnMut(Arrival) -> Result<(), WorkloadError>,
) -> Result<(), WorkloadError> {
    raise_open_files();
    listener
        .set_nonblocking(true)
        .map_err(|e| WorkloadError::io("listener", e))?;
    let mut pending: VecDeque<Pending> = VecDeque::new();
    while !stop.requested() {
        let mut fds: Vec<libc::pollfd> = std::iter::once(listener.as_raw_fd())
            .chain(pending.iter().map(|p| p.stream.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, TICK_MS) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(WorkloadError::io("poll", e));
        }
        // Hellos first (indices shift as entries go, so walk from the back).
        for i in (0..pending.len()).rev() {
            let ready = fds[i + 1].revents != 0;
            let expired = pending[i].since.elapsed() > HELLO_TIMEOUT;
            if !ready && !expired {
                continue;
            }
            if let Some(arrival) = progress(&mut pending[i], expired, admission, &limits) {
                pending.remove(i);
                on(arrival)?;
            }
        }
        if fds[0].revents != 0 {
            accept_all(listener, &mut pending, &mut on)?;
        }
    }
    Ok(())
}

/// Take every connection waiting in the listen queue. When there are too many pending, or
/// no file descriptor is left, the oldest pending connection makes room.
fn accept_all(
    listener: &TcpListener,
    pending: &mut VecDeque<Pending>,
    on: &mut impl FnMut(Arrival) -> Result<(), WorkloadError>,
) -> Result<(), WorkloadError> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if pending.len() >= MAX_PENDING
                    && let Some(old) = pending.pop_front()
                {
                    drop(old);
                    on(Arrival::Turned(
                        "dropped: too many connections without a hello".into(),
                    ))?;
                }
                if stream.set_nonblocking(true).is_ok() {
                    pending.push_back(Pending {
                        stream,
                        buf: [0; HELLO_LEN],
                        filled: 0,
                        since: Instant::now(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                // Out of descriptors: the oldest silent peer goes; with none pending, the
                // served connections hold them all and the queue waits.
                match pending.pop_front() {
                    Some(old) => {
                        drop(old);
                        on(Arrival::Turned("dropped: out of file descriptors".into()))?;
                    }
                    None => return Ok(()),
                }
            }
            Err(e) if is_transient_accept_error(&e) => {}
            Err(e) => return Err(WorkloadError::io("accept", e)),
        }
    }
}

/// Errors accept(2) returns for one connection that died in the queue (man 2 accept).
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EPERM | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Read what a pending connection sent; an arrival once its hello is whole, or it failed.
fn progress(
    p: &mut Pending,
    expired: bool,
    admission: &Admission,
    limits: &Limits,
) -> Option<Arrival> {
    loop {
        match p.stream.read(&mut p.buf[p.filled..]) {
            Ok(0) => return Some(Arrival::Turned("closed before its hello".into())),
            Ok(n) => {
                p.filled += n;
                if p.filled == HELLO_LEN {
                    return Some(decide(p, admission, limits));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return expired.then(|| {
                    Arrival::Turned(format!("no hello within {} s", HELLO_TIMEOUT.as_secs()))
                });
            }
            Err(e) => return Some(Arrival::Turned(format!("read hello: {e}"))),
        }
    }
}

/// A whole hello: admitted, or answered with why not.
fn decide(p: &mut Pending, admission: &Admission, limits: &Limits) -> Arrival {
    let refuse = |p: &mut Pending, status: AckStatus, why: String| {
        // Best effort: the socket is non-blocking and has room for 8 bytes.
        let _ = p.stream.write(&encode_ack(status));
        Arrival::Turned(why)
    };
    let hello = match Hello::decode(&p.buf) {
        Ok(h) => h,
        Err(e) => return refuse(p, AckStatus::BadHello, format!("bad hello: {e}")),
    };
    if hello.mode.uses_uring()
        && let Err(e) = super::uring::available(hello.mode.is_zerocopy())
    {
        return refuse(
            p,
            AckStatus::Unsupported,
            format!("refused --mode {}: {e}", hello.mode),
        );
    }
    match admission.admit(&hello, limits) {
        Ok(ticket) => match p.stream.try_clone().and_then(|s| {
            s.set_nonblocking(false)?;
            Ok(s)
        }) {
            Ok(stream) => Arrival::Admitted(stream, hello, ticket),
            Err(e) => Arrival::Turned(format!("socket: {e}")),
        },
        Err(status) => refuse(
            p,
            status,
            format!(
                "refused {} {} B: {} connections served, limits {} connections / {} bytes of buffers",
                hello.mode,
                hello.size,
                admission.serving(),
                limits.max_conns,
                limits.max_memory
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(mode: Mode, size: u64) -> Hello {
        Hello {
            mode,
            size,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(1),
            tail: Duration::ZERO,
            session: 1,
            timing: crate::workload::timing::CallTiming::EVERY_CALL,
            index: 0,
            conns: 1,
        }
    }

    #[test]
    fn admission_counts_slots_and_bytes_and_gives_them_back() {
        let limits = Limits {
            max_conns: 2,
            max_memory: 3 << 20,
        };
        let a = Admission::default();
        let one = a.admit(&hello(Mode::Onecopy, 1 << 20), &limits).unwrap();
        // Twocopy holds its message and the wire copy: 2 MiB more would make 3 MiB.
        let two = a.admit(&hello(Mode::Twocopy, 1 << 20), &limits).unwrap();
        assert_eq!(a.serving(), 2);
        assert!(a.admit(&hello(Mode::Onecopy, 8), &limits).is_err(), "slots");
        drop(one);
        assert!(
            a.admit(&hello(Mode::Onecopy, 2 << 20), &limits).is_err(),
            "memory: 2 + 2 MiB > 3 MiB"
        );
        let three = a.admit(&hello(Mode::Onecopy, 1 << 20), &limits).unwrap();
        drop((two, three));
        assert_eq!(a.serving(), 0);
        assert!(a.admit(&hello(Mode::Twocopy, 3 << 19), &limits).is_ok());
    }

    #[test]
    fn a_zerocopy_connection_is_charged_its_pool() {
        let h = hello(Mode::Zerocopy, 64 << 10);
        assert_eq!(
            buffer_bytes(&h),
            zerocopy::pool_len(64 << 10) as u64 * (64 << 10)
        );
        assert!(buffer_bytes(&h) >= 2 * (64 << 10));
    }
}
