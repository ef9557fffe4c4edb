//! The eBPF pipeline end to end: load the embedded object, attach the syscall, sched and net
//! tracepoints, run each copy mode, and check the kernel's view against the workload's own
//! counts: calls per thread and kind exactly, and bytes exactly.

mod common;

use common::{config, require_root};
use netcopy::{
    trace::{Role, SyscallSummary, trace},
    workload::{Mode, conn::Stop, run::NetPath},
};

fn row<'a>(rows: &'a [SyscallSummary], role: Role, syscall: &str) -> Option<&'a SyscallSummary> {
    rows.iter().find(|r| r.role == role && r.syscall == syscall)
}

fn sum(
    rows: &[SyscallSummary],
    role: Role,
    syscalls: &[&str],
    f: impl Fn(&SyscallSummary) -> u64,
) -> u64 {
    rows.iter()
        .filter(|r| r.role == role && syscalls.contains(&r.syscall))
        .map(f)
        .sum()
}

#[test]
fn kernel_records_match_the_workload_for_every_mode() {
    require_root("loading eBPF programs");
    for mode in Mode::ALL {
        let threads = 2;
        let cfg = config(mode, 16 * 1024, threads, 1.0);
        let s = trace(&cfg, NetPath::Loopback, &Stop::default())
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let p = s
            .probe
            .as_ref()
            .unwrap_or_else(|| panic!("no probe section"));
        assert_eq!(p.lost, 0, "{mode}: records lost at this rate");
        for t in &p.threads {
            assert_eq!(
                t.kernel, t.workload,
                "{mode}: kernel total vs workload, {t:?}"
            );
            assert_eq!(
                t.records, t.kernel,
                "{mode}: records vs kernel total, {t:?}"
            );
        }
        assert!(p.agrees());
        let rows = s
            .syscalls
            .as_deref()
            .unwrap_or_else(|| panic!("no syscall rows"));
        let handshake = 8 * u64::from(threads); // one 8-byte ack per connection
        let data = s.bytes;
        assert!(
            data > 10 << 20,
            "{mode}: too little data to be a test: {data}"
        );
        // What the sending syscalls returned adds up to the bytes the receivers got, exactly.
        assert_eq!(
            sum(rows, Role::Server, &["sendto", "sendmsg"], |r| r.bytes),
            data + handshake,
            "{mode}"
        );
        assert_eq!(
            sum(rows, Role::Client, &["recvfrom", "recvmsg"], |r| r.bytes),
            data + handshake,
            "{mode}"
        );
        // skb_copy_datagram_iovec saw every byte the receivers read.
        assert_eq!(
            sum(rows, Role::Client, &["recvfrom", "recvmsg"], |r| r
                .bytes_to_user),
            data + handshake,
            "{mode}: bytes copied to user"
        );
        let data_send = row(
            rows,
            Role::Server,
            if mode == Mode::Twocopy {
                "sendto"
            } else {
                "sendmsg"
            },
        )
        .unwrap_or_else(|| panic!("{mode}: no data send row"));
        assert!(
            data_send.skbs_built > 0 && data_send.skbs_tx > 0,
            "{mode}: {data_send:?}"
        );
        // On loopback the receive softirq runs inside the sender's call.
        assert!(data_send.skbs_rx > 0, "{mode}: {data_send:?}");
        assert!(data_send.oncpu_ns_per_kib.is_some_and(|v| v > 0.0));
        let recv = sum(rows, Role::Client, &["recvfrom", "recvmsg"], |r| {
            r.voluntary_cs
        });
        assert!(recv > 0, "{mode}: a receiver that never waited");
        if mode == Mode::Zerocopy {
            let z = s
                .zerocopy
                .as_ref()
                .unwrap_or_else(|| panic!("no zerocopy stats"));
            assert_eq!(
                data_send.zerocopy_calls,
                z.sends + z.enobufs,
                "every MSG_ZEROCOPY call seen"
            );
            let reaps = row(rows, Role::Server, "recvmsg").map_or(0, |r| r.errqueue_calls);
            assert_eq!(reaps, s.send_calls.errqueue, "completion reads seen");
        } else {
            assert_eq!(data_send.zerocopy_calls, 0);
        }
    }
}

#[test]
fn records_flow_over_the_netns_testbed_too() {
    require_root("loading eBPF programs and the netns testbed");
    let cfg = config(Mode::Onecopy, 64 * 1024, 1, 1.0);
    let s = trace(&cfg, NetPath::Netns, &Stop::default()).unwrap_or_else(|e| panic!("{e}"));
    let p = s
        .probe
        .as_ref()
        .unwrap_or_else(|| panic!("no probe section"));
    assert!(p.agrees(), "{p:?}");
    let rows = s
        .syscalls
        .as_deref()
        .unwrap_or_else(|| panic!("no syscall rows"));
    assert_eq!(
        sum(rows, Role::Server, &["sendto", "sendmsg"], |r| r.bytes),
        s.bytes + 8
    );
    let send = row(rows, Role::Server, "sendmsg").unwrap_or_else(|| panic!("no sendmsg row"));
    assert!(send.skbs_tx > 0, "veth transmits: {send:?}");
}
