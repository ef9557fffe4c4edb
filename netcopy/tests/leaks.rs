//! After a trace, nothing of netcopy's stays in the kernel: no program, no link, nothing
//! pinned, no network namespace, even when the trace is stopped by a signal at any point.
//! A test binary of its own, so that no other test traces while it looks (bpftool here
//! cannot say which process holds a program); its tests take turns.

mod common;

use std::{
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use common::require_root;

const BIN: &str = env!("CARGO_BIN_EXE_netcopy");

/// One of netcopy's program names (bpftool shows the full name from BTF, or the kernel's 15
/// bytes).
fn is_ours(name: &str) -> bool {
    netcopy::probes::object::program_names()
        .iter()
        .any(|o| *o == name || (name.len() == 15 && o.starts_with(name)))
}

/// (ids of netcopy's loaded programs, links that use them).
fn in_kernel() -> (Vec<u64>, usize) {
    let json = |what: &str| -> serde_json::Value {
        let out = Command::new("bpftool")
            .args([what, "show", "-j"])
            .output()
            .unwrap_or_else(|e| panic!("bpftool (cargo xtask setup installs it): {e}"));
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let progs: Vec<u64> = json("prog")
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"].as_str().is_some_and(is_ours))
        .filter_map(|p| p["id"].as_u64())
        .collect();
    let links = json("link")
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|id| progs.contains(&id)))
        .count();
    (progs, links)
}

/// The tests of this binary run one at a time: each looks at the whole kernel.
static TURN: Mutex<()> = Mutex::new(());

/// Wait (up to 5 s) until no netcopy program or link is in the kernel, and say what is left.
fn nothing_left() -> (Vec<u64>, usize) {
    // The kernel frees programs shortly after their last holder exits.
    let started = Instant::now();
    let mut left = in_kernel();
    while (!left.0.is_empty() || left.1 > 0) && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        left = in_kernel();
    }
    left
}

#[test]
fn nothing_stays_in_the_kernel_after_a_trace() {
    require_root("loading eBPF programs");
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("netcopy-leaks-{}", std::process::id()));
    let mut child = Command::new(BIN)
        .args([
            "trace",
            "--mode",
            "zerocopy",
            "--size",
            "16K",
            "--duration",
            "2s",
        ])
        .args(["--warmup", "0", "--force", "--out"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // While it traces, the check sees its programs and links: it can fail.
    std::thread::sleep(Duration::from_millis(1500));
    let (progs, links) = in_kernel();
    assert!(
        progs.len() >= 6 && links >= 3,
        "a trace shows: {progs:?}, {links} links"
    );
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        nothing_left(),
        (vec![], 0),
        "programs and links left in the kernel"
    );
    let pinned = std::fs::read_dir("/sys/fs/bpf")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains("netcopy"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(pinned, 0, "nothing of netcopy's pinned in bpffs");
}

/// A small xorshift generator: the test prints its seed, so a failing point can be rerun
/// with NETCOPY_SIGNAL_SEED.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Every Parquet file under `dir` opens and reads to the end (its footer was written), and no
/// half-written `.partial` file is left.
fn tables_readable(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".partial"),
            "half-written table left: {name}"
        );
        if name.ends_with(".parquet") {
            let rows: usize = common::read_parquet(&entry.path())
                .iter()
                .map(|b| b.num_rows())
                .sum();
            assert!(name != "runs.parquet" || rows == 1, "{name}: {rows} rows");
            names.push(name);
        }
    }
    names
}

