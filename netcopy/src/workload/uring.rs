//! io_uring sending, one ring per connection: IORING_OP_SEND of the serialized message
//! (`uring`), and IORING_OP_SEND_ZC with IORING_SEND_ZC_REPORT_USAGE (`uringzc`).
//!
//! Both serialize the 8 fields into one buffer per message, as twocopy does: a send request
//! takes one buffer. One send request is in flight at a time, so the bytes stay in order and a
//! short send is finished by the next request, as a short `send(2)` would be.
//!
//! SEND_ZC posts two CQEs per request: its result (with IORING_CQE_F_MORE when a notification
//! will follow) and, once the kernel has let go of the pages, a notification
//! (IORING_CQE_F_NOTIF) whose result carries IORING_NOTIF_USAGE_ZC_COPIED if the kernel copied
//! after all. The pool's buffers are registered with the ring (IORING_RECVSEND_FIXED_BUF), so
//! requests skip pinning the user pages; a buffer is rewritten only after the notification of
//! every request that read it.

use std::{
    io,
    time::{Duration, Instant},
};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
// The io-uring crate keeps its copies of these private; the probes read the same ones.
use netcopy_common::uring::{NOTIF_USAGE_ZC_COPIED, SEND_ZC_REPORT_USAGE};

use super::{
    WorkloadError,
    conn::Conn,
    message::{Layout, Message},
    zerocopy::pool_len,
};
use crate::model::ZerocopyStats;

/// How long one `io_uring_enter` waits before the loop looks at the stop flag again.
const WAIT: Duration = Duration::from_millis(200);
/// How long the sender waits for outstanding notifications at the end, and for a free buffer.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Submission queue entries: one send is in flight at a time.
const SQ_ENTRIES: u32 = 8;
/// Flags of every send request: no SIGPIPE, and the kernel finishes a short send itself.
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL | libc::MSG_WAITALL;

/// Why the uring modes cannot run here.
#[derive(Debug, thiserror::Error)]
pub enum UringError {
    #[error("io_uring is hidden by NETCOPY_HIDE=io_uring")]
    Hidden,
    #[error("io_uring_setup failed: {0} (kernel.io_uring_disabled is {1})")]
    Setup(io::Error, String),
    #[error("this kernel's io_uring has no {0} (needs Linux 6.0 or later)")]
    Opcode(&'static str),
}

/// Check that this kernel and process can run `zerocopy` or plain uring sends, before any
/// connection is made. `NETCOPY_HIDE=io_uring` makes it fail, as a kernel without io_uring
/// would.
pub fn available(zerocopy: bool) -> Result<(), UringError> {
    let hidden = std::env::var("NETCOPY_HIDE").unwrap_or_default();
    if hidden.split(',').any(|w| w.trim() == "io_uring") {
        return Err(UringError::Hidden);
    }
    let ring = new_ring(SQ_ENTRIES)?;
    let mut probe = io_uring::Probe::new();
    // A kernel too old to probe (before 5.6) has neither opcode.
    let probed = ring.submitter().register_probe(&mut probe).is_ok();
    let (code, name) = if zerocopy {
        (opcode::SendZc::CODE, "IORING_OP_SEND_ZC")
    } else {
        (opcode::Send::CODE, "IORING_OP_SEND")
    };
    if !probed || !probe.is_supported(code) {
        return Err(UringError::Opcode(name));
    }
    Ok(())
}

/// A ring for the calling thread only. IORING_SETUP_DEFER_TASKRUN (with SINGLE_ISSUER, Linux
/// 6.1 and later) runs the ring's task work (retried sends, notifications) inside
/// io_uring_enter when it waits, instead of on the way back to user space after the
/// syscall has ended: so the traced io_uring_enter calls hold all of it, and its stages are
/// the call's. Where the kernel refuses the flags, the ring is made without them.
fn new_ring(entries: u32) -> Result<IoUring, UringError> {
    // Room for a notification of every pool buffer besides the send results.
    let cq = 2 * entries + 2 * pool_len(1) as u32;
    IoUring::builder()
        .setup_cqsize(cq)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries)
        .or_else(|_| IoUring::builder().setup_cqsize(cq).build(entries))
        .map_err(|e| {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned());
            UringError::Setup(e, sysctl)
        })
}

