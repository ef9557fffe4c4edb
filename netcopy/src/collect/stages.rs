//! The stage classifier: a sampled kernel stack belongs to the stage named by its deepest
//! frame that matches a rule. Leaves are generic (memcpy, spin locks, softirq entry) and
//! match nothing, so the search moves outward to the function that explains them.
//!
//! The rules are data ([`RULES`]). Some have a condition: the copy_user/rep_movs family and
//! the hardened-usercopy check count as `copy_user_to_skb` only under `tcp_sendmsg_locked`;
//! elsewhere the search goes on (under `_copy_to_iter` it finds `copy_skb_to_user`).
//!
//! The call's own frames are rules too, so a sample in the call's code and not in any named
//! function below it still has a stage: `tcp_sendmsg`/`tcp_sendmsg_locked` are `tcp_tx`,
//! `tcp_recvmsg`/`tcp_recvmsg_locked` are `tcp_rx`, and the syscall layer (`do_syscall_64`,
//! `__sys_sendmsg`, the msghdr and iovec import) is `syscall`. They are the outermost frames
//! of nearly every stack, so they decide only when nothing deeper matched. Tracing frames
//! (tracepoint dispatch, BPF programs) are deeper than everything and go to `probe`, so the
//! tracer's own cost is not added to the stage it fired in.
//!
//! Interrupts: the CPU clock cannot fire with interrupts off, so samples pile up where they
//! are switched back on (`_raw_spin_unlock_irqrestore`, `handle_softirqs`). A timer interrupt
//! that ran no network work matches nothing and the sample goes to the interrupted code; one
//! that ran the receive path (`net_rx_action` and below) goes to `rx_softirq`, the transmit
//! softirq (`net_tx_action`) to `tx_softirq`.

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
    // The hardened-usercopy check of each chunk the send copy takes; the receive copy's own
    // check sits under simple_copy_to_iter and goes to copy_skb_to_user the same way.
    exact_under(CopyUserToSkb, "__check_object_size", "tcp_sendmsg_locked"),
    // MSG_ZEROCOPY: pinning the user pages instead of copying them
    exact(ZerocopyPin, "__zerocopy_sg_from_iter"),
    exact(ZerocopyPin, "zerocopy_fill_skb_from_iter"),
    exact(ZerocopyPin, "skb_zerocopy_iter_stream"),
    prefix(ZerocopyPin, "iov_iter_get_pages"),
    prefix(ZerocopyPin, "iov_iter_extract_pages"),
    prefix(ZerocopyPin, "pin_user_pages"),
    prefix(ZerocopyPin, "get_user_pages"),
    exact(ZerocopyPin, "mm_account_pinned_pages"),
    // TCP and IP transmit. The send call's own frames count here too: what tcp_sendmsg_locked
    // does besides copying, pinning and allocating (segment sizing, socket memory accounting,
    // queueing skbs) and the socket lock taken in tcp_sendmsg is TCP transmit work. So is a
    // receiver's ACK (`__tcp_send_ack.part.0` under tcp_recvmsg_locked).
    exact(TcpTx, "inet_sendmsg"),
    exact(TcpTx, "tcp_sendmsg"),
    exact(TcpTx, "tcp_sendmsg_locked"),
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
    prefix(TcpTx, "__tcp_send_ack"),
    exact(TcpTx, "tcp_send_ack"),
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
    // the transmit softirq. Its qdisc run (__qdisc_run, sch_direct_xmit, dequeue_skb) names
    // no stage and falls here; the driver call under it (dev_hard_start_xmit) stays dev_xmit.
    // A qdisc run straight from __dev_queue_xmit, outside the softirq, stays dev_xmit too.
    exact(TxSoftirq, "net_tx_action"),
    // the kernel copying zerocopy pages after all (locally looped packets)
    exact(DeferredCopy, "skb_copy_ubufs"),
    exact(DeferredCopy, "skb_orphan_frags_rx"),
    // TCP receive-side work inside the call: the receive-window and buffer bookkeeping
    // (tcp_rcv_space_adjust, __tcp_cleanup_rbuf) and freeing the skbs read (through
    // skb_attempt_defer_free). As with tcp_tx, the call's own TCP frames catch what is below
    // them and names no other stage: the socket lock and release_sock, sock_rfree.
    exact(TcpRx, "inet_recvmsg"),
    exact(TcpRx, "tcp_recvmsg"),
    exact(TcpRx, "tcp_recvmsg_locked"),
    exact(TcpRx, "tcp_rcv_space_adjust"),
    exact(TcpRx, "__tcp_cleanup_rbuf"),
    exact(TcpRx, "tcp_cleanup_rbuf"),
    exact(TcpRx, "skb_attempt_defer_free"),
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
    // the syscall layer: entry and exit (with rseq), the fd lookup, the msghdr and iovec
    // copied in and the address copied out, the generic socket call and its security hook.
    // do_syscall_64 is the outermost frame of nearly every stack, so it only decides when
    // nothing deeper names a stage. `__x64_sys_*` also takes a non-socket syscall's own
    // work where its deeper frames name nothing (the Python fixtures' futex wake-ups).
    prefix(Syscall, "entry_SYSCALL_64"),
    exact(Syscall, "do_syscall_64"),
    prefix(Syscall, "syscall_exit_to_user_mode"),
    prefix(Syscall, "exit_to_user_mode"),
    prefix(Syscall, "__rseq_handle_notify_resume"),
    exact(Syscall, "fdget"),
    exact(Syscall, "fput"),
    prefix(Syscall, "__sys_"),
    prefix(Syscall, "___sys_"),
    prefix(Syscall, "____sys_"),
    prefix(Syscall, "__x64_sys_"),
    exact(Syscall, "copy_msghdr_from_user"),
    exact(Syscall, "import_iovec"),
    exact(Syscall, "__import_iovec"),
    exact(Syscall, "iovec_from_user"),
    exact(Syscall, "copy_iovec_from_user"),
    exact(Syscall, "move_addr_to_user"),
    exact(Syscall, "sock_sendmsg"),
    exact(Syscall, "__sock_sendmsg"),
    exact(Syscall, "sock_recvmsg"),
    prefix(Syscall, "security_socket_"),
    // tracing: tracepoint dispatch and attached BPF programs, wherever they fire. Deeper
    // than any stage's frame, so the tracer's own cost does not inflate the stage it sits
    // under (the softirq-bracket programs under __dev_queue_xmit, sys_exit under
    // do_syscall_64). syscall_trace_enter and syscall_exit_work run only while a syscall
    // tracepoint or other syscall work is enabled.
    prefix(Probe, "__traceiter_"),
    prefix(Probe, "__bpf_trace_"),
    prefix(Probe, "bpf_trace_run"),
    prefix(Probe, "bpf_prog_"),
    exact(Probe, "trace_call_bpf"),
    prefix(Probe, "perf_trace_"),
    exact(Probe, "perf_tp_event"),
    exact(Probe, "perf_swevent_event"),
    exact(Probe, "syscall_trace_enter"),
    exact(Probe, "syscall_exit_work"),
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