/// SIGINT or SIGTERM at random moments of a traced run (loading, warmup, measurement,
/// writing): the run stops cleanly every time. Its tables are readable, the run is marked
/// interrupted exactly when the summary says so, and no program, link or namespace is left.
#[test]
fn a_signal_at_any_moment_stops_a_trace_cleanly() {
    require_root("loading eBPF programs and creating namespaces");
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let seed = std::env::var("NETCOPY_SIGNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 | 1)
                .unwrap_or(1)
        });
    eprintln!("signal points from seed {seed} (NETCOPY_SIGNAL_SEED={seed} repeats them)");
    let mut rng = Rng(seed);
    let root = std::env::temp_dir().join(format!("netcopy-signals-{}", std::process::id()));
    // A run: 0.5 s warmup and 1.5 s measured after loading (about 0.3 s); the points spread
    // over every phase, including the very start and the writing at the end.
    let phases_ms = [(2, 40), (40, 300), (300, 800), (800, 2300), (2300, 2800)];
    let mut interrupted_runs = 0;
    for (i, (lo, hi)) in phases_ms.iter().chain(phases_ms.iter()).enumerate() {
        let at = Duration::from_millis(lo + rng.below(hi - lo));
        let (signal, sig_name) = if rng.below(2) == 0 {
            (nix::sys::signal::Signal::SIGINT, "SIGINT")
        } else {
            (nix::sys::signal::Signal::SIGTERM, "SIGTERM")
        };
        let netns = i % 2 == 1;
        let out = root.join(format!("run-{i}"));
        let mut cmd = Command::new(BIN);
        cmd.args(["trace", "--mode", "onecopy", "--size", "16K"])
            .args([
                "--duration",
                "1500ms",
                "--warmup",
                "500ms",
                "--json",
                "--out",
            ])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if netns {
            cmd.arg("--netns");
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{e}"));
        let pid = child.id();
        std::thread::sleep(at);
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
        let sent = Instant::now();
        let result = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        let what = format!(
            "run {i}: {sig_name} at {at:?}{}",
            if netns { " (--netns)" } else { "" }
        );
        let err = String::from_utf8_lossy(&result.stderr);
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "{what}: took {:?} to stop",
            sent.elapsed()
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
        let code = result.status.code();
        let namespaces = || -> Vec<String> {
            netcopy::testbed::netns::list()
                .into_iter()
                .filter(|n| n.starts_with(&format!("ncpy-{pid}-")))
                .collect()
        };
        use std::os::unix::process::ExitStatusExt as _;
        if result.status.signal().is_some() {
            // Only possible before main() installs its handler: nothing exists yet.
            assert!(
                tables_readable(&out).is_empty(),
                "{what}: killed with tables"
            );
            assert!(namespaces().is_empty(), "{what}");
            assert_eq!(nothing_left(), (vec![], 0), "{what}");
            eprintln!("{what}: killed before netcopy listened for signals; nothing left");
            continue;
        }
        assert!(
            matches!(code, Some(0 | 130)),
            "{what}: exit {:?}: {err}",
            result.status
        );
        // The summary of the part that ran, and the same verdict in the saved run.
        let v: serde_json::Value = serde_json::from_slice(&result.stdout)
            .unwrap_or_else(|e| panic!("{what}: no summary ({e}): {err}"));
        let interrupted = code == Some(130);
        assert_eq!(v["interrupted"], interrupted, "{what}");
        interrupted_runs += usize::from(interrupted);
        let tables = tables_readable(&out);
        for t in ["runs.parquet", "syscalls.parquet"] {
            assert!(
                tables.iter().any(|n| n == t),
                "{what}: {t} missing from {tables:?}"
            );
        }
        let runs = common::read_parquet(&out.join("runs.parquet"));
        let saved = common::column(&runs[0], "interrupted")
            .as_any()
            .downcast_ref::<arrow_array::BooleanArray>()
            .map(|a| a.value(0));
        assert_eq!(saved, Some(interrupted), "{what}: runs.interrupted");
        assert!(
            namespaces().is_empty(),
            "{what}: namespaces left: {:?}",
            namespaces()
        );
        assert_eq!(
            nothing_left(),
            (vec![], 0),
            "{what}: programs and links left"
        );
        eprintln!("{what}: exit {code:?}, tables {tables:?}");
    }
    assert!(
        interrupted_runs >= 4,
        "most signals land mid-run: {interrupted_runs} of 10"
    );

    // SIGKILL cannot be caught: the kernel drops the programs with the process, but the
    // namespaces stay until the next run removes them.
    let mut child = Command::new(BIN)
        .args(["trace", "--netns", "--mode", "zerocopy", "--size", "16K"])
        .args(["--duration", "5s", "--warmup", "0", "--out"])
        .arg(root.join("killed"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = child.id();
    let ours = || -> Vec<String> {
        netcopy::testbed::netns::list()
            .into_iter()
            .filter(|n| n.starts_with(&format!("ncpy-{pid}-")))
            .collect()
    };
    let started = Instant::now();
    while ours().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no namespaces appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(nothing_left(), (vec![], 0), "programs of a killed trace");
    assert!(
        !ours().is_empty(),
        "a killed run cannot remove its namespaces"
    );
    let next = Command::new(BIN)
        .args(["run", "--netns", "--size", "4K", "--duration", "200ms"])
        .args(["--warmup", "0"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert!(ours().is_empty(), "the next run removes them: {:?}", ours());
    let _ = std::fs::remove_dir_all(&root);
}

/// Two traces at once, of two built-in workloads in different modes: each counts exactly
/// its own threads' calls (workload == kernel == records for every thread, nothing lost,
/// none of the other's threads in its tables), and nothing is left when both are done.
/// Both run 4K messages. With twocopy at 1K, one CI run lost 79,520 records in 2 s. That
/// was on an Intel host, where 1K makes about twice the calls per second it does on AMD.
/// Six runs after it on the same machine lost none. Two workloads, two collectors and two
/// encoders share 2 CPUs here, and a collector that stalls for longer than its 16 MiB ring
/// holds loses records (counted, never silent). At 4K the ring holds several times longer.
/// The 1K target, 0 lost with one trace, is the bench's.
#[test]
fn two_traces_at_once_count_only_their_own_and_leave_nothing() {
    require_root("loading eBPF programs");
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let base = std::env::temp_dir().join(format!("netcopy-two-{}", std::process::id()));
    let spawn = |mode: &str, size: &str, out: &std::path::Path| {
        Command::new(BIN)
            .args(["trace", "--mode", mode, "--size", size, "--duration", "2s"])
            .args(["--warmup", "0", "--json", "--force", "--out"])
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (a_dir, b_dir) = (base.join("a"), base.join("b"));
    let a = spawn("onecopy", "4K", &a_dir);
    let b = spawn("twocopy", "4K", &b_dir);
    let (a_pid, b_pid) = (a.id(), b.id());
    let mut tgids = Vec::new();
    for (child, dir, pid) in [(a, &a_dir, a_pid), (b, &b_dir, b_pid)] {
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["probe"]["lost"], 0, "pid {pid}");
        let threads = v["probe"]["threads"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let calls: u64 = threads.iter().filter_map(|t| t["kernel"].as_u64()).sum();
        assert!(calls > 1000, "pid {pid}: {calls} calls traced");
        for t in &threads {
            assert_eq!(t["workload"], t["kernel"], "pid {pid}: {t}");
            assert_eq!(t["kernel"], t["records"], "pid {pid}: {t}");
        }
        let mut seen = std::collections::BTreeSet::new();
        for batch in common::read_parquet(&dir.join("syscalls.parquet")) {
            let tgid = common::column(&batch, "tgid")
                .as_any()
                .downcast_ref::<arrow_array::UInt32Array>()
                .unwrap_or_else(|| panic!("tgid"));
            seen.extend(tgid.values().iter().copied());
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [pid],
            "only its own calls"
        );
        tgids.push(pid);
    }
    assert_ne!(tgids[0], tgids[1]);
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(
        nothing_left(),
        (vec![], 0),
        "programs and links left in the kernel"
    );
}