/// One connection's ring and message buffers.
pub struct UringSender {
    // Declared first so that it is dropped (cancelling what is in flight) before the buffers.
    ring: IoUring,
    /// Serialized messages: one for `uring`, a pool for `uringzc`.
    pool: Vec<Box<[u8]>>,
    message: Message,
    zerocopy: bool,
    /// Notifications still owed per pool buffer (SEND_ZC).
    owed: Vec<i32>,
    next: usize,
    /// Counts of SEND_ZC (null for `uring`).
    pub stats: Option<ZerocopyStats>,
}

impl UringSender {
    /// A ring for `conn` and its buffers; `zerocopy` sends with SEND_ZC from a registered pool.
    pub fn new(layout: &Layout, zerocopy: bool) -> Result<Self, WorkloadError> {
        let ring = new_ring(SQ_ENTRIES).map_err(WorkloadError::Uring)?;
        let count = if zerocopy { pool_len(layout.size()) } else { 1 };
        let pool: Vec<Box<[u8]>> = (0..count)
            .map(|_| vec![0u8; layout.size()].into_boxed_slice())
            .collect();
        let stats = zerocopy.then(|| {
            let iov: Vec<libc::iovec> = pool
                .iter()
                .map(|b| libc::iovec {
                    iov_base: b.as_ptr().cast_mut().cast(),
                    iov_len: b.len(),
                })
                .collect();
            // SAFETY: the buffers live in `pool` as long as the ring (dropped first) and
            // never move (boxed slices).
            let fixed = unsafe { ring.submitter().register_buffers(&iov) }.is_ok();
            ZerocopyStats {
                pool: count,
                fixed_buffers: Some(fixed),
                ..Default::default()
            }
        });
        Ok(Self {
            ring,
            owed: vec![0; count],
            pool,
            message: Message::new(layout),
            zerocopy,
            next: 0,
            stats,
        })
    }

    /// Send message `seq`: serialize it into a free buffer and send it with as many requests
    /// as it takes.
    pub fn send_message(&mut self, conn: &mut Conn, seq: u64) -> Result<(), WorkloadError> {
        let buffer = self.free_buffer(conn)?;
        self.message.set_seq(seq);
        // The user-space copy both uring modes make (a send request takes one buffer).
        self.message.serialize_into(&mut self.pool[buffer]);
        let len = self.pool[buffer].len();
        let mut sent = 0;
        let mut since = Instant::now();
        while sent < len {
            let entry = self.request(conn, buffer, sent);
            // SAFETY: the entry points into `pool[buffer]`, which outlives the request: it is
            // not rewritten before the request's result (and, for SEND_ZC, its notification).
            unsafe { self.ring.submission().push(&entry) }
                .map_err(|_| WorkloadError::Uring(UringError::Opcode("free submission entry")))?;
            conn.calls.uring_sends += 1;
            let res = self.wait_result(conn, buffer)?;
            if res > 0 {
                sent += res as usize;
                since = Instant::now();
            } else if res == 0 {
                return Err(WorkloadError::io(
                    "io_uring send",
                    io::Error::new(io::ErrorKind::WriteZero, "the kernel sent 0 bytes"),
                ));
            } else {
                conn.retry(io::Error::from_raw_os_error(-res), since)
                    .map_err(|e| WorkloadError::io("io_uring send", e))?;
            }
        }
        self.next = (buffer + 1) % self.pool.len();
        Ok(())
    }

    /// Wait until every notification has arrived (or time out) before the socket is closed.
    pub fn drain(&mut self, conn: &mut Conn) -> Result<(), WorkloadError> {
        let start = Instant::now();
        while self.owed.iter().any(|&n| n != 0) {
            if start.elapsed() > NOTIFY_TIMEOUT {
                return Err(WorkloadError::Zerocopy(format!(
                    "{} SEND_ZC notifications still missing 10 s after the last send",
                    self.owed.iter().sum::<i32>()
                )));
            }
            self.wait(conn)?;
            self.reap(None);
        }
        Ok(())
    }

