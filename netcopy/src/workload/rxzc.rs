//! The `--rx zerocopy` receiver: getsockopt(TCP_ZEROCOPY_RECEIVE) maps whole pages of
//! received data into an area mmap'd from the socket, and the bytes are checked where they
//! lie; what the kernel cannot map (less than a page queued, or data not in whole pages:
//! `recv_skip_hint`) is read with recv(2). Mapped and copied bytes are counted apart and add
//! up to the bytes received (Documentation/networking/tcp_mmap in the kernel's selftests
//! shows the same loop).

use std::{io, time::Instant};

use super::{
    WorkloadError,
    conn::{Conn, PEER_STALL, POLL_INTERVAL},
    message::{Layout, StreamCheck},
    receiver::{ReceiverReport, Verify},
    stats::{Progress, thread_cpu_ns, thread_switches},
};
use crate::model::{EndTotals, RxZerocopyStats, Switches};

/// getsockopt level IPPROTO_TCP, option TCP_ZEROCOPY_RECEIVE (include/uapi/linux/tcp.h).
const TCP_ZEROCOPY_RECEIVE: libc::c_int = 35;
/// The receive area: up to this many bytes are mapped per call.
const AREA_BYTES: usize = 2 << 20;
/// The most one recv(2) of unmappable bytes reads.
const COPY_BYTES: usize = 64 << 10;

/// `struct tcp_zerocopy_receive` (include/uapi/linux/tcp.h, Linux 5.11 and later).
#[repr(C)]
#[derive(Default)]
struct ZerocopyReceive {
    address: u64,
    length: u32,
    recv_skip_hint: u32,
    inq: u32,
    err: i32,
    copybuf_address: u64,
    copybuf_len: i32,
    flags: u32,
    msg_control: u64,
    msg_controllen: u64,
    msg_flags: u32,
    reserved: u32,
}
const _: () = assert!(std::mem::size_of::<ZerocopyReceive>() == 64);

/// The area mmap'd from the socket, unmapped when dropped.
struct Area {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Area {
    fn map(fd: libc::c_int) -> io::Result<Self> {
        // SAFETY: a new shared read-only mapping of the socket; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                AREA_BYTES,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            ptr,
            len: AREA_BYTES,
        })
    }

    /// The first `n` bytes the latest call mapped.
    fn bytes(&self, n: usize) -> &[u8] {
        // SAFETY: the kernel mapped `n <= len` readable bytes at the start of the area; they
        // stay until the next call on the socket, which needs `&mut` of the receiver.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), n.min(self.len)) }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// One getsockopt(TCP_ZEROCOPY_RECEIVE) into `area`, timed as a data call.
fn map_some(conn: &mut Conn, area: &Area) -> io::Result<ZerocopyReceive> {
    let mut zc = ZerocopyReceive {
        address: area.ptr as u64,
        length: area.len as u32,
        ..Default::default()
    };
    let mut len = std::mem::size_of::<ZerocopyReceive>() as libc::socklen_t;
    // SAFETY: zc and len describe a valid, writable tcp_zerocopy_receive.
    let r = conn.timing(|fd| unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            TCP_ZEROCOPY_RECEIVE,
            (&raw mut zc).cast(),
            &mut len,
        )
    });
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if zc.err != 0 {
        return Err(io::Error::from_raw_os_error(zc.err));
    }
    Ok(zc)
}

/// Wait up to [`POLL_INTERVAL`] for data; `Some(0)` when the peer has closed (readable with
/// nothing queued), `Some(n)` with `n` bytes queued, `None` on timeout.
fn wait_readable(conn: &Conn) -> io::Result<Option<usize>> {
    let mut pfd = libc::pollfd {
        fd: conn.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, POLL_INTERVAL.as_millis() as i32) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(None)
        } else {
            Err(e)
        };
    }
    if r == 0 {
        return Ok(None);
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD (SIOCINQ) writes one int.
    if unsafe { libc::ioctl(conn.fd(), libc::FIONREAD, &mut queued) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(queued.max(0) as usize))
}

