//! Net family, user side: attach the four hooks that count what the network stack does
//! inside a traced call.
//!
//! Hooks (`netcopy-ebpf/src/net.rs`), the first set that loads and attaches: raw_tp on
//! `tcp_sendmsg_locked`, `skb_copy_datagram_iovec`, `net_dev_xmit` and `netif_receive_skb`
//! ([`RAW`]; `NETCOPY_HIDE=rawtp` hides them), else the classic tracepoints of the same names
//! ([`CLASSIC`]). Numbers: skbs built, sent and received, and bytes copied to user, per call
//! (the records' `skbs_*` and `bytes_to_user`).

use super::{Intent, ProbeError, Probes};
use crate::model::{HookRecord, Method, Outcome, Step, attach::Feature};

/// (program, raw tracepoint) of the raw_tp programs.
pub const RAW: [(&str, &str); 4] = [
    ("raw_tcp_sendmsg_locked", "tcp_sendmsg_locked"),
    ("raw_skb_copy_datagram_iovec", "skb_copy_datagram_iovec"),
    ("raw_net_dev_xmit", "net_dev_xmit"),
    ("raw_netif_receive_skb", "netif_receive_skb"),
];

/// (program, tracepoint category, tracepoint name) of the classic programs.
pub const CLASSIC: [(&str, &str, &str); 4] = [
    ("tcp_sendmsg_locked", "tcp", "tcp_sendmsg_locked"),
    ("skb_copy_datagram_iovec", "skb", "skb_copy_datagram_iovec"),
    ("net_dev_xmit", "net", "net_dev_xmit"),
    ("netif_receive_skb", "net", "netif_receive_skb"),
];

/// The net hook: what came of raw_tp and of the classic tracepoints.
pub fn record(raw: Outcome, classic: Outcome) -> HookRecord {
    HookRecord::new(
        "net",
        "skbs built, sent, received and bytes copied to user inside a call",
        vec![
            Step::new(Method::RawTp, raw),
            Step::new(Method::Tracepoint, classic),
        ],
    )
}

impl Probes {
    /// Attach the raw_tp programs where they load and attach, else the classic ones (a
    /// doctor only loads the raw_tp ones, and unloads them).
    pub fn attach_net(&mut self, intent: Intent) -> Result<HookRecord, ProbeError> {
        let raw = self.try_raw_net(intent == Intent::Trace);
        let classic = self.fall_back(&raw, intent, &CLASSIC)?;
        Ok(record(Outcome::of(raw), classic))
    }

    fn try_raw_net(&mut self, keep: bool) -> Result<(), Outcome> {
        if self.features.is_hidden(Feature::RawTp) {
            return Err(Outcome::Hidden(None));
        }
        self.attach_raw_tps(&RAW, keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_tp_is_chosen_where_it_worked_and_a_refusal_falls_back_with_its_reason() {
        let r = record(Outcome::Used, Outcome::NotNeeded);
        assert_eq!(r.chosen, Some(Method::RawTp));
        assert_eq!(r.fallback(), None);
        let r = record(Outcome::Refused("EPERM".into()), Outcome::Used);
        assert_eq!(r.chosen, Some(Method::Tracepoint));
        assert_eq!(
            r.fallback().as_deref(),
            Some("net: raw_tp refused by the kernel (EPERM) -> tracepoint")
        );
    }

    #[test]
    fn both_sets_hook_the_same_events() {
        let raw: Vec<&str> = RAW.iter().map(|&(_, tp)| tp).collect();
        let classic: Vec<&str> = CLASSIC.iter().map(|&(_, _, tp)| tp).collect();
        assert_eq!(raw, classic);
        for (&(raw, _), &(classic, _, _)) in RAW.iter().zip(&CLASSIC) {
            assert_eq!(raw, format!("raw_{classic}"));
        }
    }
}
