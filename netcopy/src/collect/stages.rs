//! The stage classifier: a sampled kernel stack belongs to the stage named by its deepest
//! frame that matches a rule. Leaves are generic (memcpy, spin locks, softirq entry) and
//! match nothing, so the search moves outward to the function that explains them.
//!
//! The rules are data ([`RULES`]). One rule has a condition: the copy_user/rep_movs family
//! counts as `copy_user_to_skb` only under `tcp_sendmsg_locked`; elsewhere the search goes on
//! (under `_copy_to_iter` it finds `copy_skb_to_user`).
//!
//! Interrupts: the CPU clock cannot fire with interrupts off, so samples pile up where they
//! are switched back on (`_raw_spin_unlock_irqrestore`, `handle_softirqs`). A timer interrupt
//! that ran no network work matches nothing and the sample goes to the interrupted code; one
//! that ran the receive path (`net_rx_action` and below) goes to `rx_softirq`.

use netcopy_common::stage::Stage;
use thiserror::Error;

/// How a rule matches a frame name.
enum Match {
    Exact(&'static str),
    Prefix(&'static str),
}

/// One row of the table.
struct Rule {
    stage: Stage,
    frame: Match,
    /// A frame that must appear further out for the rule to apply.
    under: Option<&'static str>,
}

const fn exact(stage: Stage, name: &'static str) -> Rule {
    Rule {
        stage,
        frame: Match::Exact(name),
        under: None,
    }
}

const fn prefix(stage: Stage, name: &'static str) -> Rule {
    Rule {
        stage,
        frame: Match::Prefix(name),
        under: None,
    }
}

const fn exact_under(stage: Stage, name: &'static str, under: &'static str) -> Rule {
    Rule {
        stage,
        frame: Match::Exact(name),
        under: Some(under),
    }
}

use Stage::*;

/// The classifier's data. Order does not matter between rules for different names.
static RULES: &[Rule] = &[
    // user -> skb copy in the send path
    exact(CopyUserToSkb, "_copy_from_iter"),
    exact(CopyUserToSkb, "skb_do_copy_data_nocache"),
    exact_under(CopyUserToSkb, "copy_user_generic", "tcp_sendmsg_locked"),
    exact_under(CopyUserToSkb, "rep_movs_alternative", "tcp_sendmsg_locked"),
    exact_under(CopyUserToSkb, "__copy_user_nocache", "tcp_sendmsg_locked"),
    exact_under(
        CopyUserToSkb,
        "copy_user_enhanced_fast_string",
        "tcp_sendmsg_locked",
    ),
    // MSG_ZEROCOPY: pinning the user pages instead of copying them
    exact(ZerocopyPin, "__zerocopy_sg_from_iter"),
    exact(ZerocopyPin, "zerocopy_fill_skb_from_iter"),
    exact(ZerocopyPin, "skb_zerocopy_iter_stream"),
    prefix(ZerocopyPin, "iov_iter_get_pages"),
    prefix(ZerocopyPin, "iov_iter_extract_pages"),
    prefix(ZerocopyPin, "pin_user_pages"),
    prefix(ZerocopyPin, "get_user_pages"),
    exact(ZerocopyPin, "mm_account_pinned_pages"),
    // TCP and IP transmit
    exact(TcpTx, "tcp_push"),
    exact(TcpTx, "__tcp_push_pending_frames"),
    exact(TcpTx, "tcp_push_one"),
    exact(TcpTx, "tcp_write_xmit"),
    exact(TcpTx, "__tcp_transmit_skb"),
    exact(TcpTx, "__ip_queue_xmit"),
    exact(TcpTx, "ip_queue_xmit"),
    exact(TcpTx, "ip_output"),
    exact(TcpTx, "ip_finish_output"),
    exact(TcpTx, "ip_finish_output2"),
    // the device
    exact(DevXmit, "__dev_queue_xmit"),
    exact(DevXmit, "dev_hard_start_xmit"),
    exact(DevXmit, "loopback_xmit"),
    exact(DevXmit, "veth_xmit"),
    // the receive softirq (on loopback it runs inside the sender's call)
    exact(RxSoftirq, "net_rx_action"),
    exact(RxSoftirq, "__napi_poll"),
    exact(RxSoftirq, "process_backlog"),
    prefix(RxSoftirq, "__netif_receive_skb"),
    exact(RxSoftirq, "netif_receive_skb"),
    exact(RxSoftirq, "ip_rcv"),
    exact(RxSoftirq, "ip_rcv_finish"),
    prefix(RxSoftirq, "ip_local_deliver"),
    exact(RxSoftirq, "ip_protocol_deliver_rcu"),
    exact(RxSoftirq, "tcp_v4_rcv"),
    exact(RxSoftirq, "tcp_v4_do_rcv"),
    exact(RxSoftirq, "tcp_rcv_established"),
    exact(RxSoftirq, "tcp_data_queue"),
    exact(RxSoftirq, "tcp_ack"),
    // the kernel copying zerocopy pages after all (locally looped packets)
    exact(DeferredCopy, "skb_copy_ubufs"),
    exact(DeferredCopy, "skb_orphan_frags_rx"),
    // skb -> user copy in the receive path
    exact(CopySkbToUser, "skb_copy_datagram_iter"),
    exact(CopySkbToUser, "__skb_datagram_iter"),
    exact(CopySkbToUser, "_copy_to_iter"),
    // zerocopy completions: notifying and reaping
    exact(ZcCompletion, "__msg_zerocopy_callback"),
    exact(ZcCompletion, "msg_zerocopy_callback"),
    exact(ZcCompletion, "msg_zerocopy_complete"),
    exact(ZcCompletion, "sock_recv_errqueue"),
    exact(ZcCompletion, "ip_recv_error"),
    // skb and page allocation (msg_zerocopy_realloc allocates the completion record)
    exact(Alloc, "__alloc_skb"),
    exact(Alloc, "alloc_skb_with_frags"),
    exact(Alloc, "tcp_stream_alloc_skb"),
    exact(Alloc, "sk_stream_alloc_skb"),
    exact(Alloc, "skb_page_frag_refill"),
    exact(Alloc, "sk_page_frag_refill"),
    exact(Alloc, "kmalloc_reserve"),
    exact(Alloc, "msg_zerocopy_realloc"),
    prefix(Alloc, "__alloc_pages"),
    prefix(Alloc, "alloc_pages"),
    prefix(Alloc, "__alloc_frozen_pages"),
    prefix(Alloc, "kmem_cache_alloc"),
    prefix(Alloc, "__kmalloc"),
    // waiting
    exact(Wait, "sk_stream_wait_memory"),
    exact(Wait, "sk_wait_data"),
    exact(Wait, "schedule"),
    exact(Wait, "schedule_timeout"),
    exact(Wait, "wait_woken"),
];

fn matches(rule: &Rule, frame: &str) -> bool {
    match rule.frame {
        Match::Exact(name) => frame == name,
        Match::Prefix(p) => frame.starts_with(p),
    }
}

/// The stage of a stack given outermost frame first.
pub fn classify<S: AsRef<str>>(frames: &[S]) -> Stage {
    for (depth, frame) in frames.iter().enumerate().rev() {
        let frame = frame.as_ref();
        let outer = &frames[..depth];
        let hit = RULES.iter().find(|r| {
            matches(r, frame)
                && r.under
                    .is_none_or(|u| outer.iter().any(|f| f.as_ref() == u))
        });
        if let Some(rule) = hit {
            return rule.stage;
        }
    }
    Stage::Other
}

/// Samples per stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageTable {
    samples: [u64; Stage::ALL.len()],
}

impl StageTable {
    pub fn add(&mut self, stage: Stage, count: u64) {
        self.samples[stage as usize] += count;
    }

