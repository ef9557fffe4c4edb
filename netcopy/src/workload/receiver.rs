//! The receiving side: read whole messages until the sender closes, and check each one.

use serde::Serialize;

use super::{
    WorkloadError,
    conn::{Conn, Filled},
    message::{Layout, Message, Verifier},
    stats::{Latency, Progress, thread_cpu_ns, thread_switches},
};
use crate::model::{EndTotals, Mode, RxZerocopyStats, Switches};

/// What one receiving thread did.
pub struct ReceiverReport {
    /// Its thread, what it received, its calls, and its context switches over its whole
    /// life (getrusage, handshake included).
    pub end: EndTotals,
    /// Latency of the data receive calls that started inside the window; `None` when the
    /// calls were not timed (`--no-latency`).
    pub latency: Option<Latency>,
    /// Every message was checked byte for byte.
    pub verified: bool,
    /// `--rx zerocopy`: what was mapped and what was copied.
    pub rx_zerocopy: Option<RxZerocopyStats>,
}

/// Whether receivers check message content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verify {
    Yes,
    No,
}

/// Receive until the peer closes at a message boundary (or a stop request), publishing
/// progress after every call so the window can be cut from outside.
pub fn receive_messages(
    mut conn: Conn,
    mode: Mode,
    layout: &Layout,
    verify: Verify,
    progress: &Progress,
    started: Switches,
) -> Result<ReceiverReport, WorkloadError> {
    let tid = super::gettid();
    let cpu_start = thread_cpu_ns();
    let mut message = Message::zeroed(layout);
    let mut verifier = (verify == Verify::Yes).then(|| Verifier::new(layout));
    let mut wire = match mode {
        Mode::Twocopy => vec![0u8; layout.size()],
        Mode::Onecopy | Mode::Zerocopy | Mode::Uring | Mode::Uringzc => Vec::new(),
    };
    let mut bytes = 0u64;
    let mut messages = 0u64;
    loop {
        let mut on_bytes = |n: usize| {
            bytes += n as u64;
            progress.publish_bytes(bytes);
        };
        let filled = match mode {
            Mode::Twocopy => conn
                .recv_exact(&mut wire, &mut on_bytes)
                .map_err(|e| WorkloadError::io("recv", e))?,
            Mode::Onecopy | Mode::Zerocopy | Mode::Uring | Mode::Uringzc => {
                let mut iov = message.iovecs();
                conn.recvmsg_exact(&mut iov, &mut on_bytes)
                    .map_err(|e| WorkloadError::io("recvmsg", e))?
            }
        };
        if filled == Filled::Closed {
            break;
        }
        if mode == Mode::Twocopy {
            message.deserialize_from(&wire);
        }
        if let Some(v) = verifier.as_mut() {
            v.check(&message)?;
        }
        messages += 1;
        progress.publish_messages(messages);
    }
    Ok(ReceiverReport {
        end: EndTotals {
            tid,
            bytes,
            messages,
            calls: conn.calls,
            timed_calls: conn.timed_calls,
            switches: thread_switches().since(started),
            setup_switches: Switches::default(),
            cpu_ns: thread_cpu_ns().saturating_sub(cpu_start),
        },
        latency: conn.take_latency(),
        verified: verifier.is_some(),
        rx_zerocopy: None,
    })
}
