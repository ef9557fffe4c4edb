//! The eBPF pipeline end to end: load the embedded object, attach the send-syscall
//! tracepoints, run a onecopy transfer, and check the kernel's count against the workload's.

mod common;

use common::{config, require_root};
use netcopy::{
    probes::Probes,
    report::summary::RunSummary,
    trace::trace,
    workload::{
        Mode,
        conn::Stop,
        run::{NetPath, run},
    },
};

#[test]
fn sendmsg_count_equals_the_workloads_own_count() {
    require_root("loading eBPF programs");
    let mut probes = Probes::load().unwrap_or_else(|e| panic!("load: {e}"));
    probes
        .attach_send_counters()
        .unwrap_or_else(|e| panic!("attach: {e}"));
    probes
        .add_target(std::process::id())
        .unwrap_or_else(|e| panic!("target: {e}"));

    let cfg = config(Mode::Onecopy, 16 * 1024, 2, 1.0);
    let outcome = run(&cfg, NetPath::Loopback, &Stop::default()).unwrap_or_else(|e| panic!("{e}"));
    let senders: Vec<u32> = outcome.served.iter().map(|s| s.report.tid).collect();
    let workload_sendmsg: u64 = outcome.served.iter().map(|s| s.report.calls.sendmsg).sum();
    assert!(
        workload_sendmsg > 1000,
        "too few calls to be a test: {workload_sendmsg}"
    );

    let counted = probes
        .send_counts(&senders)
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(
        counted.sendmsg, workload_sendmsg,
        "probe vs workload sendmsg calls"
    );
    // Each sender thread made exactly one send(2): the handshake ack.
    assert_eq!(counted.sendto, senders.len() as u64);

    // Receivers made no sendmsg; the probe agrees.
    let receivers: Vec<u32> = outcome.client.receivers.iter().map(|r| r.tid).collect();
    let r = probes
        .send_counts(&receivers)
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(r.sendmsg, 0);
    assert_eq!(r.sendto, receivers.len() as u64, "one hello per receiver");
    let _ = RunSummary::new(&outcome);
}

#[test]
fn trace_reports_agreeing_counts_for_every_mode() {
    require_root("loading eBPF programs");
    for mode in Mode::ALL {
        let cfg = config(mode, 4096, 1, 0.5);
        let s = trace(&cfg, NetPath::Loopback, &Stop::default())
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let p = s
            .probe
            .as_ref()
            .unwrap_or_else(|| panic!("no probe section"));
        assert!(p.agrees(), "{mode}: {p:?}");
        assert_eq!(
            p.sendmsg_workload,
            s.send_calls.sendmsg + s.recv_calls.sendmsg
        );
        assert!(
            p.sendmsg_probe + p.sendto_probe > s.messages,
            "{mode}: at least one call per message"
        );
    }
}