    pub fn get(&self, stage: Stage) -> u64 {
        self.samples[stage as usize]
    }

    pub fn total(&self) -> u64 {
        self.samples.iter().sum()
    }

    /// Fraction of all samples in `stage` (0 when there are none).
    pub fn share(&self, stage: Stage) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.get(stage) as f64 / total as f64
        }
    }

    /// Estimated time: samples × sampling period.
    pub fn est_ns(&self, stage: Stage, period_ns: u64) -> u64 {
        self.get(stage).saturating_mul(period_ns)
    }

    /// Stages with samples, in stage order.
    pub fn iter(&self) -> impl Iterator<Item = (Stage, u64)> + '_ {
        Stage::ALL
            .into_iter()
            .map(|s| (s, self.get(s)))
            .filter(|(_, n)| *n > 0)
    }

    pub fn merge(&mut self, o: &StageTable) {
        for (a, b) in self.samples.iter_mut().zip(o.samples) {
            *a += b;
        }
    }
}

/// One line of a folded-stack file: `role;outer;...;inner count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldedLine {
    pub role: String,
    pub frames: Vec<String>,
    pub count: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("folded stacks, line {line}: {what}")]
pub struct FoldedError {
    pub line: usize,
    pub what: &'static str,
}

/// Parse folded stacks whose first field is a role (the fixtures' format).
pub fn parse_folded(text: &str) -> Result<Vec<FoldedLine>, FoldedError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |what| FoldedError { line: i + 1, what };
        let (stack, count) = line.rsplit_once(' ').ok_or(err("no count"))?;
        let count = count
            .trim()
            .parse()
            .map_err(|_| err("count is not a number"))?;
        let mut fields = stack.split(';');
        let role = fields
            .next()
            .filter(|r| !r.is_empty())
            .ok_or(err("no role"))?;
        out.push(FoldedLine {
            role: role.to_owned(),
            frames: fields.map(str::to_owned).collect(),
            count,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
