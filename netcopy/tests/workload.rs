//! Each copy mode moves at least 100 MiB over loopback and over the netns testbed, with
//! every message verified, and both ends agree on what moved.

mod common;

use common::{MIB, config, require_root};
use netcopy::{
    model::{Mode, NetPath, Rx},
    testbed::netns,
    workload::{conn::Stop, run::run},
};

fn moves_100_mib(mode: Mode, path: NetPath) {
    let cfg = config(mode, 64 * 1024, 1, 2.0);
    let outcome =
        run(&cfg, path, &Stop::default()).unwrap_or_else(|e| panic!("{mode} over {path:?}: {e}"));
    let s = outcome.summary();
    assert!(!s.interrupted);
    assert!(s.verified, "receivers did not verify");
    assert!(
        s.bytes >= 100 * MIB,
        "{mode} over {path:?} moved only {} bytes",
        s.bytes
    );
    assert_eq!(s.bytes, s.messages * cfg.size, "whole messages only");
    assert_eq!(s.connections.len(), 1);
    for c in &s.connections {
        // The two ends counted the same bytes and messages, independently.
        assert_eq!(c.sender.bytes, c.receiver.bytes);
        assert_eq!(c.sender.messages, c.receiver.messages);
        assert_ne!(c.sender.tid, c.receiver.tid);
        assert!(c.sender.cpu_ns > 0 && c.receiver.cpu_ns > 0, "{c:?}");
    }
    assert!(s.window.bytes > 0 && s.window.bytes <= s.bytes);
    assert!(s.throughput_gbps > 0.0);
    let (send, recv) = (s.send_latency_ns.as_ref(), s.recv_latency_ns.as_ref());
    assert!(send.and_then(|l| l.p50).is_some() && recv.and_then(|l| l.p99).is_some());
    match mode {
        Mode::Twocopy => {
            // One send(2) per message at least, plus the ack; no sendmsg.
            assert!(s.send_calls.sendto > s.messages);
            assert_eq!(s.send_calls.sendmsg, 0);
            assert_eq!(s.recv_calls.recvmsg, 0);
            assert!(s.zerocopy.is_none());
        }
        Mode::Onecopy => {
            assert!(s.send_calls.sendmsg >= s.messages);
            assert_eq!(s.send_calls.sendto, 1, "only the ack goes through send(2)");
            assert!(s.recv_calls.recvmsg >= s.messages);
            assert!(s.zerocopy.is_none());
        }
        Mode::Zerocopy => {
            let z = s
                .zerocopy
                .as_ref()
                .unwrap_or_else(|| panic!("no zerocopy stats"));
            assert!(
                z.sends >= s.messages,
                "at least one MSG_ZEROCOPY send per message"
            );
            assert_eq!(
                s.send_calls.sendmsg,
                z.sends + z.enobufs,
                "every sendmsg is a send or a refused one"
            );
            assert_eq!(z.completed, z.sends, "every send's completion was reaped");
            // Locally looped packets are always copied (Documentation/networking/msg_zerocopy.rst).
            assert_eq!(
                z.copied, z.completed,
                "loopback and veth make the kernel copy"
            );
            assert!(s.send_calls.errqueue > 0);
        }
        Mode::Uring | Mode::Uringzc => {
            let c = &s.send_calls;
            assert_eq!(c.sendto, 1, "only the ack goes through send(2)");
            assert_eq!((c.sendmsg, c.errqueue, c.poll), (0, 0, 0));
            assert!(c.uring_sends >= s.messages, "a send request per message");
            assert!(
                c.uring_enter >= c.uring_sends,
                "each request is submitted and waited for"
            );
            assert!(s.recv_calls.recvmsg >= s.messages);
            if mode == Mode::Uring {
                assert!(s.zerocopy.is_none());
                return;
            }
            let z = s
                .zerocopy
                .as_ref()
                .unwrap_or_else(|| panic!("no SEND_ZC stats"));
            assert_eq!(z.fixed_buffers, Some(true), "the pool is registered");
            assert_eq!(
                z.sends, c.uring_sends,
                "every request promised a notification"
            );
            assert_eq!(z.completed, z.sends, "every notification was reaped");
            // As with MSG_ZEROCOPY, locally looped packets are copied, and the usage report
            // says so.
            assert_eq!(
                z.copied, z.completed,
                "loopback and veth make the kernel copy"
            );
        }
    }
}

#[test]
fn twocopy_loopback() {
    moves_100_mib(Mode::Twocopy, NetPath::Loopback);
}

#[test]
fn onecopy_loopback() {
    moves_100_mib(Mode::Onecopy, NetPath::Loopback);
}

#[test]
fn zerocopy_loopback() {
    moves_100_mib(Mode::Zerocopy, NetPath::Loopback);
}

#[test]
fn uring_loopback() {
    moves_100_mib(Mode::Uring, NetPath::Loopback);
}

#[test]
fn uringzc_loopback() {
    moves_100_mib(Mode::Uringzc, NetPath::Loopback);
}

#[test]
fn uringzc_netns() {
    require_root("the netns testbed");
    moves_100_mib(Mode::Uringzc, NetPath::Netns);
}

