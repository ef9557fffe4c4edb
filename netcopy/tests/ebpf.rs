//! The eBPF pipeline end to end: load the embedded object, attach the syscall, sched and net
//! tracepoints, run each copy mode, and check the kernel's view against the workload's own
//! counts: calls per thread and kind exactly, and bytes exactly.

mod common;

use common::{config, require_root};
use netcopy::{
    model::{Mode, NetPath, ProbeCheck, Role, RunSummary, SyscallSummary},
    probes::sample::DEFAULT_HZ,
    sink::RunDir,
    trace::{Tail, TraceOptions, trace},
    workload::conn::Stop,
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
        let dir = common::run_dir(&format!("ebpf-{mode}"));
        let opts = TraceOptions {
            out: Some(dir.clone()),
            sample_hz: Some(DEFAULT_HZ),
            ..Default::default()
        };
        let s = trace(&cfg, NetPath::Loopback, &opts, &Stop::default())
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let p = s
            .probe
            .as_ref()
            .unwrap_or_else(|| panic!("no probe section"));
        assert_eq!(p.lost, 0, "{mode}: records lost at this rate");
        // Every sample of a thread inside a call interrupted kernel code, so it has a stack.
        assert_eq!(
            p.stackless_samples,
            Some(0),
            "{mode}: samples without a stack"
        );
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
        // (io_uring_enter's bytes: the results of the send requests completed inside it.)
        assert_eq!(
            sum(
                rows,
                Role::Server,
                &["sendto", "sendmsg", "io_uring_enter"],
                |r| r.bytes
            ),
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
            match mode {
                Mode::Twocopy => "sendto",
                Mode::Uring | Mode::Uringzc => "io_uring_enter",
                Mode::Onecopy | Mode::Zerocopy => "sendmsg",
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
        check_tables(&dir, &s, p);
        for c in &p.switches {
            // Threads sleep almost only inside the traced calls: in-call voluntary switches
            // match getrusage's count within 5% (zerocopy senders also sleep in poll, and a
            // uring sender in its ring's teardown: bpftrace found close(2) of the ring and
            // munmap(2) of its queues sleeping, outside any traced call). A uring sender's
            // ring setup, which the workload counts itself, is taken out first: with two
            // senders, one's mmap(2) waits on the mmap_lock while the other's
            // io_uring_register(2) pins its buffers (bpftrace). Over 11 runs the uring
            // threads' sleeps outside calls were exactly their setup's (0 to 5); runs
            // before the setup was counted failed here with 28 to 106 outside.
            let (inside, all) = (c.in_calls.voluntary, c.thread.voluntary);
            let teardown = if mode.uses_uring() { 4 } else { 0 };
            assert!(inside <= all, "{mode}: {c:?}");
            assert!(c.setup.voluntary <= all - inside, "{mode}: {c:?}");
            assert!(
                all - inside - c.setup.voluntary <= all / 20 + s.send_calls.poll + 3 + teardown,
                "{mode}: {c:?}"
            );
            // Preemption happens on the way back to user space on this kernel
            // (PREEMPT_NONE), after sys_exit: most involuntary switches fall outside calls.
            assert!(
                c.in_calls.involuntary <= c.thread.involuntary,
                "{mode}: {c:?}"
            );
        }
        if mode == Mode::Zerocopy {
            let z = s
                .zerocopy
                .as_ref()
                .unwrap_or_else(|| panic!("no zerocopy stats"));
            check_completions(&dir, z.sends);
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
        check_requests(mode, &s, p, &dir);
    }
}

/// The io_uring tracepoints' counts per sending thread: every send request, notification
/// and copied notification the workload counted, and nothing outside the uring modes.
fn check_requests(mode: Mode, s: &RunSummary, p: &ProbeCheck, dir: &RunDir) {
    use arrow_array::{Array, cast::AsArray, types::UInt64Type};
    let table = dir.table_path("uring");
    if !mode.uses_uring() {
        assert!(p.requests.is_empty(), "{mode}: {:?}", p.requests);
        assert_eq!(p.request_rows, 0, "{mode}");
        assert!(!table.exists(), "{mode}: a uring table without io_uring");
        return;
    }
    let of = |what: &str| -> u64 {
        p.requests
            .iter()
            .filter(|r| r.what == what)
            .map(|r| {
                assert_eq!(r.kernel, r.workload, "{mode}: {r:?}");
                assert_eq!(r.role, Role::Server, "{mode}: {r:?}");
                r.kernel
            })
            .sum()
    };
    let (requests, notifications, copied) =
        (of("send requests"), of("notifications"), of("copied"));
    assert_eq!(requests, s.send_calls.uring_sends, "{mode}");
    assert!(requests >= s.messages, "{mode}: a request per message");
    // uring.parquet: a row per request, their bytes those the receivers got (the acks went
    // through send(2)), and each SEND_ZC row with its notification.
    assert_eq!(p.request_events_lost, 0, "{mode}");
    assert_eq!(p.request_rows, requests, "{mode}");
    assert_eq!(p.unnotified, 0, "{mode}");
    let (mut rows, mut bytes, mut notified, mut copied_rows) = (0u64, 0u64, 0u64, 0u64);
    for batch in common::read_parquet(&table) {
        rows += batch.num_rows() as u64;
        let b = common::column(&batch, "bytes").as_primitive::<UInt64Type>();
        let n = common::column(&batch, "notified").as_boolean();
        let c = common::column(&batch, "copied").as_boolean();
        let lat = common::column(&batch, "latency_ns").as_primitive::<UInt64Type>();
        for i in 0..batch.num_rows() {
            bytes += b.value(i);
            notified += u64::from(n.value(i));
            copied_rows += u64::from(c.is_valid(i) && c.value(i));
            assert!(
                lat.value(i) > 0,
                "{mode}: a request completed before its submit"
            );
        }
    }
    assert_eq!(rows, requests, "{mode}: rows in uring.parquet");
    assert_eq!(bytes, s.bytes, "{mode}: bytes in uring.parquet");
    assert_eq!(notified, notifications, "{mode}: notified rows");
    assert_eq!(copied_rows, copied, "{mode}: copied rows");
    if mode == Mode::Uringzc {
        assert_eq!(
            notifications, requests,
            "{mode}: one notification per SEND_ZC"
        );
        // Loopback makes the kernel copy, and the notification says so.
        assert_eq!(copied, notifications, "{mode}");
    } else {
        assert_eq!((notifications, copied), (0, 0), "{mode}");
    }
}

#[test]
fn records_flow_over_the_netns_testbed_too() {
    require_root("loading eBPF programs and the netns testbed");
    let cfg = config(Mode::Onecopy, 64 * 1024, 1, 1.0);
    let s = trace(
        &cfg,
        NetPath::Netns,
        &TraceOptions::default(),
        &Stop::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = s
        .probe
        .as_ref()
        .unwrap_or_else(|| panic!("no probe section"));
    assert!(p.agrees(), "{p:?}");
    // No sampler: its count is unknown, not 0.
    assert_eq!(p.stackless_samples, None);
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

/// The Parquet tables hold exactly what the summary says: one syscalls row per call of
/// each thread and kind, the same bytes, and one runs row.
fn check_tables(dir: &RunDir, s: &RunSummary, p: &ProbeCheck) {
    use std::collections::HashMap;

    use arrow_array::{
        Array,
        cast::AsArray,
        types::{Int32Type, UInt32Type, UInt64Type},
    };

    let mut rows: HashMap<(u32, String), (u64, u64)> = HashMap::new();
    for batch in common::read_parquet(&dir.table_path("syscalls")) {
        let tid = common::column(&batch, "tid").as_primitive::<UInt32Type>();
        let bytes = common::column(&batch, "bytes").as_primitive::<UInt64Type>();
        let syscall = common::column(&batch, "syscall").as_dictionary::<Int32Type>();
        let names = syscall.values().as_string::<i32>();
        let roles = common::column(&batch, "role").as_dictionary::<Int32Type>();
        let role_names = roles.values().as_string::<i32>();
        for i in 0..batch.num_rows() {
            let name = names.value(syscall.keys().value(i) as usize).to_owned();
            let role = role_names.value(roles.keys().value(i) as usize);
            // This run's threads have the role the summary gives them; any other thread
            // (another test's run, in this process too) is not one of this run's ends.
            let mine = p.threads.iter().find(|t| t.tid == tid.value(i));
            assert_eq!(
                role,
                mine.map_or("other", |t| t.role.name()),
                "the role of thread {} in syscalls.parquet",
                tid.value(i)
            );
            let e = rows.entry((tid.value(i), name)).or_default();
            e.0 += 1;
            e.1 += if bytes.is_null(i) { 0 } else { bytes.value(i) };
        }
    }
    for t in &p.threads {
        let (calls, _) = rows
            .get(&(t.tid, t.syscall.to_owned()))
            .copied()
            .unwrap_or_default();
        assert_eq!(calls, t.workload, "syscalls.parquet rows for {t:?}");
    }
    let sent: u64 = rows
        .iter()
        .filter(|((tid, name), _)| {
            ["sendto", "sendmsg", "io_uring_enter"].contains(&name.as_str())
                && p.threads
                    .iter()
                    .any(|t| t.tid == *tid && t.role == Role::Server)
        })
        .map(|(_, (_, b))| b)
        .sum();
    assert_eq!(
        sent,
        s.bytes + 8 * u64::from(s.threads),
        "bytes in syscalls.parquet"
    );

    let runs = common::read_parquet(&dir.table_path("runs"));
    assert_eq!(runs.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let lost = common::column(&runs[0], "lost_records").as_primitive::<UInt64Type>();
    assert_eq!(lost.value(0), 0);
    let stackless = common::column(&runs[0], "lost_samples").as_primitive::<UInt64Type>();
    assert_eq!(stackless.iter().next().flatten(), p.stackless_samples);
    let methods = common::column(&runs[0], "attach_methods").as_string::<i32>();
    let methods = methods.value(0);
    let pmu = common::column(&runs[0], "pmu").as_boolean().value(0);
    assert_eq!(
        pmu,
        methods.contains("cycles=perf_event counters"),
        "{methods}"
    );
    // Where the exact tier or the counters did not run, their columns are null, never 0.
    let exact = methods.contains("stages=fentry/fexit");
    for batch in common::read_parquet(&dir.table_path("syscalls")) {
        for name in netcopy::sink::syscalls::exact_columns() {
            let nulls = common::column(&batch, &name).null_count();
            assert_eq!(nulls == batch.num_rows(), !exact, "{name} with {methods}");
        }
        let nulls = common::column(&batch, "cycles").null_count();
        assert_eq!(nulls == batch.num_rows(), !pmu, "cycles with {methods}");
    }
}

/// zerocopy.parquet accounts for every MSG_ZEROCOPY send exactly once.
fn check_completions(dir: &RunDir, sends: u64) {
    use std::collections::HashMap;

    use arrow_array::{
        Array,
        cast::AsArray,
        types::{UInt32Type, UInt64Type},
    };

    let mut per_thread: HashMap<u32, Vec<(u32, u32, u64)>> = HashMap::new();
    for batch in common::read_parquet(&dir.table_path("zerocopy")) {
        let tid = common::column(&batch, "tid").as_primitive::<UInt32Type>();
        let first = common::column(&batch, "first_id").as_primitive::<UInt32Type>();
        let last = common::column(&batch, "last_id").as_primitive::<UInt32Type>();
        let newly = common::column(&batch, "newly_completed").as_primitive::<UInt64Type>();
        let copied = common::column(&batch, "copied").as_boolean();
        let latency = common::column(&batch, "first_send_to_reap_ns");
        for i in 0..batch.num_rows() {
            assert!(copied.value(i), "loopback completions carry COPIED");
            assert!(newly.value(i) == 0 || !latency.is_null(i));
            per_thread.entry(tid.value(i)).or_default().push((
                first.value(i),
                last.value(i),
                newly.value(i),
            ));
        }
    }
    let total: u64 = per_thread.values().flatten().map(|r| r.2).sum();
    assert_eq!(
        total, sends,
        "every send completed exactly once in zerocopy.parquet"
    );
    for ranges in per_thread.values() {
        // The ranges with new ids tile 0..n with no gap and no overlap.
        let mut new: Vec<_> = ranges.iter().filter(|r| r.2 > 0).collect();
        new.sort();
        let mut next = 0u64;
        for (first, last, newly) in new {
            assert_eq!(u64::from(*first), next, "gap or overlap at id {first}");
            assert_eq!(u64::from(*last) - u64::from(*first) + 1, *newly);
            next = u64::from(*last) + 1;
        }
    }
}

#[test]
fn stage_shares_match_the_copy_modes() {
    require_root("loading eBPF programs");
    let share = |s: &RunSummary, stage: &str| {
        s.stages
            .as_deref()
            .unwrap_or_else(|| panic!("no stage rows"))
            .iter()
            .find(|r| r.role == Role::Server && r.stage == stage)
            .map_or(0.0, |r| r.share)
    };
    let mut onecopy_copy = 0.0;
    for mode in [Mode::Onecopy, Mode::Zerocopy] {
        let dir = common::run_dir(&format!("stages-{mode}"));
        // Five times the default rate: thousands of samples in 1.5 s.
        let opts = TraceOptions {
            out: Some(dir.clone()),
            sample_hz: Some(5 * DEFAULT_HZ),
            ..Default::default()
        };
        let cfg = config(mode, 64 * 1024, 1, 1.5);
        let s = trace(&cfg, NetPath::Loopback, &opts, &Stop::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let rows = s
            .stages
            .as_deref()
            .unwrap_or_else(|| panic!("no stage rows"));
        let sender_samples: u64 = rows
            .iter()
            .filter(|r| r.role == Role::Server)
            .map(|r| r.samples)
            .sum();
        // About 5 kHz of the sender's on-CPU time in its calls (less where it shares its CPU
        // with the other tests of this binary); samples land only inside calls.
        let oncpu_s = s
            .syscalls
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|r| r.role == Role::Server)
            .map(|r| r.oncpu_ns as f64 / 1e9)
            .sum::<f64>();
        let expected = oncpu_s * (5 * DEFAULT_HZ) as f64;
        assert!(
            sender_samples > 300 && sender_samples as f64 > 0.5 * expected,
            "{mode}: only {sender_samples} sender samples for {oncpu_s:.2} s on-CPU in calls"
        );
        match mode {
            // How big the copy's share is depends on the CPU: 35% on the hosts the fixtures
            // were sampled on (38.6% in them), 3 to 10% on an AMD EPYC family 26 host, whose
            // copy is faster and where `perf record -e cpu-clock` on an untraced run puts 26%
            // of all samples on `_raw_spin_unlock_irqrestore` (the irqs-off skew). So this
            // asks for a share that is there, and the mode comparison asks for the rest.
            Mode::Onecopy => {
                onecopy_copy = share(&s, "copy_user_to_skb");
                assert!(onecopy_copy > 0.015, "{mode}: {rows:?}");
                // Not exactly 0: the receive softirq inside a send may process packets of
                // other tests' zerocopy connections running at the same time.
                assert!(
                    share(&s, "zerocopy_pin") + share(&s, "deferred_copy") < 0.03,
                    "{rows:?}"
                );
            }
            // Measured: pin 7%, deferred copy 28% (pin 5.5%, deferred copy 10% on the EPYC
            // family 26 host); no copy inside the call.
            _ => {
                assert!(
                    share(&s, "zerocopy_pin") + share(&s, "deferred_copy") > 0.10,
                    "{mode}: {rows:?}"
                );
                let copy = share(&s, "copy_user_to_skb");
                assert!(copy < 0.01, "{mode}: {rows:?}");
                assert!(
                    onecopy_copy > 3.0 * copy,
                    "the copy is onecopy's ({onecopy_copy}), not zerocopy's ({copy})"
                );
            }
        }
        // The tables hold the same samples.
        let in_table = sum_u64(&common::read_parquet(&dir.table_path("stages")), "samples");
        let in_summary: u64 = rows.iter().map(|r| r.samples).sum();
        assert_eq!(in_table, in_summary, "{mode}: stages.parquet vs summary");
        let stacked = sum_u64(&common::read_parquet(&dir.table_path("stacks")), "samples");
        assert_eq!(stacked, in_summary, "{mode}: stacks.parquet vs summary");
    }
}

#[test]
fn pid_traces_an_external_program() {
    require_root("loading eBPF programs");
    use netcopy::trace::external::{Target, trace_targets};
    // A Python sender: waits for "go", then makes exactly 500 send(2) calls of 1000 bytes
    // to a receiver thread of its own over loopback, and says how many bytes it sent.
    let script = r#"
import socket, sys, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def drain():
    c, _ = srv.accept()
    while c.recv(65536):
        pass
t = threading.Thread(target=drain); t.start()
s = socket.create_connection(srv.getsockname())
print("ready", flush=True)
sys.stdin.readline()
sent = sum(s.send(b"x" * 1000) for _ in range(500))
s.close(); t.join()
print(sent, flush=True)
"#;
    let mut py = common::Python::spawn(script);
    assert_eq!(py.line(), "ready");
    let pid = py.child.id();
    let dir = common::run_dir("external");
    let opts = TraceOptions {
        out: Some(dir.clone()),
        sample_hz: Some(DEFAULT_HZ),
        ..Default::default()
    };
    let summary = trace_targets(
        &[Target::Pid(pid)],
        std::time::Duration::from_secs(20),
        &opts,
        &Stop::default(),
        || py.go(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let line = py.line();
    let sent: u64 = line.parse().unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let _ = py.child.wait();
    assert!(
        summary.seconds < 20.0,
        "the trace ends when the process exits: {summary:?}"
    );
    assert_eq!(summary.lost, 0);
    let sendto = summary
        .syscalls
        .iter()
        .find(|r| r.syscall == "sendto")
        .unwrap_or_else(|| panic!("no sendto row: {:?}", summary.syscalls));
    assert_eq!(sendto.role, Role::Other);
    assert_eq!(
        sendto.calls, 500,
        "one record per send(2) of the Python program"
    );
    assert_eq!(sendto.bytes, sent);
    assert!(dir.table_path("syscalls").exists());
}

#[test]
fn comm_traces_iperf3_writes_on_its_sockets() {
    require_root("loading eBPF programs");
    use netcopy::trace::external::{Target, trace_targets};
    use std::process::{Command, Stdio};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port().to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut server = Command::new("iperf3")
        .args(["-s", "-1", "-p", &port])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("iperf3 (cargo xtask setup installs it): {e}"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stop = Stop::default();
    let client = std::sync::Mutex::new(None);
    let dir = common::run_dir("iperf3");
    let opts = TraceOptions {
        out: Some(dir.clone()),
        sample_hz: Some(DEFAULT_HZ),
        ..Default::default()
    };
    let summary = trace_targets(
        &[Target::Comm("iperf3".into())],
        std::time::Duration::from_secs(30),
        &opts,
        &stop,
        || {
            let (stop, port) = (stop.clone(), port.clone());
            let child = Command::new("iperf3")
                .args(["-c", "127.0.0.1", "-p", &port, "-t", "1", "-l", "64K", "-J"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("iperf3 -c: {e}"));
            let pid = child.id();
            let handle = std::thread::spawn(move || {
                let out = child.wait_with_output();
                stop.request();
                out
            });
            *client.lock().unwrap_or_else(|e| e.into_inner()) = Some((pid, handle));
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let server_pid = server.id();
    let _ = server.wait();
    let taken = client.lock().unwrap_or_else(|e| e.into_inner()).take();
    let (client_pid, handle) = taken.unwrap_or_else(|| panic!("client never started"));
    let out = handle
        .join()
        .unwrap_or_else(|_| panic!("client thread"))
        .unwrap_or_else(|e| panic!("iperf3 -c: {e}"));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let sent = report["end"]["sum_sent"]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("{report}"));
    // One row per process and syscall: the two iperf3 processes apart.
    let row = |pid: u32, syscall: &str| {
        summary
            .syscalls
            .iter()
            .find(|r| r.syscall == syscall && r.process.as_ref().is_some_and(|p| p.pid == pid))
            .unwrap_or_else(|| panic!("no {syscall} row of pid {pid}: {:?}", summary.syscalls))
    };
    for r in &summary.syscalls {
        let p = r
            .process
            .as_ref()
            .unwrap_or_else(|| panic!("no process: {r:?}"));
        assert_eq!(p.comm, "iperf3");
        assert!([server_pid, client_pid].contains(&p.pid), "{p:?}");
    }
    // The client writes the data with write(2); its control connection adds a little JSON.
    let write = row(client_pid, "write");
    assert!(
        write.bytes >= sent && write.bytes - sent < 64 * 1024,
        "client write {} vs iperf3 {sent}",
        write.bytes
    );
    // The server reads what iperf3 says it received (it may stop reading the data stream
    // before the last bytes sent arrive), and every traced read copied from skbs.
    let received = report["end"]["sum_received"]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("{report}"));
    let read = row(server_pid, "read");
    assert!(
        read.bytes >= received && read.bytes - received < 64 * 1024,
        "server read {} vs iperf3 {received} received",
        read.bytes
    );
    assert_eq!(read.bytes_to_user, read.bytes);
    assert_eq!(summary.lost, 0);
    let text = netcopy::report::external::render(&summary);
    for pid in [server_pid, client_pid] {
        assert!(text.contains(&format!("iperf3[{pid}]")), "{text}");
    }
    // syscalls.parquet names each row's process.
    let batches = common::read_parquet(&dir.table_path("syscalls"));
    let mut seen = std::collections::BTreeSet::new();
    for b in &batches {
        use arrow_array::{cast::AsArray, types::Int32Type};
        let comm = common::column(b, "comm").as_dictionary::<Int32Type>();
        let names = comm.values().as_string::<i32>();
        let tgid = b
            .column_by_name("tgid")
            .and_then(|c| c.as_any().downcast_ref::<arrow_array::UInt32Array>())
            .unwrap_or_else(|| panic!("no tgid"));
        for i in 0..b.num_rows() {
            let key = comm.keys().value(i) as usize;
            seen.insert((tgid.value(i), names.value(key).to_owned()));
        }
    }
    let expected: std::collections::BTreeSet<_> = [server_pid, client_pid]
        .into_iter()
        .map(|p| (p, "iperf3".to_owned()))
        .collect();
    assert_eq!(seen, expected);
    // A flame graph of the external trace, narrowed to the server's reads.
    let svg = dir.path.join("server-read.svg");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_netcopy"))
        .arg("flamegraph")
        .arg(&dir.path)
        .args(["--role", "other", "--syscall", "read", "--out"])
        .arg(&svg)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let svg = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(svg.contains("[copy_skb_to_user]"), "the reads copy to user");
    assert!(
        !svg.contains("[copy_user_to_skb]"),
        "no send stage in reads"
    );
}

/// The sum of a UInt64 column over batches.
fn sum_u64(batches: &[arrow_array::RecordBatch], name: &str) -> u64 {
    use arrow_array::{cast::AsArray, types::UInt64Type};
    batches
        .iter()
        .map(|b| {
            common::column(b, name)
                .as_primitive::<UInt64Type>()
                .iter()
                .flatten()
                .sum::<u64>()
        })
        .sum()
}

fn probe(s: &RunSummary) -> &ProbeCheck {
    s.probe
        .as_ref()
        .unwrap_or_else(|| panic!("no probe section"))
}

/// A short traced twocopy 1K run with `opts`, whose kernel totals agree with the workload's
/// counts in every thread.
fn exact_twocopy_1k(opts: &TraceOptions) -> RunSummary {
    let cfg = config(Mode::Twocopy, 1024, 1, 0.5);
    let s =
        trace(&cfg, NetPath::Loopback, opts, &Stop::default()).unwrap_or_else(|e| panic!("{e}"));
    let p = probe(&s);
    assert!(p.agrees(), "{p:?}");
    assert!(p.threads.iter().all(|t| t.records == t.workload), "{p:?}");
    s
}

#[test]
fn aggregate_mode_keeps_exact_counts_without_records() {
    require_root("loading eBPF programs");
    let dir = common::run_dir("aggregate");
    let opts = TraceOptions {
        out: Some(dir.clone()),
        aggregate: true,
        ..Default::default()
    };
    let s = exact_twocopy_1k(&opts);
    let rows = s
        .syscalls
        .as_deref()
        .unwrap_or_else(|| panic!("no syscall rows"));
    assert_eq!(
        sum(rows, Role::Server, &["sendto"], |r| r.bytes),
        s.bytes + 8
    );
    let send = row(rows, Role::Server, "sendto").unwrap_or_else(|| panic!("no sendto row"));
    let (p50, p99) = (send.p50_ns.unwrap_or(0), send.p99_ns.unwrap_or(0));
    assert!(
        p50 > 0 && p50 <= p99,
        "log2-bucket percentiles: {p50} {p99}"
    );
    assert!(
        !dir.table_path("syscalls").exists(),
        "no per-call table when aggregating"
    );
    assert!(dir.table_path("runs").exists());
}

#[test]
fn tail_records_keep_exact_totals_and_rows_for_the_tail_only() {
    require_root("loading eBPF programs");
    use arrow_array::{cast::AsArray, types::Int64Type, types::UInt32Type, types::UInt64Type};
    let every = 100;
    let dir = common::run_dir("tail");
    let opts = TraceOptions {
        out: Some(dir.clone()),
        // No slow threshold: a row is a failed call, a blocked one, or every 100th.
        tail: Some(Tail { slow_ns: 0, every }),
        ..Default::default()
    };
    // The totals are the kernel's, exact, though most calls have no row.
    let s = exact_twocopy_1k(&opts);
    let p = probe(&s);
    assert_eq!(p.lost, 0);
    let mut rows: std::collections::HashMap<u32, (u64, u64)> = Default::default();
    for b in common::read_parquet(&dir.table_path("syscalls")) {
        let tid = common::column(&b, "tid").as_primitive::<UInt32Type>();
        let off = common::column(&b, "offcpu_ns").as_primitive::<UInt64Type>();
        let ret = common::column(&b, "ret").as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let e = rows.entry(tid.value(i)).or_default();
            e.0 += 1;
            // Neither blocked nor failed: kept only as an every-Nth call.
            e.1 += u64::from(off.value(i) == 0 && ret.value(i) >= 0);
        }
    }
    let written: u64 = rows.values().map(|r| r.0).sum();
    assert_eq!(p.tail_rows, Some(written), "the summary's row count");
    for tid in [Role::Server, Role::Client].map(|role| {
        p.threads
            .iter()
            .find(|t| t.role == role)
            .map_or_else(|| panic!("no {role:?} thread: {p:?}"), |t| t.tid)
    }) {
        let mine = p.threads.iter().filter(|t| t.tid == tid);
        let calls: u64 = mine.clone().map(|t| t.workload).sum();
        let nth: u64 = mine.map(|t| t.workload / u64::from(every)).sum();
        let (all, plain) = rows.get(&tid).copied().unwrap_or_default();
        assert!(nth > 10, "thread {tid}: too few calls ({calls}) to judge");
        assert!(all < calls, "thread {tid}: {all} rows for {calls} calls");
        // Every Nth call has a row (blocked or not), and no call outside the tail does.
        assert!(all >= nth, "thread {tid}: {all} rows, {nth} Nth calls");
        assert!(
            plain <= nth,
            "thread {tid}: {plain} rows outside the tail, {nth} Nth calls"
        );
    }
}

#[test]
fn context_switches_agree_with_perf_stat() {
    require_root("loading eBPF programs");
    use netcopy::trace::external::{Target, trace_targets};
    // The sender is a process of its own: the test process must not make socket calls, as
    // other tests trace it (their workload runs in it) at the same time.
    let sender_script = r#"
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
sys.stdin.readline()
for _ in range(400):
    c.sendall(b"x" * 1000)
    time.sleep(0.001)
c.close()
"#;
    let mut sender = common::Python::spawn(sender_script);
    let port = sender.line();
    // A single-threaded Python receiver: it blocks in recv(2) for every chunk the sender
    // sends 1 ms apart, so nearly all its sleeps happen inside traced calls.
    let script = format!(
        r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", {port}))
print("ready", flush=True)
sys.stdin.readline()
n = 0
while True:
    b = s.recv(65536)
    if not b:
        break
    n += len(b)
print(n, flush=True)
"#
    );
    let mut receiver = common::Python::spawn(&script);
    assert_eq!(receiver.line(), "ready");
    let pid = receiver.child.id();
    let dir = std::env::temp_dir().join(format!("netcopy-perf-stat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let (perf_out, perf_err) = (dir.join("out"), dir.join("err"));
    let (ctl, ack) = (dir.join("ctl"), dir.join("ack"));
    for fifo in [&ctl, &ack] {
        nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::S_IRWXU)
            .unwrap_or_else(|e| panic!("mkfifo {}: {e}", fifo.display()));
    }
    // Both ends open read-write, so that neither open waits for perf.
    let open_rw = |p: &std::path::Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let (mut ctl_fifo, ack_fifo) = (open_rw(&ctl), open_rw(&ack));
    let perf = std::sync::Mutex::new(None);
    let summary = trace_targets(
        &[Target::Pid(pid)],
        std::time::Duration::from_secs(30),
        &TraceOptions::default(),
        &Stop::default(),
        || {
            // perf starts with its counters disabled (-D -1) and acknowledges `enable` only
            // once they are open and counting: a fixed wait was not enough on a loaded
            // machine, where the receiver could finish before perf attached.
            let p = std::process::Command::new("perf")
                .args([
                    "stat",
                    "-x,",
                    "-e",
                    "context-switches",
                    "-e",
                    "sched:sched_switch",
                ])
                .args([
                    "--filter",
                    "prev_state == 0 || prev_state == 256",
                    "-D",
                    "-1",
                ])
                .arg(format!(
                    "--control=fifo:{},{}",
                    ctl.display(),
                    ack.display()
                ))
                .arg("-o")
                .arg(&perf_out)
                .args(["-p", &pid.to_string()])
                .stderr(std::fs::File::create(&perf_err).unwrap_or_else(|e| panic!("{e}")))
                .spawn()
                .unwrap_or_else(|e| panic!("perf (cargo xtask setup installs it): {e}"));
            *perf.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
            std::io::Write::write_all(&mut ctl_fifo, b"enable\n")
                .unwrap_or_else(|e| panic!("perf's control fifo: {e}"));
            let mut fds = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&ack_fifo),
                nix::poll::PollFlags::POLLIN,
            )];
            let ready = nix::poll::poll(&mut fds, 20_000u16).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                ready == 1,
                "perf did not enable its counters within 20 s: {}",
                std::fs::read_to_string(&perf_err).unwrap_or_default()
            );
            let mut buf = [0u8; 16];
            let n = std::io::Read::read(&mut &ack_fifo, &mut buf).unwrap_or_else(|e| panic!("{e}"));
            // perf writes the C string "ack\n", with its NUL.
            assert!(
                buf[..n].starts_with(b"ack\n"),
                "perf's answer: {:?}",
                &buf[..n]
            );
            receiver.go();
            sender.go();
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(receiver.line(), "400000", "the receiver got every byte");
    let _ = receiver.child.wait();
    let _ = sender.child.wait();
    let status = perf
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_else(|| panic!("perf never started"))
        .wait();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "perf stat failed ({status:?}): {}",
        std::fs::read_to_string(&perf_err).unwrap_or_default()
    );
    let text = std::fs::read_to_string(&perf_out).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let count = |event: &str| -> u64 {
        text.lines()
            .find(|l| l.split(',').nth(2) == Some(event))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {event} count in perf's output: {text}"))
    };
    // perf's own switch counter, and its count of switches where the task was still
    // runnable (preempted, 256, or yielding, 0): the rest are the sleeps.
    let (total, runnable) = (count("context-switches"), count("sched:sched_switch"));
    let slept = total.saturating_sub(runnable);
    let (calls, voluntary, involuntary) = summary
        .syscalls
        .iter()
        .filter(|r| r.syscall == "recvfrom")
        .fold((0, 0, 0), |(c, v, i), r| {
            (c + r.calls, v + r.voluntary_cs, i + r.involuntary_cs)
        });
    // Under load chunks can arrive together, so fewer than 400 calls wait.
    assert!(
        calls >= 20 && voluntary >= 20,
        "{calls} calls, {voluntary} sleeps"
    );
    // The receiver sleeps only in recv(2): the sleeps agree within 5%. It is preempted mostly
    // on its way back to user space, after sys_exit (PREEMPT_NONE), outside any call: those
    // are in perf's total but not in the calls' switches, and they are about one per wake-up
    // here, which is why the totals differ (measured: 400 sleeps in calls and 400 in perf's
    // count, whose total of 784 holds 384 runnable switches).
    let msg = format!(
        "in calls {voluntary} voluntary + {involuntary} involuntary; perf: {total} switches, {runnable} runnable"
    );
    assert!(
        voluntary <= slept && slept - voluntary <= slept / 20 + 2,
        "{msg}"
    );
    assert!(involuntary <= runnable, "{msg}");
    eprintln!("{msg}");
}
