//! The command line: `--json` output with the documented keys, `serve` + `client` across
//! processes, and bad input refused with one line and exit code 2.

use std::{
    net::TcpListener,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

mod common;

use common::require_root;

const BIN: &str = env!("CARGO_BIN_EXE_netcopy");

/// Bad input: exit code 2 and one line on stderr that contains `needle`.
fn assert_usage_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

fn netcopy(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"))
}

/// A path under the temp directory for this test process, with nothing there yet.
fn fresh_dir(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("netcopy-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let text = dir.to_string_lossy().into_owned();
    (dir, text)
}

/// A port nothing listens on right now.
fn free_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port()
        .to_string()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn run_json_has_the_documented_keys() {
    for mode in ["twocopy", "onecopy", "zerocopy", "uring", "uringzc"] {
        let out = netcopy(&[
            "run",
            "--mode",
            mode,
            "--size",
            "1K",
            "--duration",
            "300ms",
            "--warmup",
            "0",
            "--json",
        ]);
        let v = json(&out);
        assert_eq!(v["mode"], mode);
        assert_eq!(v["size"], 1024);
        assert_eq!(v["threads"], 1);
        assert_eq!(v["duration_s"], 0.3);
        assert_eq!(v["verified"], true);
        let bytes = v["bytes"].as_u64().unwrap_or_default();
        let messages = v["messages"].as_u64().unwrap_or_default();
        assert!(
            messages > 0 && bytes == messages * 1024,
            "{bytes} {messages}"
        );
        assert!(v["throughput_gbps"].as_f64().unwrap_or_default() > 0.0);
        // 1K messages: one call in 16 timed by default.
        assert_eq!(v["calls_timed_one_in"], 16, "{mode}");
        for key in ["send_latency_ns", "recv_latency_ns"] {
            for q in ["p50", "p90", "p99", "p999", "max"] {
                assert!(
                    v[key][q].as_u64().is_some(),
                    "{mode}: {key}.{q} missing: {}",
                    v[key]
                );
            }
        }
        if mode == "zerocopy" || mode == "uringzc" {
            let z = &v["zerocopy"];
            assert!(z["sends"].as_u64().unwrap_or_default() >= messages);
            assert_eq!(z["completed"], z["sends"]);
            assert!(z["copied"].as_u64().is_some());
            let fixed = if mode == "uringzc" {
                true.into()
            } else {
                serde_json::Value::Null
            };
            assert_eq!(z["fixed_buffers"], fixed, "{mode}");
        } else {
            assert!(v["zerocopy"].is_null());
        }
    }
}

/// A uringzc client of a separate server, receiving with `--rx zerocopy`; and a server
/// without io_uring (`NETCOPY_HIDE=io_uring`) turns a uring client away with a reason the
/// client prints on one line.
#[test]
fn uringzc_between_processes_and_a_server_without_io_uring() {
    let serve = |hide: &str, port: &str| {
        Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1", "--port", port, "--json"])
            .env("NETCOPY_HIDE", hide)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn server: {e}"))
    };
    let client = |port: &str| {
        netcopy(&[
            "client",
            "--server",
            "127.0.0.1",
            "--port",
            port,
            "--mode",
            "uringzc",
            "--rx",
            "zerocopy",
            "--size",
            "64K",
            "--duration",
            "500ms",
            "--warmup",
            "100ms",
            "--json",
        ])
    };
    let port = free_port();
    let mut server = serve("", &port);
    std::thread::sleep(Duration::from_millis(300));
    let out = client(&port);
    // The server prints its connection's line once its sender has ended.
    std::thread::sleep(Duration::from_millis(500));
    let _ = server.kill();
    let served = server.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let v = json(&out);
    let z = &v["rx_zerocopy"];
    let (mapped, copied) = (z["mapped_bytes"].as_u64(), z["copied_bytes"].as_u64());
    assert_eq!(
        mapped.zip(copied).map(|(m, c)| m + c),
        v["bytes"].as_u64(),
        "{z}"
    );
    assert!(mapped > Some(0), "loopback maps behind SEND_ZC: {z}");
    let line = String::from_utf8_lossy(&served.stdout);
    let line: serde_json::Value = serde_json::from_str(line.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(line["mode"], "uringzc");
    assert!(line["send_latency_ns"]["p50"].as_u64().is_some(), "{line}");
    // 64K: the client's default, every call, reached the server in the hello.
    assert_eq!(line["calls_timed_one_in"], 1, "{line}");
    assert_eq!(line["zerocopy"]["completed"], line["zerocopy"]["sends"]);
    assert_eq!(line["zerocopy"]["fixed_buffers"], true);

    let port = free_port();
    let mut server = serve("io_uring", &port);
    std::thread::sleep(Duration::from_millis(300));
    let out = client(&port);
    let _ = server.kill();
    let _ = server.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot use this copy mode"), "{err}");
}

#[test]
fn serve_and_client_in_separate_processes() {
    let port = free_port();
    let server = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
            "--one-off",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn server: {e}"));
    // The client retries nothing: give the server a moment to listen.
    std::thread::sleep(Duration::from_millis(300));
    let out = netcopy(&[
        "client",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--mode",
        "zerocopy",
        "--size",
        "8K",
        "--threads",
        "2",
        "--duration",
        "500ms",
        "--warmup",
        "100ms",
        "--no-latency",
        "--json",
    ]);
    let v = json(&out);
    let served = server.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        served.status.success(),
        "server: {}",
        String::from_utf8_lossy(&served.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&served.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "one line per connection");
    let sent: u64 = lines
        .iter()
        .map(|l| l["bytes"].as_u64().unwrap_or_default())
        .sum();
    assert_eq!(
        sent,
        v["bytes"].as_u64().unwrap_or_default(),
        "server sent what the client received"
    );
    for l in &lines {
        assert_eq!(l["mode"], "zerocopy");
        assert_eq!(l["zerocopy"]["completed"], l["zerocopy"]["sends"]);
        // The client's --no-latency reached the server in the hello.
        assert!(l["send_latency_ns"].is_null(), "{l}");
        assert!(l["calls_timed_one_in"].is_null(), "{l}");
        assert!(
            l["calls"]["sendmsg"].as_u64() >= l["messages"].as_u64(),
            "{l}"
        );
    }
    assert!(v["recv_latency_ns"].is_null(), "{}", v["recv_latency_ns"]);
    assert!(v["calls_timed_one_in"].is_null(), "{v}");
    assert_eq!(v["path"], "network");
}

/// `run --no-latency`: no call is timed, so both latency rows are null (not zero) in the
/// JSON and say so in the table, while calls, bytes and the window are counted as always.
#[test]
fn no_latency_leaves_latency_null_and_counts_everything() {
    let args = ["run", "--mode", "onecopy", "--size", "1K", "--no-latency"];
    let args = [&args[..], &["--duration", "300ms", "--warmup", "0"]].concat();
    let v = json(&netcopy(&[&args[..], &["--json"]].concat()));
    assert!(v["send_latency_ns"].is_null(), "{}", v["send_latency_ns"]);
    assert!(v["recv_latency_ns"].is_null(), "{}", v["recv_latency_ns"]);
    assert!(v["calls_timed_one_in"].is_null(), "{v}");
    let messages = v["messages"].as_u64().unwrap_or_default();
    assert!(messages > 0, "{v}");
    assert_eq!(v["bytes"].as_u64(), Some(messages * 1024));
    assert!(v["send_calls"]["sendmsg"].as_u64() >= Some(messages), "{v}");
    assert!(v["recv_calls"]["recvmsg"].as_u64() >= Some(messages), "{v}");
    assert!(v["window"]["bytes"].as_u64() > Some(0), "{v}");
    assert_eq!(v["verified"], true);
    for c in v["connections"].as_array().into_iter().flatten() {
        assert_eq!(c["sender"]["timed_calls"], 0, "{c}");
        assert_eq!(c["receiver"]["timed_calls"], 0, "{c}");
    }
    assert!(v["connections"][0].is_object(), "{v}");

    let out = netcopy(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.matches("not timed (--no-latency)").count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("p99.9"),
        "no latency table without timed calls: {text}"
    );
}

/// Which calls are timed: one in 16 by default under 16K, picked at random, so the timed
/// calls are about a sixteenth of the sender's calls; every call with `--latency-sample 1`
/// and by default from 16K up. The table says when calls are sampled.
#[test]
fn latency_sample_times_one_call_in_n() {
    let timed = |extra: &[&str], size: &str| {
        let args = [
            "run",
            "--mode",
            "twocopy",
            "--size",
            size,
            "--duration",
            "300ms",
        ];
        let args = [&args[..], &["--warmup", "0"], extra].concat();
        let v = json(&netcopy(&[&args[..], &["--json"]].concat()));
        let in_window = v["send_latency_ns"]["count"].as_u64().unwrap_or_default();
        let sends = v["send_calls"]["sendto"].as_u64().unwrap_or_default();
        let picked: u64 = v["connections"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| c["sender"]["timed_calls"].as_u64())
                    .sum()
            })
            .unwrap_or_default();
        assert!(sends > 1000, "{v}");
        // The histogram holds the picked calls that started inside the window, a part of
        // them.
        assert!(in_window > 0 && in_window <= picked, "{v}");
        (
            v["calls_timed_one_in"].clone(),
            picked as f64 / sends as f64,
        )
    };
    // The share of the sender's own calls it timed, over its whole life: the same thread
    // counts both, so where the window's edges fall (a starved receiver, a late snapshot on
    // a busy machine) does not move it. Bounds of half and twice keep one N apart from the
    // next one tried (a factor of 4); a run of a thousand calls or more holds a share of a
    // sixteenth well inside them.
    let within = |share: f64, n: f64| (0.5 / n..2.0 / n).contains(&share);
    for (extra, size, want) in [
        (&[][..], "1K", 16),
        (&["--latency-sample", "1"][..], "1K", 1),
        (&["--latency-sample", "4"][..], "1K", 4),
        (&[][..], "16K", 1),
    ] {
        let (n, share) = timed(extra, size);
        assert_eq!(n, want, "{extra:?} {size}");
        assert!(
            within(share, f64::from(want)),
            "{extra:?} {size}: {share} of the send calls timed"
        );
    }

    let text = |size| {
        let args = [
            "run",
            "--size",
            size,
            "--duration",
            "200ms",
            "--warmup",
            "0",
        ];
        let out = netcopy(&args);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(text("1K").contains("one call in 16 timed, at random"));
    assert!(!text("64K").contains("one call in"));

    for bad in ["3", "0", "4096"] {
        let out = netcopy(&["run", "--latency-sample", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("power of two"), "{err}");
    }
}

/// `--cpu-affinity S,R`: while the run goes, the kernel lets each sending thread run only
/// on S and each receiving thread only on R; the JSON says so.
#[test]
fn cpu_affinity_pins_each_end_where_asked() {
    let cpus = netcopy::workload::affinity::allowed_cpus();
    let (s, r) = (cpus[cpus.len() - 1], cpus[0]);
    let pair = format!("{s},{r}");
    let child = Command::new(BIN)
        .args(["run", "--threads", "2", "--duration", "2s", "--warmup", "0"])
        .args(["--size", "4K", "--json", "--cpu-affinity", &pair])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // Each thread's name and the CPUs it may run on, once both ends' threads are there.
    let task = format!("/proc/{}/task", child.id());
    let mut seen = Vec::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        seen = std::fs::read_dir(&task)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|t| {
                let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
                let status = std::fs::read_to_string(t.path().join("status")).ok()?;
                let allowed = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
                    .trim()
                    .to_owned();
                Some((comm.trim().to_owned(), allowed))
            })
            .filter(|(comm, _)| comm.starts_with("nc-send-") || comm.starts_with("nc-recv-"))
            .collect();
        if seen.len() == 4 {
            break;
        }
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen.len(), 4, "two connections, two ends each: {seen:?}");
    for (comm, allowed) in &seen {
        let want = if comm.starts_with("nc-send-") { s } else { r };
        assert_eq!(allowed, &want.to_string(), "{comm}: {seen:?}");
    }
    let v = json(&out);
    assert_eq!(v["cpu_affinity"]["sender"], s);
    assert_eq!(v["cpu_affinity"]["receiver"], r);
    let unpinned = json(&netcopy(&["run", "--duration", "200ms", "--json"]));
    assert!(unpinned["cpu_affinity"].is_null(), "{unpinned}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--size", "0"], "size"),
        (&["run", "--size", "2G"], "size"),
        (&["run", "--size", "12Q"], "size"),
        (&["run", "--threads", "0"], "threads"),
        (&["run", "--threads", "1025"], "threads"),
        (&["run", "--mode", "fourcopy"], "fourcopy"),
        (&["run", "--rx", "mmap"], "mmap"),
        (&["run", "--duration", "soon"], "soon"),
        (&["run", "--duration", "0s"], "duration"),
        (&["client", "--server", "not-an-ip"], "not-an-ip"),
        (
            &["run", "--cpu-affinity", "4095"],
            "CPU 4095 is not one this process may run on",
        ),
        (&["run", "--cpu-affinity", "0,x"], "not a CPU number"),
        (&["trace", "--records", "some"], "some"),
        (
            &["trace", "--records", "tail", "--tail-slow", "5s"],
            "at most 4s",
        ),
        (
            &["trace", "--records", "tail", "--aggregate"],
            "--aggregate",
        ),
    ];
    for (args, needle) in cases {
        let out = netcopy(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(first.starts_with("error:"), "{args:?}: {first}");
    }
}

