//! Why traced calls leave the CPU (netcopy_common::offcpu): a receiver fed slowly waits for
//! data, a sender whose peer stops reading waits for send-buffer memory, in every row of
//! syscalls.parquet the five reasons add up to the call's off-CPU time, and the switch-out
//! stacks' time (offcpu_stacks.parquet) adds up to the records' time for each reason.

mod common;

use arrow_array::{cast::AsArray, types::UInt64Type};
use common::{config, require_root};
use netcopy::{
    model::{Mode, NetPath, SyscallSummary},
    trace::{
        TraceOptions,
        external::{Target, trace_targets},
        trace,
    },
    workload::conn::Stop,
};

const REASONS: [&str; 5] = ["wmem", "data", "lock", "preempt", "other"];

/// Trace the Python program `script` (which prints "ready", waits for a line, then works)
/// until it exits; `peer` is started first and told to go with it.
fn trace_python(script: &str, peer: &mut common::Python) -> Vec<SyscallSummary> {
    let mut traced = common::Python::spawn(script);
    assert_eq!(traced.line(), "ready");
    let pid = traced.child.id();
    let s = trace_targets(
        &[Target::Pid(pid)],
        std::time::Duration::from_secs(20),
        &TraceOptions::default(),
        &Stop::default(),
        || {
            traced.go();
            peer.go();
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let _ = traced.child.wait();
    s.syscalls
}

/// Share of `rows`' off-CPU time with `reason`, and the total.
fn share(rows: &[SyscallSummary], reason: &str) -> (f64, u64) {
    let total: u64 = rows.iter().map(|r| r.offcpu_ns).sum();
    let part: u64 = rows
        .iter()
        .filter_map(|r| r.offcpu_by_reason.get(reason))
        .sum();
    for r in rows {
        let sum: u64 = REASONS
            .iter()
            .filter_map(|n| r.offcpu_by_reason.get(n))
            .sum();
        assert_eq!(sum, r.offcpu_ns, "{r:?}");
    }
    (part as f64 / total.max(1) as f64, total)
}

#[test]
fn a_receiver_fed_slowly_waits_for_data() {
    require_root("loading eBPF programs");
    let mut sender = common::Python::spawn(
        r#"
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
sys.stdin.readline()
for _ in range(200):
    c.sendall(b"x" * 1000)
    time.sleep(0.002)
c.close()
"#,
    );
    let port = sender.line();
    let rows = trace_python(
        &format!(
            r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", {port}))
print("ready", flush=True)
sys.stdin.readline()
while s.recv(65536):
    pass
"#
        ),
        &mut sender,
    );
    let _ = sender.child.wait();
    // 200 sends 2 ms apart: the receiver sleeps about 0.4 s in recv, waiting for data.
    let (data, total) = share(&rows, "data");
    assert!(total > 200_000_000, "{total} ns off CPU: {rows:?}");
    assert!(data > 0.9, "data {data:.3} of {total} ns: {rows:?}");
}

#[test]
fn a_sender_whose_peer_stops_reading_waits_for_buffer_memory() {
    require_root("loading eBPF programs");
    // The peer accepts and never reads, so the sender fills both buffers and then blocks
    // in send until its send timeout (a partial send returns at 0.5 s, the next one fails
    // at 1 s).
    let mut peer = common::Python::spawn(
        r#"
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
sys.stdin.readline()
time.sleep(3)
"#,
    );
    let port = peer.line();
    let rows = trace_python(
        &format!(
            r#"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", {port}))
# A blocking socket whose sends give up after 0.5 s (Python's own timeout would poll).
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 500000))
print("ready", flush=True)
sys.stdin.readline()
try:
    for _ in range(1000):
        s.send(b"x" * 65536)
except OSError:
    pass
"#
        ),
        &mut peer,
    );
    let _ = peer.child.kill();
    let _ = peer.child.wait();
    let (wmem, total) = share(&rows, "wmem");
    assert!(total > 300_000_000, "{total} ns off CPU: {rows:?}");
    assert!(wmem > 0.9, "wmem {wmem:.3} of {total} ns: {rows:?}");
}

#[test]
fn the_reasons_add_up_to_the_off_cpu_time_in_every_row() {
    require_root("loading eBPF programs");
    let dir = common::run_dir("offcpu-rows");
    let opts = TraceOptions {
        out: Some(dir.clone()),
        ..Default::default()
    };
    let cfg = config(Mode::Onecopy, 64 * 1024, 1, 1.0);
    let s =
        trace(&cfg, NetPath::Loopback, &opts, &Stop::default()).unwrap_or_else(|e| panic!("{e}"));
    let (mut rows, mut blocked) = (0, 0);
    for b in common::read_parquet(&dir.table_path("syscalls")) {
        let col = |n: &str| common::column(&b, n).as_primitive::<UInt64Type>().clone();
        let off = col("offcpu_ns");
        let parts: Vec<_> = REASONS
            .iter()
            .map(|r| col(&format!("offcpu_{r}_ns")))
            .collect();
        for i in 0..b.num_rows() {
            let sum: u64 = parts.iter().map(|p| p.value(i)).sum();
            assert_eq!(sum, off.value(i), "row {i}");
            rows += 1;
            blocked += u64::from(off.value(i) > 0);
        }
    }
    assert!(
        rows > 1000 && blocked > 10,
        "{rows} rows, {blocked} blocked"
    );
    // The summary's split is the table's.
    let syscalls = s.syscalls.as_deref().unwrap_or_default();
    let (_, total) = share(syscalls, "other");
    assert!(total > 0);
    // offcpu_stacks.parquet: the time out at each switch-out stack, by reason, adds up to
    // the records' time for the reasons a stack names (a voluntary switch's stack is read
    // once, so wmem, data and lock come only from stacks).
    let mut by_reason = std::collections::BTreeMap::<String, u64>::new();
    for b in common::read_parquet(&dir.path.join("offcpu_stacks.parquet")) {
        let reason = common::column(&b, "reason").as_string::<i32>().clone();
        let stack = common::column(&b, "stack").as_string::<i32>().clone();
        let ns = common::column(&b, "offcpu_ns")
            .as_primitive::<UInt64Type>()
            .clone();
        for i in 0..b.num_rows() {
            assert!(
                stack.value(i).ends_with(";schedule;__schedule"),
                "{}",
                stack.value(i)
            );
            *by_reason.entry(reason.value(i).to_owned()).or_default() += ns.value(i);
        }
    }
    let in_records = |reason: &str| -> u64 {
        common::read_parquet(&dir.table_path("syscalls"))
            .iter()
            .map(|b| {
                let c = common::column(b, &format!("offcpu_{reason}_ns"));
                c.as_primitive::<UInt64Type>().values().iter().sum::<u64>()
            })
            .sum()
    };
    for reason in ["wmem", "data", "lock"] {
        assert_eq!(
            by_reason.get(reason).copied().unwrap_or(0),
            in_records(reason),
            "{reason}: stacks vs records ({by_reason:?})"
        );
    }
    assert!(
        by_reason.get("data").is_some_and(|ns| *ns > 0),
        "{by_reason:?}"
    );
    assert!(
        !by_reason.contains_key("preempt"),
        "a preempted call's stack is not read"
    );
}
