//! MSG_ZEROCOPY sending: a pool of message buffers, completions reaped from the socket's
//! error queue, and no buffer rewritten before the kernel says it is done with it.
//!
//! The kernel numbers every successful `sendmsg(MSG_ZEROCOPY)` call on a socket 0, 1, 2, …
//! and reports finished calls as inclusive ranges `ee_info..=ee_data` in
//! `sock_extended_err` messages (origin `SO_EE_ORIGIN_ZEROCOPY`) on the error queue. The
//! code `SO_EE_CODE_ZEROCOPY_COPIED` says the kernel copied the pages after all; over
//! loopback and veth it always does (Documentation/networking/msg_zerocopy.rst).

use std::{
    collections::VecDeque,
    io,
    time::{Duration, Instant},
};

use super::{
    WorkloadError,
    conn::{Conn, advance},
    message::{Layout, Message},
};
use crate::model::ZerocopyStats;

const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;
/// Bytes in flight the pool aims for; it holds 2 to 256 messages.
const POOL_BYTES: usize = 64 << 20;
const POOL_MIN: usize = 2;
const POOL_MAX: usize = 256;
/// How long the sender waits for outstanding completions at the end, and for a free buffer.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(10);

/// What one notification completed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Completed {
    /// Ids not completed before.
    newly: u64,
    /// Send times of the oldest and newest of them.
    first_sent: Option<Instant>,
    last_sent: Option<Instant>,
}

/// One completion notification as the sender reaped it (for `zerocopy.parquet`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionRow {
    pub tid: u32,
    /// The range the kernel reported, `ee_info..=ee_data`.
    pub first_id: u32,
    pub last_id: u32,
    /// Ids of the range not completed by an earlier notification.
    pub newly_completed: u64,
    /// SO_EE_CODE_ZEROCOPY_COPIED was set.
    pub copied: bool,
    pub reaped: std::time::SystemTime,
    /// From the send of the oldest / newest newly completed id to the reaping.
    pub first_send_to_reap_ns: Option<u64>,
    pub last_send_to_reap_ns: Option<u64>,
}

/// Where a sender hands its completion rows, when someone records them: in batches of up to
/// [`LOG_BATCH`] rows, to a reader that polls ([`crate::sink`]'s writer) rather than waits, so
/// a handover never takes the channel's waker lock. A sender that took that lock while the
/// reader was registering itself slept on a futex outside any traced call (several times a
/// second per sender under load, which `netcopy trace` counted as sleeps outside the calls).
pub type CompletionLog = std::sync::mpsc::Sender<Vec<CompletionRow>>;

/// Completion rows a sender collects before handing them over.
pub const LOG_BATCH: usize = 256;

/// Message buffers in the pool of a connection sending `size`-byte messages.
pub fn pool_len(size: usize) -> usize {
    (POOL_BYTES / size.max(1)).clamp(POOL_MIN, POOL_MAX)
}

/// Which pool buffer each outstanding completion id pins.
struct Outstanding {
    /// Id of `owners[0]`.
    base: u32,
    /// Owner buffer and send time of each id from `base`, `None` once completed.
    owners: VecDeque<Option<(usize, Instant)>>,
    /// Ids still outstanding per buffer.
    pins: Vec<u32>,
}

impl Outstanding {
    fn new(pool: usize) -> Self {
        Self {
            base: 0,
            owners: VecDeque::new(),
            pins: vec![0; pool],
        }
    }

    fn sent(&mut self, buffer: usize, at: Instant) {
        self.owners.push_back(Some((buffer, at)));
        self.pins[buffer] += 1;
    }

