//! The sending side of each copy mode, one message after another until the deadline
//! (MSG_ZEROCOPY in `zerocopy`, the ring modes in `uring`).

use std::time::Instant;

use super::{
    WorkloadError,
    conn::Conn,
    deadline::Deadline,
    message::{Layout, Message},
    stats::{Latency, thread_cpu_ns, thread_switches},
    uring::UringSender,
    zerocopy::{CompletionLog, ZerocopySender},
};
use crate::model::{EndTotals, Mode, Switches, ZerocopyStats};

/// What one sending thread did.
pub struct SenderReport {
    /// Its thread, what it sent, its calls, and its context switches over its whole life
    /// (getrusage, handshake included).
    pub end: EndTotals,
    /// Latency of the data send calls that started inside the window; `None` when the calls
    /// were not timed (`--no-latency`).
    pub latency: Option<Latency>,
    pub zerocopy: Option<ZerocopyStats>,
}

/// Send messages numbered from 1 until `deadline` or a stop request, then close the write
/// side. Zerocopy waits for every completion before closing, and hands each notification to
/// `log` if there is one.
pub fn send_messages(
    mut conn: Conn,
    mode: Mode,
    layout: &Layout,
    deadline: Instant,
    log: Option<CompletionLog>,
    started: Switches,
) -> Result<SenderReport, WorkloadError> {
    let tid = super::gettid();
    let cpu_start = thread_cpu_ns();
    let mut seq = 0u64;
    let mut setup_switches = Switches::default();
    let mut deadline = Deadline::new(&conn, deadline, layout.size());
    let mut more = |conn: &Conn| !deadline.passed(conn) && !conn.stop().requested();
    let zerocopy = match mode {
        Mode::Twocopy => {
            let mut message = Message::new(layout);
            let mut wire = vec![0u8; layout.size()];
            while more(&conn) {
                seq += 1;
                message.set_seq(seq);
                // The extra copy this mode exists to measure.
                message.serialize_into(&mut wire);
                conn.send_all(&wire)
                    .map_err(|e| WorkloadError::io("send", e))?;
            }
            None
        }
        Mode::Onecopy => {
            let mut message = Message::new(layout);
            while more(&conn) {
                seq += 1;
                message.set_seq(seq);
                let mut iov = message.iovecs();
                conn.sendmsg_all(&mut iov)
                    .map_err(|e| WorkloadError::io("sendmsg", e))?;
            }
            None
        }
        Mode::Zerocopy => {
            let mut zc = ZerocopySender::new(&conn, layout, log)?;
            while more(&conn) {
                seq += 1;
                zc.send_message(&mut conn, seq)?;
            }
            zc.drain(&mut conn)?;
            Some(std::mem::take(&mut zc.stats))
        }
        Mode::Uring | Mode::Uringzc => {
            let before = thread_switches();
            let mut ring = UringSender::new(layout, mode == Mode::Uringzc)?;
            setup_switches = thread_switches().since(before);
            while more(&conn) {
                seq += 1;
                ring.send_message(&mut conn, seq)?;
            }
            ring.drain(&mut conn)?;
            ring.stats
        }
    };
    // The peer sees a clean end of stream at a message boundary.
    let _ = conn.stream().shutdown(std::net::Shutdown::Write);
    Ok(SenderReport {
        end: EndTotals {
            tid,
            bytes: seq * layout.size() as u64,
            messages: seq,
            calls: conn.calls,
            timed_calls: conn.timed_calls,
            switches: thread_switches().since(started),
            setup_switches,
            cpu_ns: thread_cpu_ns().saturating_sub(cpu_start),
        },
        latency: conn.take_latency(),
        zerocopy,
    })
}
