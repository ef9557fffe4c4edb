//! One TCP connection of the workload: every syscall on it goes through here, so the
//! workload counts its own calls exactly (the count the eBPF probes are checked against) and
//! times each data call into a latency histogram.

use std::{
    io,
    net::TcpStream,
    os::fd::{AsRawFd, RawFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    clock::{self, Clock},
    stats::{Latency, Window},
    sys,
    timing::{CallTiming, Picker},
};
use crate::model::CallCounts;

/// How long a blocked send or receive waits before it looks at the stop flag again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// After a stop request, how long a half-sent or half-read message may take to finish.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// A connection whose peer lets a message sit this long without progress is given up.
pub const PEER_STALL: Duration = Duration::from_secs(30);

/// A stop request shared by every thread of a run (Ctrl-C, SIGTERM, or a failed peer).
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    #[inline]
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `window` on `clock`.
fn on(clock: &Clock, window: Window) -> (clock::Instant, clock::Instant) {
    (clock.from_std(window.start), clock.from_std(window.end))
}

/// What a read loop found at a message boundary.
#[derive(Debug, PartialEq, Eq)]
pub enum Filled {
    /// The buffer is full.
    Full,
    /// The peer closed (or a stop was requested) before the first byte of the buffer.
    Closed,
}

pub struct Conn {
    stream: TcpStream,
    fd: RawFd,
    pub calls: CallCounts,
    pub latency: Latency,
    /// Data calls the picker timed, inside the window or not: over `calls`, the share of
    /// calls timed, whatever the window's edges hold.
    pub timed_calls: u64,
    /// The measurement window on `clock`: calls that start inside it are timed.
    window: (clock::Instant, clock::Instant),
    stop: Stop,
    clock: Clock,
    /// When the latest timed data call started (raw `clock` reading): where every call is
    /// timed, the loops read this instead of a clock of their own.
    last_start: u64,
    /// Which data calls are timed into `latency` (`--latency-sample`, `--no-latency`).
    picker: Picker,
}

/// Where a loop that must finish a message stands: stalled since when, if it is. The clock
/// is not read for this on the way through: a failed call takes the start of the first
/// failed call since the last progress from [`Conn::call_start`], which the call's own
/// timing has read anyway.
#[derive(Default)]
pub struct Stall(Option<u64>);

impl Stall {
    /// A call moved bytes.
    #[inline]
    pub fn progress(&mut self) {
        self.0 = None;
    }

    /// A call failed: since when the loop has made no progress.
    pub fn since(&mut self, conn: &Conn) -> Instant {
        let raw = *self.0.get_or_insert_with(|| conn.call_start());
        conn.clock.to_std(conn.clock.scaled(raw))
    }
}

impl Conn {
    /// Wrap a connected socket. Blocking calls wake every [`POLL_INTERVAL`] to check `stop`.
    pub fn new(stream: TcpStream, window: Window, stop: Stop) -> io::Result<Self> {
        stream.set_read_timeout(Some(POLL_INTERVAL))?;
        stream.set_write_timeout(Some(POLL_INTERVAL))?;
        let fd = stream.as_raw_fd();
        let clock = Clock::new();
        Ok(Self {
            stream,
            fd,
            calls: CallCounts::default(),
            latency: Latency::new(),
            timed_calls: 0,
            window: on(&clock, window),
            stop,
            last_start: clock.raw(),
            picker: Picker::new(CallTiming::EVERY_CALL, clock.raw()),
            clock,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// The start of the latest data call as a raw clock reading, when every call is timed.
    #[inline]
    pub(super) fn latest_start(&self) -> Option<u64> {
        self.picker.timing().every_call().then_some(self.last_start)
    }

    /// The start of the latest data call as a raw clock reading, or the clock now when not
    /// every call is timed.
    #[inline]
    fn call_start(&self) -> u64 {
        self.latest_start().unwrap_or_else(|| self.clock.raw())
    }

    /// Which data calls to time from now on (every call until this is called): two clock
    /// reads a timed call. `timed_calls` counts from here, so the handshake is not in it.
    pub fn set_call_timing(&mut self, timing: CallTiming) {
        self.timed_calls = 0;
        self.picker = Picker::new(timing, self.clock.raw() ^ u64::from(self.fd as u32));
    }

    /// The latency of the timed calls so far, taken out; `None` when no call is timed
    /// (nothing was measured, which is not the same as no calls).
    pub fn take_latency(&mut self) -> Option<Latency> {
        let timed = self.picker.timing().one_in().is_some();
        timed.then(|| std::mem::take(&mut self.latency))
    }

    /// The connection's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn set_window(&mut self, window: Window) {
        self.window = on(&self.clock, window);
    }

    /// The stop flag the connection obeys from now on. The handshake runs under a flag of
    /// its own (bounded by timeouts instead), so that a stop request during setup still
    /// ends with both ends' reports: the data loop then stops at once.
    pub fn set_stop(&mut self, stop: Stop) {
        self.stop = stop;
    }

    /// Run one syscall, time it when it starts inside the window, and turn -1 into errno.
    #[inline]
    fn timed(&mut self, call: impl FnOnce(RawFd) -> isize) -> io::Result<usize> {
        self.timing(|fd| {
            let r = call(fd);
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r as usize)
            }
        })
    }

    /// Run `call` (a data call on the socket) and time it when the picker picks it and it
    /// starts inside the window.
    #[inline]
    pub fn timing<T>(&mut self, call: impl FnOnce(RawFd) -> T) -> T {
        if !self.picker.time_next() {
            return call(self.fd);
        }
        self.timed_calls += 1;
        let t0 = self.clock.raw();
        self.last_start = t0;
        let result = call(self.fd);
        let t1 = self.clock.raw();
        let at = self.clock.scaled(t0);
        if at >= self.window.0 && at < self.window.1 {
            self.latency.record(self.clock.ns_between(t0, t1));
        }
        result
    }

    /// One `io_uring_enter(2)` made by `enter` (submitting, waiting, or both), counted and
    /// timed as a data call.
    #[inline]
    pub fn uring_enter(&mut self, enter: impl FnOnce() -> io::Result<usize>) -> io::Result<usize> {
        self.calls.uring_enter += 1;
        self.timing(|_| enter())
    }

    /// One `send(2)` (the data calls are raw syscalls: [`sys`]).
    #[inline]
    pub fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls.sendto += 1;
        // SAFETY: buf is a valid readable slice for its length.
        self.timed(|fd| unsafe { sys::send(fd, buf.as_ptr(), buf.len(), libc::MSG_NOSIGNAL) })
    }

    /// One `sendmsg(2)` over `iov`.
    #[inline]
    pub fn sendmsg(&mut self, iov: &[libc::iovec], flags: i32) -> io::Result<usize> {
        self.calls.sendmsg += 1;
        let msg = msghdr(iov.as_ptr().cast_mut(), iov.len());
        // SAFETY: msg points at iovecs describing live buffers owned by the caller.
        self.timed(|fd| unsafe { sys::sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL) })
    }

    /// One `recv(2)`.
    #[inline]
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls.recvfrom += 1;
        // SAFETY: buf is a valid writable slice for its length.
        self.timed(|fd| unsafe { sys::recv(fd, buf.as_mut_ptr(), buf.len(), 0) })
    }

    /// One `recvmsg(2)` into `iov`.
    #[inline]
    pub fn recvmsg(&mut self, iov: &mut [libc::iovec]) -> io::Result<usize> {
        self.calls.recvmsg += 1;
        let mut msg = msghdr(iov.as_mut_ptr(), iov.len());
        // SAFETY: msg points at iovecs describing live writable buffers owned by the caller.
        self.timed(|fd| unsafe { sys::recvmsg(fd, &mut msg, 0) })
    }

    /// Decide what to do after a failed call in a loop that must finish a message:
    /// `Ok(())` means try again, `Err` ends the loop.
    pub fn retry(&self, err: io::Error, stalled_since: Instant) -> io::Result<()> {
        match err.kind() {
            io::ErrorKind::Interrupted => Ok(()),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                if self.stop.requested() && stalled_since.elapsed() > STOP_GRACE {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer made no progress for 3 s after the stop request",
                    ))
                } else if stalled_since.elapsed() > PEER_STALL {
                    // A peer that stopped reading (or sending) mid-message would otherwise
                    // hold this connection's thread and buffers for as long as it likes.
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "peer made no progress for {} s mid-message",
                            PEER_STALL.as_secs()
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Err(err),
        }
    }

    /// Send all of `buf` with `send(2)`, however many calls it takes.
    pub fn send_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let mut stall = Stall::default();
        while !buf.is_empty() {
            match self.send(buf) {
                Ok(n) => {
                    buf = &buf[n..];
                    stall.progress();
                }
                Err(e) => self.retry(e, stall.since(self))?,
            }
        }
        Ok(())
    }

    /// Send everything `iov` describes with `sendmsg(2)`; a partial call consumes what it
    /// sent from `iov`.
    pub fn sendmsg_all(&mut self, iov: &mut [libc::iovec]) -> io::Result<()> {
        let mut left: usize = iov.iter().map(|v| v.iov_len).sum();
        let mut first = skip_empty(iov, 0);
        let mut stall = Stall::default();
        while left > 0 {
            match self.sendmsg(&iov[first..], 0) {
                // The common case: one call took the rest, so no entry needs walking.
                Ok(n) if n >= left => return Ok(()),
                Ok(n) => {
                    left -= n;
                    first = advance(iov, first, n);
                    stall.progress();
                }
                Err(e) => self.retry(e, stall.since(self))?,
            }
        }
        Ok(())
    }

    /// Fill `buf` with `recv(2)`. `on_bytes` sees the bytes of every call.
    pub fn recv_exact(
        &mut self,
        buf: &mut [u8],
        on_bytes: impl FnMut(usize),
    ) -> io::Result<Filled> {
        let total = buf.len();
        self.fill(total, |conn, at| conn.recv(&mut buf[at..]), on_bytes)
    }

    /// Fill everything `iov` describes with `recvmsg(2)`; a partial call consumes what it
    /// filled from `iov`.
    /// `on_bytes` sees the bytes of every call.
    pub fn recvmsg_exact(
        &mut self,
        iov: &mut [libc::iovec],
        on_bytes: impl FnMut(usize),
    ) -> io::Result<Filled> {
        let total = iov.iter().map(|v| v.iov_len).sum();
        let mut first = skip_empty(iov, 0);
        let call = |conn: &mut Self, at| {
            let n = conn.recvmsg(&mut iov[first..])?;
            // A call that filled the rest leaves nothing to walk.
            if at + n < total {
                first = advance(iov, first, n);
            }
            Ok(n)
        };
        self.fill(total, call, on_bytes)
    }

    /// Receive `total` bytes with `call` (given the bytes so far), retrying as [`Self::retry`]
    /// says. A close or a stop request before the first byte is a clean end.
    fn fill(
        &mut self,
        total: usize,
        mut call: impl FnMut(&mut Self, usize) -> io::Result<usize>,
        mut on_bytes: impl FnMut(usize),
    ) -> io::Result<Filled> {
        let mut at = 0;
        let mut stall = Stall::default();
        while at < total {
            match call(self, at) {
                Ok(0) => return closed_at(at),
                Ok(n) => {
                    at += n;
                    on_bytes(n);
                    stall.progress();
                }
                Err(e) => {
                    if at == 0 && self.stop.requested() && is_timeout(&e) {
                        return Ok(Filled::Closed);
                    }
                    let since = stall.since(self);
                    self.retry(e, since)?
                }
            }
        }
        Ok(Filled::Full)
    }

    /// `poll(2)` for the error queue (POLLERR is always reported), counted.
    pub fn poll_err(&mut self, timeout: Duration) -> io::Result<bool> {
        self.calls.poll += 1;
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: 0,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        Ok(r > 0 && pfd.revents & libc::POLLERR != 0)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn closed_at(at: usize) -> io::Result<Filled> {
    if at == 0 {
        Ok(Filled::Closed)
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("peer closed the connection {at} bytes into a message"),
        ))
    }
}