/// The frames that open each bracket's stretch (`netcopy_common::brackets`), in the order
/// of `brackets::STAGES`: a sample with one of them on its stack fell inside that bracket,
/// whatever stage its deeper frames name (a deferred copy inside the loopback receive
/// softirq is still softirq time). `dev_hard_start_xmit` holds the transmit between
/// `net_dev_start_xmit` and `net_dev_xmit`.
pub const SCOPES: [&str; 3] = ["net_rx_action", "net_tx_action", "dev_hard_start_xmit"];

/// The bracket (index into [`SCOPES`]) a stack, outermost frame first, fell inside: the
/// innermost scope frame, as a transmit inside a softirq is the transmit's.
pub fn scope_of<S: AsRef<str>>(frames: &[S]) -> Option<usize> {
    frames
        .iter()
        .rev()
        .find_map(|f| SCOPES.iter().position(|s| *s == f.as_ref()))
}

/// Samples per stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageTable {
    samples: [u64; Stage::ALL.len()],
}

impl StageTable {
    pub const EMPTY: StageTable = StageTable {
        samples: [0; Stage::ALL.len()],
    };

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

    /// Take `o`'s samples out of these (never below 0).
    pub fn subtract(&mut self, o: &StageTable) {
        for (a, b) in self.samples.iter_mut().zip(o.samples) {
            *a = a.saturating_sub(b);
        }
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