    fn request(&self, conn: &Conn, buffer: usize, from: usize) -> squeue::Entry {
        let buf = &self.pool[buffer][from..];
        let fd = types::Fd(conn.fd());
        let len = buf.len() as u32;
        let entry = if self.zerocopy {
            let fixed = self.stats.as_ref().and_then(|s| s.fixed_buffers) == Some(true);
            opcode::SendZc::new(fd, buf.as_ptr(), len)
                .buf_index(fixed.then_some(buffer as u16))
                .flags(SEND_FLAGS)
                .zc_flags(SEND_ZC_REPORT_USAGE)
                .build()
        } else {
            opcode::Send::new(fd, buf.as_ptr(), len)
                .flags(SEND_FLAGS)
                .build()
        };
        entry.user_data(buffer as u64)
    }

    /// The next buffer in round-robin order, waiting for its notifications if needed.
    fn free_buffer(&mut self, conn: &mut Conn) -> Result<usize, WorkloadError> {
        let buffer = self.next;
        if self.owed[buffer] == 0 {
            return Ok(buffer);
        }
        if let Some(s) = self.stats.as_mut() {
            s.pool_waits += 1;
        }
        let start = Instant::now();
        self.reap(None);
        while self.owed[buffer] != 0 {
            if start.elapsed() > NOTIFY_TIMEOUT {
                return Err(WorkloadError::Zerocopy(
                    "no SEND_ZC notification arrived for 10 s".into(),
                ));
            }
            self.wait(conn)?;
            self.reap(None);
        }
        Ok(buffer)
    }

    /// Submit what is queued and wait for the result of the request on `buffer`, taking the
    /// notifications that come with it.
    fn wait_result(&mut self, conn: &mut Conn, buffer: usize) -> Result<i32, WorkloadError> {
        let mut since = Instant::now();
        loop {
            if let Some(res) = self.reap(Some(buffer)) {
                return Ok(res);
            }
            match self.enter(conn) {
                Ok(()) => since = Instant::now(),
                Err(e) if e.raw_os_error() == Some(libc::ETIME) => conn
                    .retry(io::Error::from(io::ErrorKind::TimedOut), since)
                    .map_err(|e| WorkloadError::io("io_uring send", e))?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WorkloadError::io("io_uring_enter", e)),
            }
        }
    }

    /// Wait for any completion, [`WAIT`] at most.
    fn wait(&mut self, conn: &mut Conn) -> Result<(), WorkloadError> {
        match self.enter(conn) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(WorkloadError::io("io_uring_enter", e)),
        }
    }

    /// One `io_uring_enter`: submit what is queued and wait for a completion, [`WAIT`] at most.
    fn enter(&mut self, conn: &mut Conn) -> io::Result<()> {
        let ts = types::Timespec::from(WAIT);
        let args = types::SubmitArgs::new().timespec(&ts);
        let submitter = self.ring.submitter();
        conn.uring_enter(|| submitter.submit_with_args(1, &args))
            .map(drop)
    }

    /// Take every completion waiting on the ring. Returns the result of the send request on
    /// `result_of`, if it was among them.
    fn reap(&mut self, result_of: Option<usize>) -> Option<i32> {
        let cqes: Vec<(u64, i32, u32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result(), c.flags()))
            .collect();
        let mut result = None;
        for (user_data, res, flags) in cqes {
            let buffer = user_data as usize;
            if cqueue::notif(flags) {
                self.owed[buffer] -= 1;
                if let Some(s) = self.stats.as_mut() {
                    s.completed += 1;
                    s.copied += u64::from(res as u32 & NOTIF_USAGE_ZC_COPIED != 0);
                }
                continue;
            }
            // F_MORE: a notification for this request will follow. Counts are signed, so a
            // notification reaped before its request's result still balances.
            if cqueue::more(flags) {
                self.owed[buffer] += 1;
                if let Some(s) = self.stats.as_mut() {
                    s.sends += 1;
                }
            }
            if result_of == Some(buffer) {
                result = Some(res);
            }
        }
        result
    }
}