/// `--rx zerocopy` receives every message verified, and what it mapped and what it copied
/// add up to what it received. Over loopback, the kernel maps pages behind a zerocopy
/// sender (its deferred copy makes whole pages) and none behind a copying one.
#[test]
fn rx_zerocopy_maps_what_it_can_and_copies_the_rest() {
    for (mode, maps) in [
        (Mode::Onecopy, false),
        (Mode::Zerocopy, true),
        (Mode::Uringzc, true),
    ] {
        let mut cfg = config(mode, 64 * 1024, 1, 1.0);
        cfg.rx = Rx::Zerocopy;
        let outcome = run(&cfg, NetPath::Loopback, &Stop::default())
            .unwrap_or_else(|e| panic!("{mode} --rx zerocopy: {e}"));
        let s = outcome.summary();
        assert!(s.verified, "{mode}: receivers did not verify");
        assert!(s.bytes >= 50 * MIB, "{mode}: moved only {} bytes", s.bytes);
        assert_eq!(
            s.bytes,
            s.messages * cfg.size,
            "{mode}: whole messages only"
        );
        let z = s
            .rx_zerocopy
            .as_ref()
            .unwrap_or_else(|| panic!("{mode}: no rx_zerocopy counts"));
        assert_eq!(z.mapped_bytes + z.copied_bytes, s.bytes, "{mode}: {z:?}");
        assert!(z.calls >= z.mapping_calls, "{mode}: {z:?}");
        if maps {
            assert!(z.mapped_bytes > s.bytes / 4, "{mode}: {z:?}");
            assert!(z.mapping_calls > 0, "{mode}: {z:?}");
        } else {
            assert_eq!(z.mapped_bytes, 0, "{mode}: {z:?}");
            // The copy path: recv(2) calls, counted.
            assert!(
                s.recv_calls.recvfrom > s.messages / 4,
                "{mode}: {:?}",
                s.recv_calls
            );
        }
    }
    let plain = run(
        &config(Mode::Onecopy, 4096, 1, 0.3),
        NetPath::Loopback,
        &Stop::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        plain.summary().rx_zerocopy.is_none(),
        "--rx copy counts nothing"
    );
}

#[test]
fn twocopy_netns() {
    require_root("the netns testbed");
    moves_100_mib(Mode::Twocopy, NetPath::Netns);
}

#[test]
fn onecopy_netns() {
    require_root("the netns testbed");
    moves_100_mib(Mode::Onecopy, NetPath::Netns);
}

#[test]
fn zerocopy_netns() {
    require_root("the netns testbed");
    moves_100_mib(Mode::Zerocopy, NetPath::Netns);
}

#[test]
fn several_connections_share_one_window() {
    let cfg = config(Mode::Onecopy, 4096, 3, 1.0);
    let outcome = run(&cfg, NetPath::Loopback, &Stop::default()).unwrap_or_else(|e| panic!("{e}"));
    let s = outcome.summary();
    assert_eq!(s.connections.len(), 3);
    let tids: std::collections::HashSet<u32> = s
        .connections
        .iter()
        .flat_map(|c| [c.sender.tid, c.receiver.tid])
        .collect();
    assert_eq!(
        tids.len(),
        6,
        "each connection has its own thread on both ends"
    );
    for c in &s.connections {
        assert_eq!(c.sender.bytes, c.receiver.bytes);
        assert!(c.receiver.messages > 0);
    }
    assert!(
        (s.window.seconds - 1.0).abs() < 0.2,
        "window {}",
        s.window.seconds
    );
}

#[test]
fn a_stop_request_ends_the_run_cleanly() {
    let cfg = config(Mode::Zerocopy, 65536, 2, 30.0);
    let stop = Stop::default();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            stop.request();
        })
    };
    let started = std::time::Instant::now();
    let outcome = run(&cfg, NetPath::Loopback, &stop).unwrap_or_else(|e| panic!("{e}"));
    let _ = stopper.join();
    assert!(
        started.elapsed().as_secs() < 10,
        "the stop took {:?}",
        started.elapsed()
    );
    let s = outcome.summary();
    assert!(s.interrupted);
    assert!(s.window.seconds < 5.0);
    let z = s.zerocopy.unwrap_or_else(|| panic!("no zerocopy stats"));
    assert_eq!(z.completed, z.sends, "completions drained even on a stop");
    for c in &s.connections {
        assert_eq!(
            c.sender.messages, c.receiver.messages,
            "stopped at a message boundary"
        );
    }
}

#[test]
fn netns_are_removed_after_a_run() {
    require_root("the netns testbed");
    let bed = netns::Testbed::create().unwrap_or_else(|e| panic!("{e}"));
    let names = [bed.server_ns().to_owned(), bed.client_ns().to_owned()];
    assert!(names.iter().all(|n| netns::list().contains(n)));
    drop(bed);
    assert!(
        names.iter().all(|n| !netns::list().contains(n)),
        "left behind: {:?}",
        netns::list()
    );
}

#[test]
fn zerocopy_survives_enobufs_without_falling_back() {
    require_root("the netns testbed");
    let bed = std::sync::Arc::new(netns::Testbed::create().unwrap_or_else(|e| panic!("{e}")));
    // Option memory holds the completion records of MSG_ZEROCOPY sends; starve it so that
    // sendmsg fails with ENOBUFS and the sender must reap and retry.
    bed.set_server_sysctl("net/core/optmem_max", "1024")
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = config(Mode::Zerocopy, 1024, 1, 1.0);
    let outcome =
        netcopy::workload::run::run_with(&cfg, Some(bed), &Stop::default(), &Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
    let s = outcome.summary();
    let z = s.zerocopy.unwrap_or_else(|| panic!("no zerocopy stats"));
    assert!(
        z.enobufs > 0,
        "optmem_max=1024 should have forced ENOBUFS: {z:?}"
    );
    assert_eq!(z.completed, z.sends);
    assert_eq!(
        s.send_calls.sendmsg,
        z.sends + z.enobufs,
        "no plain send fallback"
    );
    assert_eq!(s.send_calls.sendto, 1, "only the ack went through send(2)");
    assert!(s.verified && s.messages > 0);
}