    /// Mark `lo..=hi` complete. Ids before `base` were completed earlier and are skipped.
    fn complete(&mut self, lo: u32, hi: u32) -> Result<Completed, WorkloadError> {
        // Signed distances from `base`, so ranges work across the u32 wrap.
        let start = i64::from(lo.wrapping_sub(self.base) as i32).max(0) as usize;
        let end = i64::from(hi.wrapping_sub(self.base) as i32);
        if end >= self.owners.len() as i64 {
            return Err(WorkloadError::Zerocopy(format!(
                "completion {lo}..={hi} names ids that were never sent (next id {})",
                self.base.wrapping_add(self.owners.len() as u32)
            )));
        }
        let mut done = Completed::default();
        if end < 0 || (start as i64) > end {
            return Ok(done);
        }
        for slot in self.owners.range_mut(start..=end as usize) {
            if let Some((buffer, at)) = slot.take() {
                self.pins[buffer] -= 1;
                done.newly += 1;
                done.first_sent = Some(done.first_sent.map_or(at, |t: Instant| t.min(at)));
                done.last_sent = Some(done.last_sent.map_or(at, |t: Instant| t.max(at)));
            }
        }
        while let Some(None) = self.owners.front() {
            self.owners.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        Ok(done)
    }

    fn pending(&self) -> usize {
        self.owners.iter().filter(|o| o.is_some()).count()
    }

    fn is_free(&self, buffer: usize) -> bool {
        self.pins[buffer] == 0
    }
}

pub struct ZerocopySender {
    pool: Vec<Message>,
    outstanding: Outstanding,
    next: usize,
    log: Option<CompletionLog>,
    /// Rows not yet handed to `log`.
    rows: Vec<CompletionRow>,
    tid: u32,
    pub stats: ZerocopyStats,
}

/// The last rows go over however the sender ends (drained, or stopped by an error).
impl Drop for ZerocopySender {
    fn drop(&mut self) {
        self.hand_over();
    }
}

impl ZerocopySender {
    /// Turn on SO_ZEROCOPY (failing loudly if the socket refuses) and fill the pool.
    pub fn new(
        conn: &Conn,
        layout: &Layout,
        log: Option<CompletionLog>,
    ) -> Result<Self, WorkloadError> {
        let one: libc::c_int = 1;
        // SAFETY: valid fd and option buffer.
        let r = unsafe {
            libc::setsockopt(
                conn.fd(),
                libc::SOL_SOCKET,
                libc::SO_ZEROCOPY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(WorkloadError::io(
                "setsockopt(SO_ZEROCOPY)",
                io::Error::last_os_error(),
            ));
        }
        let count = pool_len(layout.size());
        Ok(Self {
            pool: (0..count).map(|_| Message::new(layout)).collect(),
            outstanding: Outstanding::new(count),
            next: 0,
            rows: Vec::with_capacity(if log.is_some() { LOG_BATCH } else { 0 }),
            log,
            tid: super::gettid(),
            stats: ZerocopyStats {
                pool: count,
                ..Default::default()
            },
        })
    }

    /// Send one message numbered `seq` from a buffer whose earlier sends have completed.
    pub fn send_message(&mut self, conn: &mut Conn, seq: u64) -> Result<(), WorkloadError> {
        let buffer = self.free_buffer(conn)?;
        let message = &mut self.pool[buffer];
        message.set_seq(seq);
        let mut iov = message.iovecs();
        let mut first = 0;
        let mut since = Instant::now();
        while first < iov.len() {
            match conn.sendmsg(&iov[first..], libc::MSG_ZEROCOPY) {
                Ok(n) => {
                    self.outstanding.sent(buffer, Instant::now());
                    self.stats.sends += 1;
                    first = advance(&mut iov, first, n);
                    since = Instant::now();
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Option memory is full of completion records: reap, then retry.
                    self.stats.enobufs += 1;
                    conn.poll_err(Duration::from_millis(10))
                        .map_err(|e| WorkloadError::io("poll", e))?;
                    self.reap(conn)?;
                    if since.elapsed() > COMPLETION_TIMEOUT {
                        return Err(WorkloadError::Zerocopy(
                            "sendmsg kept failing with ENOBUFS for 10 s".into(),
                        ));
                    }
                }
                Err(e) => conn
                    .retry(e, since)
                    .map_err(|e| WorkloadError::io("sendmsg(MSG_ZEROCOPY)", e))?,
            }
        }
        self.next = (buffer + 1) % self.pool.len();
        Ok(())
    }

    /// Wait until every sent id has completed (or time out) before the socket is closed.
    pub fn drain(&mut self, conn: &mut Conn) -> Result<(), WorkloadError> {
        let start = Instant::now();
        self.reap(conn)?;
        while self.outstanding.pending() > 0 {
            if start.elapsed() > COMPLETION_TIMEOUT {
                return Err(WorkloadError::Zerocopy(format!(
                    "{} sends still had no completion 10 s after the last send",
                    self.outstanding.pending()
                )));
            }
            conn.poll_err(Duration::from_millis(100))
                .map_err(|e| WorkloadError::io("poll", e))?;
            self.reap(conn)?;
        }
        Ok(())
    }

    /// The next buffer in round-robin order, waiting for its completions if needed.
    fn free_buffer(&mut self, conn: &mut Conn) -> Result<usize, WorkloadError> {
        let buffer = self.next;
        if self.outstanding.is_free(buffer) {
            return Ok(buffer);
        }
        self.stats.pool_waits += 1;
        let start = Instant::now();
        self.reap(conn)?;
        while !self.outstanding.is_free(buffer) {
            if start.elapsed() > COMPLETION_TIMEOUT {
                return Err(WorkloadError::Zerocopy(
                    "no zerocopy completion arrived for 10 s".into(),
                ));
            }
            conn.poll_err(Duration::from_millis(100))
                .map_err(|e| WorkloadError::io("poll", e))?;
            self.reap(conn)?;
        }
        Ok(buffer)
    }

    /// Hand the collected rows to the log.
    fn hand_over(&mut self) {
        if let Some(log) = &self.log
            && !self.rows.is_empty()
        {
            let batch = std::mem::replace(&mut self.rows, Vec::with_capacity(LOG_BATCH));
            // A closed log (the recorder went away) only stops the recording.
            let _ = log.send(batch);
        }
    }

    /// Read every notification queued on the error queue.
    fn reap(&mut self, conn: &mut Conn) -> Result<(), WorkloadError> {
        loop {
            match read_notification(conn) {
                Ok(Some(n)) => {
                    let done = self.outstanding.complete(n.lo, n.hi)?;
                    self.stats.completed += done.newly;
                    if n.copied {
                        self.stats.copied += done.newly;
                    }
                    if self.log.is_some() {
                        let now = Instant::now();
                        let since = |t: Option<Instant>| t.map(|t| (now - t).as_nanos() as u64);
                        self.rows.push(CompletionRow {
                            tid: self.tid,
                            first_id: n.lo,
                            last_id: n.hi,
                            newly_completed: done.newly,
                            copied: n.copied,
                            reaped: std::time::SystemTime::now(),
                            first_send_to_reap_ns: since(done.first_sent),
                            last_send_to_reap_ns: since(done.last_sent),
                        });
                        if self.rows.len() == LOG_BATCH {
                            self.hand_over();
                        }
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WorkloadError::io("recvmsg(MSG_ERRQUEUE)", e)),
            }
        }
    }
}

/// One zerocopy notification.
#[derive(Debug, PartialEq, Eq)]
struct Notification {
    lo: u32,
    hi: u32,
    copied: bool,
}

/// One non-blocking `recvmsg(MSG_ERRQUEUE)`: `None` when the queue is empty.
fn read_notification(conn: &mut Conn) -> io::Result<Option<Notification>> {
    conn.calls.errqueue += 1;
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut msg = super::conn::msghdr(std::ptr::null_mut(), 0);
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg describes a valid control buffer and no data buffers.
    let r = unsafe { libc::recvmsg(conn.fd(), &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(e)
        };
    }
    // SAFETY: the kernel filled msg_control; CMSG_* walk it within msg_controllen.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and inside the control buffer.
        let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
        let is_recverr = (level == libc::SOL_IP && kind == libc::IP_RECVERR)
            || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR);
        if is_recverr {
            // SAFETY: IP(V6)_RECVERR control messages carry a sock_extended_err.
            let err: libc::sock_extended_err =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            if err.ee_origin != SO_EE_ORIGIN_ZEROCOPY || err.ee_errno != 0 {
                return Err(io::Error::other(format!(
                    "unexpected error-queue message: origin {} errno {}",
                    err.ee_origin, err.ee_errno
                )));
            }
            return Ok(Some(Notification {
                lo: err.ee_info,
                hi: err.ee_data,
                copied: err.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0,
            }));
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Err(io::Error::other(
        "error-queue message without IP_RECVERR data",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_stay_pinned_until_all_their_ids_complete() {
        let mut o = Outstanding::new(2);
        let t0 = Instant::now();
        o.sent(0, t0); // id 0
        o.sent(0, t0 + Duration::from_micros(5)); // id 1: a partial send of the same message
        o.sent(1, t0 + Duration::from_micros(9)); // id 2
        assert!(!o.is_free(0) && !o.is_free(1));
        assert_eq!(o.complete(0, 0).unwrap().newly, 1);
        assert!(!o.is_free(0), "id 1 still pins buffer 0");
        let two = o.complete(2, 2).unwrap();
        assert_eq!(two.newly, 1);
        assert_eq!(two.first_sent, Some(t0 + Duration::from_micros(9)));
        assert!(o.is_free(1));
        assert_eq!(o.complete(1, 1).unwrap().newly, 1);
        assert!(o.is_free(0));
        assert_eq!(o.pending(), 0);
        assert!(o.owners.is_empty());
        assert_eq!(o.base, 3);
    }

    #[test]
    fn coalesced_and_repeated_ranges_count_once() {
        let mut o = Outstanding::new(4);
        let t0 = Instant::now();
        for (i, b) in [0, 1, 2, 3, 0].into_iter().enumerate() {
            o.sent(b, t0 + Duration::from_micros(i as u64));
        }
        let all = o.complete(0, 4).unwrap();
        assert_eq!(all.newly, 5);
        assert_eq!(all.first_sent, Some(t0));
        assert_eq!(all.last_sent, Some(t0 + Duration::from_micros(4)));
        assert_eq!(o.complete(1, 2).unwrap(), Completed::default());
        assert!(o.complete(5, 5).is_err(), "id 5 was never sent");
    }

    #[test]
    fn ids_wrap_around_u32() {
        let mut o = Outstanding::new(1);
        o.base = u32::MAX - 1;
        for _ in 0..3 {
            o.sent(0, Instant::now());
        }
        assert_eq!(o.complete(u32::MAX - 1, 0).unwrap().newly, 3);
        assert!(o.is_free(0));
        assert_eq!(o.base, 1);
    }
}
