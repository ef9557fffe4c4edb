//! The classifier on real kernel stacks (tests/fixtures/stacks): the stage shares each copy
//! mode must show, and the rules one by one.

use super::*;

const ONECOPY: &str = include_str!("../../../tests/fixtures/stacks/onecopy-64k.folded");
const ZEROCOPY: &str = include_str!("../../../tests/fixtures/stacks/zerocopy-64k.folded");

/// Stage tables of a fixture, per role.
fn tables(text: &str) -> (StageTable, StageTable) {
    let (mut sender, mut receiver) = (StageTable::default(), StageTable::default());
    for line in parse_folded(text).unwrap() {
        let table = if line.role == "sender" {
            &mut sender
        } else {
            &mut receiver
        };
        table.add(classify(&line.frames), line.count);
    }
    (sender, receiver)
}

// Shares on the fixtures when this was written (sender / receiver):
// onecopy:  copy_user_to_skb 38.6%, rx_softirq 33.2%, tcp_tx 16.3%, other 6.7% /
//           copy_skb_to_user 27.2%, wait 22.9%, other 26.2% (the Python receiver's futexes)
// zerocopy: tcp_tx 32.8%, rx_softirq 30.5%, deferred_copy 17.5%, zerocopy_pin 4.4%,
//           zc_completion 1.5%, other 7.6% / copy_skb_to_user 18.4%, wait 13.3%
#[test]
fn onecopy_sender_time_is_the_user_to_skb_copy_and_the_looped_receive() {
    let (s, r) = tables(ONECOPY);
    assert!(s.share(Stage::CopyUserToSkb) > 0.30, "{s:?}");
    assert!(s.share(Stage::RxSoftirq) > 0.20, "{s:?}");
    assert!(s.share(Stage::TcpTx) > 0.10, "{s:?}");
    assert_eq!(
        s.get(Stage::ZerocopyPin) + s.get(Stage::DeferredCopy),
        0,
        "no zerocopy in onecopy"
    );
    assert!(s.share(Stage::Other) < 0.10, "{s:?}");
    // The receiver copies skb -> user and waits for data.
    assert!(
        r.share(Stage::CopySkbToUser) > 0.20 && r.share(Stage::Wait) > 0.15,
        "{r:?}"
    );
    assert_eq!(r.get(Stage::CopyUserToSkb), 0);
}

#[test]
fn zerocopy_sender_pins_pages_and_the_kernel_copies_them_later() {
    let (s, r) = tables(ZEROCOPY);
    assert!(
        s.get(Stage::ZerocopyPin) > 0 && s.share(Stage::ZerocopyPin) > 0.02,
        "{s:?}"
    );
    assert!(s.share(Stage::DeferredCopy) > 0.10, "{s:?}");
    assert!(s.get(Stage::ZcCompletion) > 0, "{s:?}");
    assert_eq!(s.get(Stage::CopyUserToSkb), 0, "nothing copied in the call");
    assert!(s.share(Stage::Other) < 0.10, "{s:?}");
    assert!(
        r.get(Stage::DeferredCopy) > 0,
        "the copy also happens on the receiver's CPU"
    );
}

#[test]
fn every_fixture_sample_is_counted_once() {
    for text in [ONECOPY, ZEROCOPY] {
        let lines = parse_folded(text).unwrap();
        let (s, r) = tables(text);
        assert_eq!(
            s.total() + r.total(),
            lines.iter().map(|l| l.count).sum::<u64>()
        );
    }
}

fn stack(frames: &str) -> Vec<&str> {
    frames.split(';').collect()
}

#[test]
fn the_deepest_matching_frame_wins() {
    let send = "do_syscall_64;tcp_sendmsg;tcp_sendmsg_locked";
    assert_eq!(
        classify(&stack(&format!("{send};_copy_from_iter;__pi_memcpy"))),
        Stage::CopyUserToSkb
    );
    assert_eq!(
        classify(&stack(&format!(
            "{send};tcp_write_xmit;__tcp_transmit_skb;__ip_queue_xmit;ip_output;ip_finish_output2;__dev_queue_xmit;loopback_xmit"
        ))),
        Stage::DevXmit
    );
    assert_eq!(
        classify(&stack(&format!(
            "{send};tcp_write_xmit;__dev_queue_xmit;__local_bh_enable_ip;do_softirq.part.0;handle_softirqs;net_rx_action;__napi_poll;process_backlog;__netif_receive_skb_one_core;ip_local_deliver_finish;tcp_v4_rcv;sock_def_readable;_raw_spin_unlock_irqrestore"
        ))),
        Stage::RxSoftirq
    );
    assert_eq!(
        classify(&stack(&format!(
            "{send};skb_zerocopy_iter_stream;__zerocopy_sg_from_iter;iov_iter_get_pages2;pin_user_pages_fast"
        ))),
        Stage::ZerocopyPin
    );
    assert_eq!(
        classify(&stack(
            "net_rx_action;__netif_receive_skb_core;skb_copy_ubufs;__pi_memcpy"
        )),
        Stage::DeferredCopy
    );
    assert_eq!(
        classify(&stack(
            "tcp_recvmsg;tcp_recvmsg_locked;skb_copy_datagram_iter;__skb_datagram_iter;_copy_to_iter"
        )),
        Stage::CopySkbToUser
    );
    assert_eq!(
        classify(&stack("__sys_recvmsg;sock_recv_errqueue;ip_recv_error")),
        Stage::ZcCompletion
    );
    assert_eq!(
        classify(&stack(&format!(
            "{send};tcp_stream_alloc_skb;__alloc_skb;kmem_cache_alloc_node_noprof"
        ))),
        Stage::Alloc
    );
    assert_eq!(
        classify(&stack(
            "tcp_recvmsg_locked;sk_wait_data;wait_woken;schedule_timeout;schedule;__schedule"
        )),
        Stage::Wait
    );
    assert_eq!(
        classify(&stack("entry_SYSCALL_64_after_hwframe;do_syscall_64")),
        Stage::Other
    );
    assert_eq!(classify::<&str>(&[]), Stage::Other);
}