pub(crate) fn msghdr(iov: *mut libc::iovec, len: usize) -> libc::msghdr {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = len as _;
    msg
}

fn skip_empty(iov: &[libc::iovec], mut first: usize) -> usize {
    while first < iov.len() && iov[first].iov_len == 0 {
        first += 1;
    }
    first
}

/// Consume `n` bytes from `iov[first..]` and return the index of the first unfinished entry.
pub fn advance(iov: &mut [libc::iovec], mut first: usize, mut n: usize) -> usize {
    while n > 0 && first < iov.len() {
        let take = n.min(iov[first].iov_len);
        // SAFETY: `take` is within the entry, so the pointer stays inside its buffer.
        iov[first].iov_base = unsafe { iov[first].iov_base.cast::<u8>().add(take) }.cast();
        iov[first].iov_len -= take;
        n -= take;
        if iov[first].iov_len == 0 {
            first += 1;
        }
    }
    skip_empty(iov, first)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// One end of a loopback connection, as a `Conn`, and the other end.
    pub(in crate::workload) fn conn() -> (Conn, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (b, _) = l.accept().expect("accept");
        let now = Instant::now();
        let window = Window::after(now, Duration::ZERO, Duration::from_secs(1));
        (Conn::new(a, window, Stop::default()).expect("conn"), b)
    }

    #[test]
    fn advance_walks_across_entries() {
        let mut a = [0u8; 4];
        let mut b = [0u8; 0];
        let mut c = [0u8; 6];
        let mut iov = [
            libc::iovec {
                iov_base: a.as_mut_ptr().cast(),
                iov_len: a.len(),
            },
            libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            },
            libc::iovec {
                iov_base: c.as_mut_ptr().cast(),
                iov_len: c.len(),
            },
        ];
        let first = advance(&mut iov, 0, 3);
        assert_eq!((first, iov[0].iov_len), (0, 1));
        let first = advance(&mut iov, first, 2);
        assert_eq!((first, iov[2].iov_len), (2, 5));
        assert_eq!(iov[2].iov_base as usize, c.as_ptr() as usize + 1);
        assert_eq!(advance(&mut iov, first, 5), 3);
    }

    /// `len` bytes per field, 8 fields, each field a different run of bytes.
    fn fields(len: usize) -> Vec<Vec<u8>> {
        (0..8u8)
            .map(|f| (0..len).map(|i| (i as u8).wrapping_mul(7) ^ f).collect())
            .collect()
    }

    fn iovecs(fields: &mut [Vec<u8>]) -> Vec<libc::iovec> {
        fields
            .iter_mut()
            .map(|f| libc::iovec {
                iov_base: f.as_mut_ptr().cast(),
                iov_len: f.len(),
            })
            .collect()
    }

    #[test]
    fn sendmsg_all_sends_every_byte_in_one_call_or_in_many() {
        use std::io::Read;
        // 1 KiB fits the socket buffer: one call. 8 MiB does not, and the reader stops for
        // longer than the send timeout after its first read, so a call comes back partial and
        // the rest is sent from where it stopped.
        for (len, one_call) in [(128, true), (1 << 20, false)] {
            let (mut conn, mut peer) = conn();
            let mut data = fields(len);
            let want: Vec<u8> = data.concat();
            peer.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut chunk = [0u8; 4096];
                while got.len() < 8 * len {
                    let n = peer.read(&mut chunk).expect("read");
                    assert!(n > 0, "closed early");
                    if got.is_empty() {
                        std::thread::sleep(POLL_INTERVAL * 2);
                    }
                    got.extend_from_slice(&chunk[..n]);
                }
                got
            });
            conn.sendmsg_all(&mut iovecs(&mut data))
                .expect("sendmsg_all");
            assert_eq!(reader.join().expect("reader"), want, "{len}-byte fields");
            assert_eq!(conn.calls.sendmsg == 1, one_call, "{:?}", conn.calls);
        }
    }

    #[test]
    fn recvmsg_exact_fills_every_field_from_one_call_or_many() {
        use std::io::Write;
        for (len, pieces) in [(128, 1), (1000, 16)] {
            let (mut conn, mut peer) = conn();
            let want: Vec<u8> = fields(len).concat();
            let sent = want.clone();
            // Pieces written 20 ms apart arrive as separate calls' worth.
            let writer = std::thread::spawn(move || {
                for piece in sent.chunks(sent.len().div_ceil(pieces)) {
                    peer.write_all(piece).expect("write");
                    std::thread::sleep(Duration::from_millis(20));
                }
                peer
            });
            let mut got = vec![vec![0u8; len]; 8];
            let mut seen = 0;
            let filled = conn
                .recvmsg_exact(&mut iovecs(&mut got), |n| seen += n)
                .expect("recvmsg_exact");
            let _peer = writer.join().expect("writer");
            assert_eq!(filled, Filled::Full);
            assert_eq!((got.concat(), seen), (want, 8 * len), "{len}-byte fields");
            assert!(conn.calls.recvmsg >= pieces as u64, "{:?}", conn.calls);
        }
    }
}
