//! Net family, user side: attach the four tracepoints that count what the network stack does
//! inside a traced call.
//!
//! Hooks (`netcopy-ebpf/src/net.rs`, classic tracepoints, the only method built for them):
//! `tcp:tcp_sendmsg_locked`, `skb:skb_copy_datagram_iovec`, `net:net_dev_xmit`,
//! `net:netif_receive_skb`. Numbers: skbs built, sent and received, and bytes copied to
//! user, per call (the records' `skbs_*` and `bytes_to_user`).

use super::{Intent, ProbeError, Probes};
use crate::model::{HookRecord, Outcome};

/// (program, tracepoint category, tracepoint name).
pub const PROGRAMS: [(&str, &str, &str); 4] = [
    ("tcp_sendmsg_locked", "tcp", "tcp_sendmsg_locked"),
    ("skb_copy_datagram_iovec", "skb", "skb_copy_datagram_iovec"),
    ("net_dev_xmit", "net", "net_dev_xmit"),
    ("netif_receive_skb", "net", "netif_receive_skb"),
];

/// The net hook: classic tracepoints, always there (netcopy mounts tracefs on demand).
pub fn record() -> HookRecord {
    HookRecord::tracepoint_only(
        "net",
        "skbs built, sent, received and bytes copied to user inside a call",
        Outcome::Used,
    )
}

impl Probes {
    pub fn attach_net(&mut self, intent: Intent) -> Result<HookRecord, ProbeError> {
        if intent == Intent::Trace {
            self.attach_tracepoints(&PROGRAMS)?;
        }
        Ok(record())
    }
}