#[test]
fn an_idle_timer_interrupt_goes_to_the_code_it_interrupted() {
    let s = "tcp_sendmsg_locked;__tcp_push_pending_frames;tcp_write_xmit;_raw_spin_unlock_irqrestore;asm_sysvec_apic_timer_interrupt;sysvec_apic_timer_interrupt;__irq_exit_rcu;handle_softirqs";
    assert_eq!(classify(&stack(s)), Stage::TcpTx);
}

#[test]
fn copy_user_counts_as_the_send_copy_only_under_tcp_sendmsg_locked() {
    assert_eq!(
        classify(&stack("tcp_sendmsg_locked;rep_movs_alternative")),
        Stage::CopyUserToSkb
    );
    // Under the receive copy the same leaf is the skb -> user copy.
    assert_eq!(
        classify(&stack(
            "tcp_recvmsg_locked;skb_copy_datagram_iter;_copy_to_iter;rep_movs_alternative"
        )),
        Stage::CopySkbToUser
    );
    assert_eq!(
        classify(&stack("do_syscall_64;rep_movs_alternative")),
        Stage::Other
    );
}

#[test]
fn stage_tables_add_share_and_estimate() {
    let mut t = StageTable::default();
    t.add(Stage::TcpTx, 3);
    t.add(Stage::Wait, 1);
    assert_eq!(t.total(), 4);
    assert!((t.share(Stage::TcpTx) - 0.75).abs() < 1e-12);
    assert_eq!(t.est_ns(Stage::TcpTx, 200_040), 600_120);
    assert_eq!(
        t.iter().collect::<Vec<_>>(),
        vec![(Stage::TcpTx, 3), (Stage::Wait, 1)]
    );
    assert_eq!(StageTable::default().share(Stage::Other), 0.0);
}

#[test]
fn folded_lines_parse_or_name_their_line() {
    let ok = parse_folded("sender;a;b 12\n\nreceiver;c 3\n").unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].frames, ["a", "b"]);
    assert_eq!(ok[1].count, 3);
    assert_eq!(parse_folded("sender;a;b x").unwrap_err().line, 1);
    assert_eq!(
        parse_folded("ok;a 1\nnocount").unwrap_err(),
        FoldedError {
            line: 2,
            what: "no count"
        }
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Every distinct frame of the real fixtures, and every rule's own name.
    fn vocabulary() -> Vec<String> {
        let mut v: Vec<String> = [ONECOPY, ZEROCOPY]
            .iter()
            .flat_map(|t| parse_folded(t).unwrap())
            .flat_map(|l| l.frames)
            .collect();
        v.extend(RULES.iter().map(|r| match r.frame {
            Match::Exact(name) | Match::Prefix(name) => name.to_owned(),
        }));
        v.sort();
        v.dedup();
        v
    }

    /// Frames no rule matches and no rule names as its condition.
    fn unmatched() -> impl Strategy<Value = String> {
        "zz_[a-z_]{1,12}"
    }

    fn stack() -> impl Strategy<Value = Vec<String>> {
        let words = vocabulary();
        prop::collection::vec(prop_oneof![prop::sample::select(words), unmatched()], 0..24)
    }

    proptest! {
        #[test]
        fn generic_leaves_do_not_change_the_stage(
            frames in stack(),
            leaves in prop::collection::vec(unmatched(), 1..6),
        ) {
            let mut deeper = frames.clone();
            deeper.extend(leaves);
            prop_assert_eq!(classify(&deeper), classify(&frames));
        }

        #[test]
        fn unrelated_outer_frames_do_not_change_the_stage(
            frames in stack(),
            outer in prop::collection::vec(unmatched(), 1..6),
        ) {
            let mut wider = outer;
            wider.extend(frames.iter().cloned());
            prop_assert_eq!(classify(&wider), classify(&frames));
        }

        #[test]
        fn a_leaf_that_a_plain_rule_names_decides(frames in stack(), pick in any::<prop::sample::Index>()) {
            let plain: Vec<&Rule> = RULES.iter().filter(|r| r.under.is_none()).collect();
            let rule = plain[pick.index(plain.len())];
            let leaf = match rule.frame {
                Match::Exact(name) => name.to_owned(),
                Match::Prefix(p) => format!("{p}zz"),
            };
            // The first rule in RULES that matches the leaf decides (order is priority).
            let first = RULES
                .iter()
                .find(|r| matches(r, &leaf) && r.under.is_none_or(|u| frames.iter().any(|f| f == u)))
                .map(|r| r.stage);
            let mut stack = frames;
            stack.push(leaf);
            prop_assert_eq!(Some(classify(&stack)), first);
        }

        #[test]
        fn stacks_of_unmatched_frames_are_other(frames in prop::collection::vec(unmatched(), 0..24)) {
            prop_assert_eq!(classify(&frames), Stage::Other);
        }
    }
}