/// A uring mode where io_uring is missing (simulated with `NETCOPY_HIDE=io_uring`) is bad
/// setup: one line naming what is missing, exit 2, before any connection. The other modes
/// do not need it.
#[test]
fn uring_modes_without_io_uring_say_what_is_missing() {
    let run = |mode: &str| {
        Command::new(BIN)
            .args(["run", "--mode", mode, "--size", "1K", "--duration", "200ms"])
            .args(["--warmup", "0", "--json"])
            .env("NETCOPY_HIDE", "io_uring")
            .output()
            .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"))
    };
    for mode in ["uring", "uringzc"] {
        let out = run(mode);
        assert_usage_error(&out, &format!("--mode {mode}: io_uring is hidden"));
        assert!(out.stdout.is_empty(), "{mode} printed a result");
    }
    let v = json(&run("onecopy"));
    assert_eq!(v["verified"], true);
    assert!(v["rx_zerocopy"].is_null(), "--rx copy by default");
    assert_eq!(v["rx"], "copy");
    // The JSON of `--rx zerocopy`: mapped and copied bytes that add up to the bytes.
    let out = netcopy(&[
        "run",
        "--mode",
        "zerocopy",
        "--rx",
        "zerocopy",
        "--size",
        "64K",
        "--duration",
        "300ms",
        "--warmup",
        "0",
        "--json",
    ]);
    let v = json(&out);
    let z = &v["rx_zerocopy"];
    let (mapped, copied) = (z["mapped_bytes"].as_u64(), z["copied_bytes"].as_u64());
    assert_eq!(
        mapped.zip(copied).map(|(m, c)| m + c),
        v["bytes"].as_u64(),
        "{z}"
    );
}