/// Receive until the peer closes at a message boundary (or a stop request), mapping what
/// the kernel maps and copying the rest.
pub fn receive_mapped(
    mut conn: Conn,
    layout: &Layout,
    verify: Verify,
    progress: &Progress,
    started: Switches,
) -> Result<ReceiverReport, WorkloadError> {
    let tid = super::gettid();
    let cpu_start = thread_cpu_ns();
    let area = Area::map(conn.fd())
        .map_err(|e| WorkloadError::io("mmap the receive area (TCP_ZEROCOPY_RECEIVE)", e))?;
    let mut got = Received {
        check: StreamCheck::new(layout, verify == Verify::Yes),
        bytes: 0,
        messages: 0,
        progress,
    };
    let mut scratch = vec![0u8; COPY_BYTES];
    let mut stats = RxZerocopyStats::default();
    let mut last_progress = Instant::now();
    loop {
        stats.calls += 1;
        let zc = match map_some(&mut conn, &area) {
            Ok(zc) => zc,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Nothing queued and the peer has closed (tcp_zerocopy_receive's -EIO).
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => return Err(WorkloadError::io("getsockopt(TCP_ZEROCOPY_RECEIVE)", e)),
        };
        if zc.length > 0 {
            stats.mapping_calls += 1;
            got.take(area.bytes(zc.length as usize), &mut stats.mapped_bytes)?;
            last_progress = Instant::now();
        }
        if zc.recv_skip_hint > 0 {
            let want = (zc.recv_skip_hint as usize).min(COPY_BYTES);
            match conn.recv(&mut scratch[..want]) {
                Ok(0) => break,
                Ok(n) => {
                    got.take(&scratch[..n], &mut stats.copied_bytes)?;
                    last_progress = Instant::now();
                }
                Err(e) if is_retry(&e) => {}
                Err(e) => return Err(WorkloadError::io("recv", e)),
            }
        }
        if zc.length > 0 || zc.recv_skip_hint > 0 {
            continue;
        }
        match wait_readable(&conn).map_err(|e| WorkloadError::io("poll", e))? {
            // Readable with nothing queued: the peer closed.
            Some(0) => break,
            Some(_) => {}
            None if conn.stop().requested() && got.check.at_boundary() => break,
            None if last_progress.elapsed() > PEER_STALL => {
                return Err(WorkloadError::io(
                    "receive",
                    io::Error::new(io::ErrorKind::TimedOut, "peer made no progress for 30 s"),
                ));
            }
            None => {}
        }
    }
    if !got.check.at_boundary() {
        return Err(WorkloadError::io(
            "receive",
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection inside a message",
            ),
        ));
    }
    Ok(ReceiverReport {
        end: EndTotals {
            tid,
            bytes: got.bytes,
            messages: got.messages,
            calls: conn.calls,
            timed_calls: conn.timed_calls,
            switches: thread_switches().since(started),
            setup_switches: Switches::default(),
            cpu_ns: thread_cpu_ns().saturating_sub(cpu_start),
        },
        latency: conn.take_latency(),
        verified: verify == Verify::Yes,
        rx_zerocopy: Some(stats),
    })
}

/// What the receiver has taken so far, published as it goes.
struct Received<'a> {
    check: StreamCheck,
    bytes: u64,
    messages: u64,
    progress: &'a Progress,
}

impl Received<'_> {
    /// The next `piece` of the stream, counted also in `counter` (mapped or copied).
    fn take(&mut self, piece: &[u8], counter: &mut u64) -> Result<(), WorkloadError> {
        self.messages += self.check.feed(piece)?;
        *counter += piece.len() as u64;
        self.bytes += piece.len() as u64;
        self.progress.publish_bytes(self.bytes);
        self.progress.publish_messages(self.messages);
        Ok(())
    }
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