/// Bad input that only the system can tell: a port in use, an address of another host, a
/// route that does not exist, an `--out` that cannot be written. Each is found before
/// anything runs.
#[test]
fn bad_input_found_by_the_system_is_one_line_and_exit_2() {
    require_root("a network namespace without routes, and tracing");
    let held = TcpListener::bind("0.0.0.0:0").unwrap_or_else(|e| panic!("{e}"));
    let port = held.local_addr().map(|a| a.port().to_string()).unwrap();
    let (dir, _) = fresh_dir("unwritable");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap_or_else(|e| panic!("{e}"));
    let under_file = file.join("out").to_string_lossy().into_owned();
    // A namespace of this test's own: only a down loopback, so no route anywhere.
    let ns = format!("ncpyt-noroute-{}", std::process::id());
    let added = Command::new("ip").args(["netns", "add", &ns]).status();
    assert!(added.is_ok_and(|s| s.success()), "ip netns add {ns}");
    let in_ns = Command::new("ip")
        .args(["netns", "exec", &ns, BIN, "client", "--server", "10.9.9.9"])
        .args(["--duration", "1s"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    assert_usage_error(&in_ns, "--server 10.9.9.9: Network is unreachable");
    let cases: &[(&[&str], &str)] = &[
        (&["serve", "--port", &port], "choose another --port"),
        (
            &["serve", "--bind", "192.0.2.1"],
            "must be an address of this host",
        ),
        (
            &["trace", "--duration", "1s", "--out", &under_file],
            "cannot write there",
        ),
        (
            &["trace", "--duration", "1s", "--out", "/proc/netcopy-out"],
            "cannot write there",
        ),
        (
            &["sweep", "--no-trace", "--out", &under_file],
            "cannot write there",
        ),
    ];
    for (args, needle) in cases {
        assert_usage_error(&netcopy(args), needle);
    }
    assert!(!dir.join("netcopy-runs").exists());
    drop(held);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_without_server_fails_with_one_line() {
    let port = free_port();
    // Nothing listens on the port now that the listener is dropped.
    let out = netcopy(&["client", "--port", &port, "--duration", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("connect to 127.0.0.1"), "{err}");
}

fn netns_of(pid: u32) -> Vec<String> {
    netcopy::testbed::netns::list()
        .into_iter()
        .filter(|n| n.starts_with(&format!("ncpy-{pid}-")))
        .collect()
}

#[test]
fn ctrl_c_stops_a_netns_run_cleanly() {
    require_root("this test");
    let child = Command::new(BIN)
        .args([
            "run",
            "--netns",
            "--mode",
            "zerocopy",
            "--size",
            "64K",
            "--duration",
            "60s",
            "--warmup",
            "0",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let pid = child.id();
    // Wait until the testbed exists, so the signal lands mid-run.
    let started = std::time::Instant::now();
    while netns_of(pid).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no namespaces appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap_or_else(|e| panic!("kill: {e}"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["verified"], true);
    assert!(
        v["messages"].as_u64().unwrap_or_default() > 0,
        "the part that ran is reported"
    );
    assert_eq!(v["zerocopy"]["completed"], v["zerocopy"]["sends"]);
    assert!(netns_of(pid).is_empty(), "left behind: {:?}", netns_of(pid));
}

#[test]
fn stale_namespaces_of_a_killed_run_are_removed() {
    require_root("this test");
    // A pid that no longer exists: a finished child's.
    let mut gone = Command::new("true")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let dead = gone.id();
    let _ = gone.wait();
    let stale = format!("ncpy-{dead}-0-srv");
    let ok = Command::new("ip").args(["netns", "add", &stale]).status();
    assert!(ok.is_ok_and(|s| s.success()), "ip netns add {stale}");
    let out = netcopy(&[
        "run",
        "--netns",
        "--size",
        "4K",
        "--duration",
        "200ms",
        "--warmup",
        "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = netns_of(dead);
    let _ = Command::new("ip").args(["netns", "del", &stale]).status();
    assert!(left.is_empty(), "stale namespace kept: {left:?}");
}

#[test]
fn trace_without_privileges_names_the_missing_capabilities() {
    require_root("this test");
    // A copy nobody can execute (the build tree may sit in a private directory).
    let dir = std::env::temp_dir().join(format!("netcopy-priv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let bin = dir.join("netcopy");
    std::fs::copy(BIN, &bin).unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt as _;
    for p in [&dir, &bin] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let sweep_out = dir.join("sweep");
    let sweep_out = sweep_out.to_string_lossy();
    // Not root; and root with the two capabilities (and CAP_SYS_ADMIN) dropped.
    let nobody = ["--reuid", "65534", "--regid", "65534", "--clear-groups"];
    let capless = [
        "--bounding-set",
        "-bpf,-perfmon,-sys_admin",
        "--inh-caps",
        "-bpf,-perfmon,-sys_admin",
    ];
    let setpriv = |how: &[&str], args: &[&str]| {
        Command::new("setpriv")
            .args(how)
            .arg("--")
            .arg(&bin)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("setpriv: {e}"))
    };
    for how in [&nobody[..], &capless[..]] {
        for (args, also) in [
            (vec!["trace", "--duration", "1s"], "sudo"),
            (vec!["top"], "sudo"),
            (vec!["sweep", "--out", &sweep_out], "--no-trace"),
        ] {
            let out = setpriv(how, &args);
            assert_usage_error(&out, "CAP_BPF and CAP_PERFMON");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(also),
                "{how:?} {args:?}"
            );
        }
        // `doctor` says the same, and still shows the rest of the machine.
        let doctor = setpriv(how, &["doctor"]);
        let text = String::from_utf8_lossy(&doctor.stdout);
        assert!(doctor.status.success(), "{how:?}: {text}");
        assert!(
            text.contains("privileges  missing CAP_BPF and CAP_PERFMON"),
            "{how:?}: {text}"
        );
    }
    assert!(
        !dir.join("sweep").exists(),
        "nothing is created before the check"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_writes_its_tables_and_keeps_earlier_ones() {
    require_root("this test");
    let (out, out_s) = fresh_dir("trace");
    let args = [
        "trace",
        "--mode",
        "onecopy",
        "--size",
        "4K",
        "--duration",
        "200ms",
        "--warmup",
        "0",
        "--out",
        &out_s,
    ];
    let first = netcopy(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for table in ["runs", "syscalls"] {
        let file = out.join(format!("{table}.parquet"));
        assert!(
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 0),
            "{table}.parquet missing"
        );
    }
    assert_usage_error(&netcopy(&args), "--force");
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(netcopy(&forced).status.success());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn doctor_shows_the_plan_and_its_fallbacks() {
    let v = json(&netcopy(&["doctor", "--json"]));
    let plan = v["plan"]
        .as_array()
        .unwrap_or_else(|| panic!("no plan: {v}"));
    let stages = plan
        .iter()
        .find(|h| h["hook"] == "stages")
        .unwrap_or_else(|| panic!("no stages hook: {v}"));
    let fentry = stages["steps"][0]["outcome"].as_str().unwrap_or_default();
    // This kernel refuses trampolines (kernel.md); elsewhere they load.
    assert!(
        fentry.starts_with("refused by the kernel") || fentry == "used",
        "{fentry}"
    );
    let chosen = if fentry == "used" {
        "fentry"
    } else {
        "perf_event"
    };
    assert_eq!(stages["chosen"], chosen);
    let brackets = plan
        .iter()
        .find(|h| h["hook"] == "brackets")
        .unwrap_or_else(|| panic!("no brackets hook: {v}"));
    // SAFETY: a plain syscall without arguments.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(
            brackets["chosen"], "raw_tp",
            "raw tracepoints load here: {brackets}"
        );
    }
    assert_eq!(v["features"]["btf"], true, "this kernel has BTF");
    let sched = plan
        .iter()
        .find(|h| h["hook"] == "sched_switch")
        .unwrap_or_else(|| panic!("no sched_switch hook: {v}"));
    assert_eq!(
        sched["chosen"], "tp_btf",
        "BTF tracepoints load here: {sched}"
    );

    let hidden = Command::new(BIN)
        .args(["doctor", "--json"])
        .env("NETCOPY_HIDE", "btf,pmu")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v = json(&hidden);
    assert_eq!(v["features"]["btf"], false);
    assert_eq!(v["features"]["pmu"], false);
    let sched = &v["plan"].as_array().unwrap_or_else(|| panic!("{v}"))[1];
    assert_eq!(sched["hook"], "sched_switch");
    assert_eq!(sched["chosen"], "tracepoint", "{sched}");
    let stages = v["plan"]
        .as_array()
        .and_then(|p| p.iter().find(|h| h["hook"] == "stages"))
        .unwrap_or_else(|| panic!("no stages hook: {v}"));
    assert_eq!(
        stages["steps"][0]["outcome"],
        "needs BTF (/sys/kernel/btf/vmlinux)"
    );
    let text = netcopy(&["doctor"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("privileges") && out.contains("PMU") && out.contains("stages"),
        "{out}"
    );
}

#[test]
fn trace_targets_that_do_not_exist_are_bad_input() {
    require_root("this test");
    for (args, needle) in [
        (
            &["trace", "--pid", "999999999"][..],
            "no process with pid 999999999",
        ),
        (
            &["trace", "--cgroup", "no/such/group"][..],
            "not a cgroup v2 directory",
        ),
    ] {
        assert_usage_error(&netcopy(args), needle);
    }
}

/// A 1 s `netcopy trace --json` of `mode` and `size` into `out`, with `NETCOPY_HIDE=hide`.
fn trace_hiding(hide: &str, mode: &str, size: &str, out: &std::path::Path) -> std::process::Output {
    trace_hiding_with(hide, &[], mode, size, out)
}

/// [`trace_hiding`] with the options `extra` too.
fn trace_hiding_with(
    hide: &str,
    extra: &[&str],
    mode: &str,
    size: &str,
    out: &std::path::Path,
) -> std::process::Output {
    Command::new(BIN)
        .args(["trace", "--mode", mode, "--size", size])
        .args(extra)
        .args([
            "--duration",
            "1s",
            "--warmup",
            "0",
            "--json",
            "--force",
            "--out",
        ])
        .arg(out)
        .env("NETCOPY_HIDE", hide)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn sched_switch_counts_the_same_through_tp_btf_and_the_tracepoint() {
    require_root("loading eBPF programs");
    let (out, _) = fresh_dir("sched");
    // Hiding BTF also takes the syscalls from tp_btf to raw_tp, and hiding raw_tp too takes
    // them to the classic per-syscall tracepoints and the net hooks to the classic ones:
    // all must count the same calls, and the net hooks the same bytes.
    for (hide, method) in [
        ("", "syscalls=tp_btf,sched_switch=tp_btf,net=raw_tp"),
        ("btf", "syscalls=raw_tp,sched_switch=tracepoint,net=raw_tp"),
        (
            "btf,rawtp",
            "syscalls=tracepoint,sched_switch=tracepoint,net=tracepoint",
        ),
    ] {
        let out = trace_hiding(hide, "twocopy", "4K", &out);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let v = json(&out);
        let probe = &v["probe"];
        if hide == "btf,rawtp" {
            let said = "sched_switch: tp_btf BTF hidden by NETCOPY_HIDE -> tracepoint";
            let in_summary = probe["fallbacks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f.as_str() == Some(said))
                .count();
            assert_eq!(
                in_summary, 1,
                "the fallback is in the summary once: {probe}"
            );
            assert!(!stderr.contains(said), "and only there: {stderr}");
        }
        for t in probe["threads"]
            .as_array()
            .unwrap_or_else(|| panic!("{probe}"))
        {
            assert_eq!(t["kernel"], t["workload"], "{hide}: {t}");
            assert_eq!(t["records"], t["kernel"], "{hide}: {t}");
        }
        assert!(
            probe["method"].as_str().is_some_and(|m| m.contains(method)),
            "{hide}: {probe}"
        );
        for row in v["syscalls"].as_array().unwrap_or_else(|| panic!("{v}")) {
            let n = |k: &str| {
                row[k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{hide}: {k}: {row}"))
            };
            match row["syscall"].as_str() {
                // Every byte a receive returned was counted by the copy hook; every send
                // built skbs, and loopback received (in the sender's softirq) about as many
                // as the device sent: not always all, as the last may be received later.
                Some("recvfrom") => assert_eq!(n("bytes_to_user"), n("bytes"), "{hide}: {row}"),
                Some("sendto") => {
                    assert!(n("skbs_built") >= n("calls"), "{hide}: {row}");
                    let (tx, rx) = (n("skbs_tx"), n("skbs_rx"));
                    assert!(tx > 0 && tx.abs_diff(rx) <= tx / 10 + 2, "{hide}: {row}");
                }
                _ => {}
            }
        }
        let switches = probe["switches"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"));
        assert_eq!(switches.len(), 2, "{probe}");
        for s in switches {
            let inside = s["in_calls"]["voluntary"].as_u64().unwrap_or_default();
            let all = s["thread"]["voluntary"].as_u64().unwrap_or_default();
            // The workload's threads sleep only inside socket calls: getrusage agrees.
            assert!(inside <= all && all - inside <= all / 20 + 3, "{hide}: {s}");
            if s["role"] == "client" {
                assert!(inside > 0, "{hide}: a receiver that never waited: {s}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The sampler's calibration twin (`NETCOPY_HIDE=samplering`, which `cargo xtask bench`
/// uses to cost the stack walk alone) loads and samples, sends no sample, and the record
/// says the stages were not sampled, without calling that a fallback of the brackets.
#[test]
fn the_walk_only_sampler_counts_no_stage_and_the_record_says_so() {
    require_root("loading eBPF programs");
    let (out, _) = fresh_dir("samplering-hidden");
    let run = trace_hiding("samplering", "onecopy", "64K", &out);
    let v = json(&run);
    let probe = &v["probe"];
    let method = probe["method"]
        .as_str()
        .unwrap_or_else(|| panic!("{probe}"));
    assert!(method.contains("brackets=raw_tp"), "{probe}");
    assert!(!method.contains("stages=perf_event"), "{probe}");
    let fallbacks = probe["fallbacks"]
        .as_array()
        .unwrap_or_else(|| panic!("{probe}"));
    assert!(
        fallbacks
            .iter()
            .all(|f| !f.as_str().unwrap_or_default().starts_with("brackets:")),
        "{probe}"
    );
    let stages = v["stages"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert!(
        !stages.is_empty(),
        "the brackets still time their stages: {v}"
    );
    for s in stages {
        assert_eq!(s["method"], "tracepoint", "{s}");
        assert_eq!(s["samples"], 0, "{s}");
    }
    for t in probe["threads"]
        .as_array()
        .unwrap_or_else(|| panic!("{probe}"))
    {
        assert_eq!(t["kernel"], t["workload"], "{t}");
        assert_eq!(t["records"], t["kernel"], "{t}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The hook floor (`NETCOPY_HIDE=callbodies`, which `cargo xtask bench` uses to cost hooking
/// every syscall before any program works) and the timing floor (`NETCOPY_HIDE=callwork`,
/// programs that only time each traced call): the tp_btf hooks attach those programs
/// instead, so no call is counted or recorded; the record says which, and the count check
/// fails.
#[test]
fn the_hook_and_timing_floors_count_no_call_and_the_record_says_why() {
    require_root("loading eBPF programs");
    let (out, _) = fresh_dir("floors-hidden");
    for (word, label) in [("callbodies", "call bodies"), ("callwork", "call work")] {
        let run = trace_hiding(word, "onecopy", "64K", &out);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{word}: {stderr}");
        assert!(stderr.contains("counts differ"), "{word}: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&run.stdout)
            .unwrap_or_else(|e| panic!("{word}: not JSON ({e}): {stderr}"));
        let probe = &v["probe"];
        let method = probe["method"]
            .as_str()
            .unwrap_or_else(|| panic!("{probe}"));
        assert!(method.starts_with("syscalls=none,"), "{word}: {probe}");
        let fallback = format!("syscalls: tp_btf {label} hidden by NETCOPY_HIDE -> null");
        assert!(
            probe["fallbacks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| *f == *fallback),
            "{word}: {probe}"
        );
        let threads = probe["threads"]
            .as_array()
            .unwrap_or_else(|| panic!("{probe}"));
        let made: u64 = threads.iter().filter_map(|t| t["workload"].as_u64()).sum();
        assert!(made > 0, "{word}: {probe}");
        for t in threads {
            assert_eq!(t["kernel"], 0, "{word}: {t}");
            assert_eq!(t["records"], 0, "{word}: {t}");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// `--aggregate` and `--records tail` where every thread's `TOTALS` slot is another's
/// (`NETCOPY_HIDE=totals`): each call folds into the `AGGREGATES` hash map instead, and the
/// totals are as exact as through the array.
#[test]
fn kernel_totals_are_exact_through_the_hash_map_too() {
    require_root("loading eBPF programs");
    let (out, _) = fresh_dir("totals-hidden");
    for extra in [&["--aggregate"][..], &["--records", "tail"][..]] {
        let run = trace_hiding_with("totals", extra, "twocopy", "1K", &out);
        let v = json(&run);
        let probe = &v["probe"];
        let threads = probe["threads"]
            .as_array()
            .unwrap_or_else(|| panic!("{probe}"));
        // A row per thread and kind; the data calls are the server's sends and the
        // client's receives.
        let busy = threads
            .iter()
            .filter(|t| t["workload"].as_u64().unwrap_or_default() > 1000)
            .count();
        assert_eq!(busy, 2, "{extra:?}: {probe}");
        for t in threads {
            assert_eq!(t["kernel"], t["workload"], "{extra:?}: {t}");
            assert_eq!(t["records"], t["kernel"], "{extra:?}: {t}");
        }
        let sends: u64 = v["syscalls"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .filter(|r| r["syscall"] == "sendto" && r["role"] == "server")
            .filter_map(|r| r["bytes"].as_u64())
            .sum();
        // The handshake's 8 bytes and the messages.
        assert_eq!(sends, v["bytes"].as_u64().unwrap_or_default() + 8, "{v}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn hidden_brackets_fall_back_to_sampling_and_say_so() {
    require_root("loading eBPF programs");
    let (out, _) = fresh_dir("brackets-hidden");
    let run = trace_hiding("brackets", "onecopy", "64K", &out);
    let v = json(&run);
    let said = "brackets: raw_tp hidden by NETCOPY_HIDE -> perf_event sampling";
    let probe = &v["probe"];
    assert!(
        probe["fallbacks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f.as_str() == Some(said)),
        "{probe}"
    );
    assert!(
        probe["method"]
            .as_str()
            .is_some_and(|m| m.contains("brackets=perf_event")),
        "{probe}"
    );
    // No stage row claims a tracepoint; the sampled ones still split the on-CPU time.
    let stages = v["stages"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert!(!stages.is_empty(), "{v}");
    for s in stages {
        assert_eq!(s["method"], "sampled", "{s}");
        assert!(s["skew_pts"].is_null(), "{s}");
    }
    for s in v["syscalls"].as_array().unwrap_or_else(|| panic!("{v}")) {
        assert!(s["bracket_ns"].is_null(), "{s}");
    }
    // The file says the same: null bracket columns, no tracepoint rows, the fallback kept.
    let check = |table: &str, each: &dyn Fn(&arrow_array::RecordBatch)| {
        for b in common::read_parquet(&out.join(format!("{table}.parquet"))) {
            each(&b);
        }
    };
    check("syscalls", &|b| {
        for c in ["rx_softirq_ns", "tx_softirq_ns", "dev_xmit_ns"] {
            let col = b.column_by_name(c).unwrap_or_else(|| panic!("no {c}"));
            assert_eq!(col.null_count(), b.num_rows(), "{c}");
        }
    });
    check("stages", &|b| {
        use arrow_array::cast::AsArray;
        let m = b
            .column_by_name("method")
            .unwrap_or_else(|| panic!("no method"));
        assert!(m.as_string::<i32>().iter().all(|m| m == Some("sampled")));
    });
    check("runs", &|b| {
        use arrow_array::cast::AsArray;
        let f = b
            .column_by_name("fallbacks")
            .unwrap_or_else(|| panic!("no fallbacks"));
        assert!(f.as_string::<i32>().value(0).contains(said));
        let skew = b
            .column_by_name("sampling_skew")
            .unwrap_or_else(|| panic!("no skew"));
        assert!(skew.is_null(0));
    });
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn counters_read_in_the_programs_add_up_per_call() {
    require_root("loading eBPF programs");
    // No PMU here, so the software CPU clock stands in for the cycles counter: per call it
    // must then equal the call's on-CPU time, which the records measure their own way
    // (ktime at entry and exit minus the switched-out stretches).
    let (out, out_s) = fresh_dir("counters");
    let run = Command::new(BIN)
        .args([
            "trace",
            "--mode",
            "onecopy",
            "--size",
            "64K",
            "--duration",
            "1s",
        ])
        .args(["--warmup", "0", "--json", "--out", &out_s])
        .env("NETCOPY_COUNTERS", "cpu-clock")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v = json(&run);
    let rows = v["syscalls"].as_array().unwrap_or_else(|| panic!("{v}"));
    let mut checked = 0;
    for r in rows.iter().filter(|r| r["calls"].as_u64() > Some(1000)) {
        let oncpu = r["oncpu_ns"].as_f64().unwrap_or_default();
        let cycles = r["cycles"]
            .as_f64()
            .unwrap_or_else(|| panic!("no cycles: {r}"));
        let instructions = r["instructions"].as_f64().unwrap_or_default();
        assert!(
            (cycles - oncpu).abs() <= 0.05 * oncpu,
            "stand-in cycles {cycles} vs on-CPU {oncpu} ns: {r}"
        );
        assert!((instructions - oncpu).abs() <= 0.05 * oncpu, "{r}");
        checked += 1;
    }
    assert!(checked >= 2, "a sender and a receiver row: {v}");
    let runs = common::read_parquet(&out.join("runs.parquet"));
    let source = common::column(&runs[0], "counter_source");
    let source = source
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap_or_else(|| panic!("counter_source is a string"));
    assert_eq!(source.value(0), "cpu-clock stand-in");
    let _ = std::fs::remove_dir_all(&out);

    // Without the stand-in, the columns are the PMU's or null: never zeros.
    let plain = json(&netcopy(&[
        "trace",
        "--mode",
        "twocopy",
        "--size",
        "4K",
        "--duration",
        "300ms",
        "--warmup",
        "0",
        "--json",
        "--force",
        "--out",
        &out_s,
    ]));
    let _ = std::fs::remove_dir_all(&out);
    let pmu = plain["probe"]["method"]
        .as_str()
        .is_some_and(|m| m.contains("cycles=perf_event counters"));
    for r in plain["syscalls"]
        .as_array()
        .unwrap_or_else(|| panic!("{plain}"))
    {
        assert_eq!(r["cycles"].is_null(), !pmu, "{r}");
        if pmu {
            assert!(r["cycles"].as_u64() > Some(0), "{r}");
        }
    }
}

/// A ring buffer too small for the call rate: records are lost, counted exactly (records
/// kept + lost = calls the kernel counted), reported, saved, and the run completes; with
/// `--strict` the exit status says so.
#[test]
fn a_full_ring_buffer_loses_records_counted_and_strict_fails() {
    require_root("loading eBPF programs");
    let (dir, dir_s) = fresh_dir("overload");
    let args = |out: &str| {
        vec![
            "trace".to_owned(),
            "--mode".into(),
            "twocopy".into(),
            "--size".into(),
            "1K".into(),
            "--duration".into(),
            "1s".into(),
            "--warmup".into(),
            "0".into(),
            "--sample-hz".into(),
            "0".into(),
            "--ring-buffer".into(),
            "4K".into(),
            "--json".into(),
            "--out".into(),
            out.into(),
        ]
    };
    let strict_out = format!("{dir_s}/strict");
    let mut strict = args(&strict_out);
    strict.push("--strict".into());
    let strict = Command::new(BIN)
        .args(&strict)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(3), "{err}");
    assert!(err.contains("records lost (--strict)"), "{err}");
    let lenient = Command::new(BIN)
        .args(args(&format!("{dir_s}/lenient")))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v = json(&lenient);
    let probe = &v["probe"];
    let lost = probe["lost"].as_u64().unwrap_or_default();
    assert!(lost > 0, "a 4K ring should overflow at 1K twocopy: {probe}");
    let threads = probe["threads"].as_array().cloned().unwrap_or_default();
    let field = |k: &str| -> u64 { threads.iter().map(|t| t[k].as_u64().unwrap_or(0)).sum() };
    assert!(field("kernel") > 10_000, "{probe}");
    assert_eq!(field("kernel"), field("workload"), "{probe}");
    assert_eq!(
        field("records") + lost,
        field("kernel"),
        "every call is either a record or counted lost: {probe}"
    );
    assert!(!String::from_utf8_lossy(&lenient.stdout).is_empty());
    // The same number in runs.parquet, and the records that arrived in syscalls.parquet.
    let lenient_dir = dir.join("lenient");
    let runs = common::read_parquet(&lenient_dir.join("runs.parquet"));
    let saved = common::column(&runs[0], "lost_records")
        .as_any()
        .downcast_ref::<arrow_array::UInt64Array>()
        .map(|a| a.value(0));
    assert_eq!(saved, Some(lost));
    let rows: usize = common::read_parquet(&lenient_dir.join("syscalls.parquet"))
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows as u64, field("records"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trace inside a mount namespace of its own, after `prepare` (shell) changed its mounts;
/// prints `TRACEFS_MOUNTED` at the end when tracefs is mounted there.
fn trace_in_own_mounts(prepare: &str, out: &str) -> Output {
    let script = format!(
        "{prepare}; \"$0\" trace --mode onecopy --size 16K --duration 1s --warmup 0 --sample-hz 0 --out \"$1\"; code=$?; \
         mountpoint -q /sys/kernel/tracing && echo TRACEFS_MOUNTED; exit $code"
    );
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            BIN,
            out,
        ])
        .output()
        .unwrap_or_else(|e| panic!("unshare: {e}"))
}

/// Missing kernel features, made real in a private mount namespace: tracefs unmounted (netcopy
/// mounts it), BTF gone (sched_switch falls back to the classic tracepoint), no PMU (cycles
/// null). Each fallback is shown once in the summary and saved in runs.parquet; where
/// nothing can be done (no /sys/kernel at all), one line says how to fix it.
#[test]
fn missing_kernel_features_fall_back_and_are_saved() {
    require_root("mount namespaces and tracing");
    let (dir, dir_s) = fresh_dir("features");
    let out = format!("{dir_s}/nobtf");
    let run = trace_in_own_mounts(
        "umount /sys/kernel/tracing 2>/dev/null; mount -t tmpfs none /sys/kernel/btf",
        &out,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("TRACEFS_MOUNTED"),
        "netcopy mounts tracefs: {stdout}"
    );
    assert!(stdout.contains("every thread's count agrees"), "{stdout}");
    let expected = [
        "tracefs: was not mounted; netcopy mounted it",
        "sched_switch: tp_btf needs BTF",
        "stages: fentry/fexit needs BTF",
    ];
    for e in expected {
        let shown = stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("fallback") && l.contains(e))
            .count();
        assert_eq!(shown, 1, "{e:?} shown once: {stdout}");
        assert!(!stderr.contains(e), "said once, in the summary: {stderr}");
    }
    let runs = common::read_parquet(&std::path::Path::new(&out).join("runs.parquet"));
    let text = |name: &str| {
        common::column(&runs[0], name)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .map(|a| a.value(0).to_owned())
            .unwrap_or_default()
    };
    assert!(text("attach_methods").contains("sched_switch=tracepoint"));
    let saved = text("fallbacks");
    for e in expected {
        assert!(saved.contains(e), "{e:?} saved: {saved}");
    }
    // Without a PMU (as here), cycles are null and that is a fallback too.
    if text("attach_methods").contains("cycles=none") {
        assert!(
            saved.contains("cycles:") && saved.contains("-> null"),
            "{saved}"
        );
        assert!(stdout.contains("cycles, instructions: null"), "{stdout}");
    }

    // No /sys/kernel at all: tracefs cannot be mounted; say how, in one line.
    let run = trace_in_own_mounts(
        "mount -t tmpfs -o ro none /sys/kernel",
        &format!("{dir_s}/none"),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("mount it with `mount -t tracefs tracefs /sys/kernel/tracing`"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flamegraph_of_a_trace_by_role_and_syscall_and_its_bad_input() {
    require_root("tracing");
    let (dir, dir_s) = fresh_dir("flame");
    let traced = netcopy(&[
        "trace",
        "--mode",
        "onecopy",
        "--size",
        "64K",
        "--duration",
        "1s",
        "--warmup",
        "0",
        "--out",
        &dir_s,
    ]);
    assert!(
        traced.status.success(),
        "{}",
        String::from_utf8_lossy(&traced.stderr)
    );
    let all = netcopy(&["flamegraph", &dir_s]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let svg = std::fs::read_to_string(dir.join("flamegraph.svg")).unwrap_or_else(|e| panic!("{e}"));
    for needle in [
        "[copy_user_to_skb]",
        "[copy_skb_to_user]",
        "id=\"netcopy-legend\"",
        ">copy_skb_to_user</text>",
    ] {
        assert!(svg.contains(needle), "{needle} not in the graph");
    }
    // Off-CPU: the receiver waiting in recvmsg for data, coloured by that reason.
    let off = std::fs::read_to_string(dir.join("flamegraph-offcpu.svg"))
        .unwrap_or_else(|e| panic!("no off-CPU graph: {e}"));
    for needle in ["[data]", "recvmsg", "sk_wait_data", ">data</text>"] {
        assert!(off.contains(needle), "{needle} not in the off-CPU graph");
    }
    // Narrowed to the receiver's recvmsg: its copy, not the sender's; and as a PNG.
    let recv = dir.join("recv.svg");
    let png = dir.join("recv.png");
    for out in [&recv, &png] {
        let o = netcopy(&[
            "flamegraph",
            &dir_s,
            "--role",
            "client",
            "--syscall",
            "recvmsg",
            "--out",
            &out.to_string_lossy(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let recv = std::fs::read_to_string(&recv).unwrap_or_else(|e| panic!("{e}"));
    assert!(recv.contains("[copy_skb_to_user]") && !recv.contains("[copy_user_to_skb]"));
    let png = std::fs::read(&png).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    // Bad input: one line, exit 2, saying what the run has.
    assert_usage_error(
        &netcopy(&["flamegraph", &dir_s, "--role", "nobody"]),
        "this run has: client, server",
    );
    assert_usage_error(
        &netcopy(&["flamegraph", &dir_s, "--syscall", "sendfile"]),
        "--syscall sendfile",
    );
    assert_usage_error(
        &netcopy(&["flamegraph", &dir_s, "--out", "x.txt"]),
        ".svg or .png",
    );
    let (empty, empty_s) = fresh_dir("flame-empty");
    std::fs::create_dir_all(&empty).unwrap_or_else(|e| panic!("{e}"));
    assert_usage_error(&netcopy(&["flamegraph", &empty_s]), "no stacks.parquet");
    assert_usage_error(
        &netcopy(&["flamegraph", &format!("{empty_s}/none")]),
        "no such directory",
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    let bash = netcopy(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    for word in ["flamegraph", "trace", "uringzc", "--sample-hz"] {
        assert!(script.contains(word), "{word} not in the bash completions");
    }
    let (dir, dir_s) = fresh_dir("completions");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("netcopy.bash");
    std::fs::write(&file, bash.stdout).unwrap_or_else(|e| panic!("{e}"));
    let syntax = Command::new("bash").arg("-n").arg(&file).status();
    assert!(
        syntax.is_ok_and(|s| s.success()),
        "bash -n rejects the script"
    );
    for shell in ["zsh", "fish"] {
        let out = netcopy(&["completions", shell]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("flamegraph"),
            "{shell}"
        );
    }
    assert_eq!(netcopy(&["completions", "nushell"]).status.code(), Some(2));
    let man = dir.join("man1");
    assert!(
        netcopy(&["manpages", &man.to_string_lossy()])
            .status
            .success()
    );
    let page =
        std::fs::read_to_string(man.join("netcopy-flamegraph.1")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        page.starts_with(".ie") || page.contains(".TH netcopy-flamegraph"),
        "{page}"
    );
    assert!(page.contains("\\-\\-syscall"), "{page}");
    let commands = [
        "run",
        "trace",
        "doctor",
        "sweep",
        "report",
        "plot",
        "serve",
        "client",
        "top",
        "flamegraph",
        "completions",
        "manpages",
    ];
    for c in commands {
        assert!(
            man.join(format!("netcopy-{c}.1")).is_file(),
            "no page for {c}"
        );
    }
    let pages = std::fs::read_dir(&man).map_or(0, |d| d.count());
    assert_eq!(pages, 1 + commands.len(), "netcopy.1 and one per command");
    assert_usage_error(
        &netcopy(&["manpages", &file.to_string_lossy()]),
        "not a directory",
    );
    let _ = std::fs::remove_dir_all(&dir_s);
}

/// `netcopy top` in tmux against a real flow: the flow's process appears with non-zero
/// rates and its threads under it, `s` changes the sort, `q` quits with status 0 and gives
/// the terminal back.
#[test]
fn top_shows_a_live_flow_and_quits_on_q() {
    require_root("tracing");
    let session = format!("netcopy-top-{}", std::process::id());
    let exit_file = std::env::temp_dir().join(format!("{session}.exit"));
    let _ = std::fs::remove_file(&exit_file);
    let mut flow = Command::new(BIN)
        .args([
            "run",
            "--mode",
            "onecopy",
            "--size",
            "64K",
            "--duration",
            "8s",
            "--warmup",
            "0",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let flow_pid = flow.id().to_string();
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux (cargo xtask setup installs it): {e}"))
    };
    let shell = format!(
        "{BIN} top --pid {flow_pid} --interval 500ms; echo $? > {}; sleep 30",
        exit_file.display()
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "30",
        &shell,
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let capture = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    // Up to 6 s for the first rows with bytes moving.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut screen = capture();
    let moving = |screen: &str| {
        screen.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&flow_pid.as_str())
                && cols.get(1) == Some(&"-")
                && l.contains("netcopy")
                && !l.contains(" 0 B ")
                && (l.contains("GB") || l.contains("MB"))
        })
    };
    while !moving(&screen) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        screen = capture();
    }
    assert!(
        moving(&screen),
        "no row of pid {flow_pid} with bytes moving:\n{screen}"
    );
    assert!(screen.contains("netcopy top: 1 target(s)"), "{screen}");
    assert!(screen.contains("sorted by Bytes"), "{screen}");
    // Its two threads, each a row under the process.
    let threads = screen
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(flow_pid.as_str()))
        .count();
    assert!(
        threads >= 3,
        "the process and its sender and receiver:\n{screen}"
    );
    tmux(&["send-keys", "-t", &session, "s"]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(capture().contains("sorted by P50"), "s moves the sort on");
    tmux(&["send-keys", "-t", &session, "q"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !exit_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = std::fs::read_to_string(&exit_file).unwrap_or_default();
    let after = capture();
    tmux(&["kill-session", "-t", &session]);
    let _ = flow.kill();
    let _ = flow.wait();
    let _ = std::fs::remove_file(&exit_file);
    assert_eq!(status.trim(), "0", "q exits 0");
    // The alternate screen is gone: the table is no longer on the pane.
    assert!(
        !after.contains("CALLS/s"),
        "the terminal was not restored:\n{after}"
    );
}
