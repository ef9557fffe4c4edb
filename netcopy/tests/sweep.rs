//! `netcopy sweep`, `report` and `plot` through the binary: the dataset's layout, resuming,
//! an interrupted cell leaving nothing behind, A/B comparison, and bad input.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use common::require_root;

const BIN: &str = env!("CARGO_BIN_EXE_netcopy");

fn netcopy(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn sweep_args(out: &str, repeat: &str) -> Vec<String> {
    [
        "sweep",
        "--modes",
        "twocopy,zerocopy",
        "--sizes",
        "4K,64K",
        "--threads",
        "1",
        "--duration",
        "300ms",
        "--warmup",
        "0",
        "--repeat",
        repeat,
        "--out",
        out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Every `rep=*` directory under `dir`, and whether it holds a finished cell.
fn cell_dirs(dir: &Path) -> Vec<(PathBuf, bool)> {
    let mut found = Vec::new();
    for mode in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for size in std::fs::read_dir(mode.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for threads in std::fs::read_dir(size.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                for rep in std::fs::read_dir(threads.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let p = rep.path();
                    let done = p.join("cell.json").is_file();
                    found.push((p, done));
                }
            }
        }
    }
    found.sort();
    found
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_sweep_resumes_and_an_interrupted_cell_leaves_nothing() {
    require_root("tracing");
    let dir = std::env::temp_dir().join(format!("netcopy-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_string_lossy().into_owned();

    let first = netcopy(
        &sweep_args(&out, "1")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let cells = cell_dirs(&dir);
    assert_eq!(cells.len(), 4, "{cells:?}");
    assert!(cells.iter().all(|(_, done)| *done));
    for (cell, _) in &cells {
        for table in ["runs", "syscalls", "stages", "stacks"] {
            assert!(
                cell.join(format!("{table}.parquet")).is_file(),
                "{cell:?} {table}"
            );
        }
        let zc = cell.to_string_lossy().contains("mode=zerocopy");
        assert_eq!(cell.join("zerocopy.parquet").is_file(), zc, "{cell:?}");
    }
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with(
        "Mode,MessageSize,Threads,Rep,Throughput_Gbps,Latency_us,TotalBytes,CPUcycles,CyclesPerByte,CacheMisses,CacheRefs,ContextSwitches"
    ));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    let width = header.split(',').count();
    for r in &rows {
        assert_eq!(r.len(), width, "{r:?}");
        assert!(
            r[4].parse::<f64>().is_ok_and(|g| g > 0.0),
            "throughput {r:?}"
        );
        assert_eq!(r[7], "", "no PMU here: CPUcycles is empty, not 0");
    }

    // The same command again runs nothing.
    let again = netcopy(
        &sweep_args(&out, "1")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("0 cells run, 4 already done"),
        "{}",
        stderr(&again)
    );

    // Two repeats: four new cells; Ctrl-C in the middle of the first new one.
    let mut child = Command::new(BIN)
        .args(sweep_args(&out, "2"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = std::time::Instant::now();
    while !dir.join(".incomplete").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no cell started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(130));
    assert!(
        !dir.join(".incomplete").exists(),
        "the cut cell was thrown away"
    );
    let cells = cell_dirs(&dir);
    assert!(
        cells.iter().all(|(_, done)| *done),
        "only finished cells: {cells:?}"
    );
    assert!(cells.len() < 8, "the sweep stopped: {cells:?}");

    let resumed = netcopy(
        &sweep_args(&out, "2")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(cell_dirs(&dir).len(), 8);
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv.lines().count(), 9);

    // report: four groups of two repeats; --compare against itself: every ratio is 1.
    let report = netcopy(&["report", &out, "--json"]);
    let groups: serde_json::Value =
        serde_json::from_slice(&report.stdout).unwrap_or_else(|e| panic!("{e}"));
    let groups = groups.as_array().unwrap_or_else(|| panic!("{groups}"));
    assert_eq!(groups.len(), 4);
    assert!(groups.iter().all(|g| g["repeats"] == 2));
    let text = String::from_utf8_lossy(&netcopy(&["report", &out]).stdout).into_owned();
    assert!(text.contains("zerocopy verdict"), "{text}");
    assert!(text.contains("off-CPU (share of the data calls"), "{text}");
    // Where the data calls left the CPU, the reasons' median shares add up to about 1
    // (medians of two repeats each, so not exactly).
    for g in groups {
        let reasons = g["offcpu_reasons"]
            .as_array()
            .unwrap_or_else(|| panic!("{g}"));
        if reasons.is_empty() {
            continue;
        }
        let sum: f64 = reasons.iter().filter_map(|r| r[1]["median"].as_f64()).sum();
        assert!((0.8..=1.2).contains(&sum), "{g}");
    }
    let ab = netcopy(&["report", &out, "--compare", &out, "--json"]);
    let ab: serde_json::Value =
        serde_json::from_slice(&ab.stdout).unwrap_or_else(|e| panic!("{e}"));
    for row in ab.as_array().unwrap_or_else(|| panic!("{ab}")) {
        assert_eq!(row["throughput_ratio"], 1.0, "{row}");
    }

    // plot: PNG and SVG; the cycles chart says why it is empty where there is no PMU.
    let plotted = netcopy(&["plot", &out]);
    assert!(plotted.status.success(), "{}", stderr(&plotted));
    let plots = dir.join("plots");
    for stem in [
        "throughput_vs_size",
        "latency_vs_threads",
        "summary",
        "stages_by_mode_size",
        "offcpu_by_reason",
    ] {
        for ext in ["png", "svg"] {
            let f = plots.join(format!("{stem}.{ext}"));
            assert!(
                std::fs::metadata(&f).is_ok_and(|m| m.len() > 5_000),
                "{f:?}"
            );
        }
    }
    let svg = std::fs::read_to_string(plots.join("offcpu_by_reason.svg"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        svg.contains("wmem") && svg.contains("preempt"),
        "the legend names the reasons"
    );
    let doctor = String::from_utf8_lossy(&netcopy(&["doctor", "--json"]).stdout).into_owned();
    if doctor.contains("no hardware PMU") {
        let svg = std::fs::read_to_string(plots.join("cycles_per_byte_vs_size.svg"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            svg.contains("no hardware PMU"),
            "the chart names what is missing"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_and_plot_refuse_what_is_not_a_sweep() {
    let empty = std::env::temp_dir().join(format!("netcopy-notasweep-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&empty);
    let empty_s = empty.to_string_lossy().into_owned();
    for (args, needle) in [
        (vec!["report", "/no/such/dir"], "no such directory"),
        (vec!["report", empty_s.as_str()], "no finished cells"),
        (vec!["plot", empty_s.as_str()], "no finished cells"),
        (
            vec!["sweep", "--out", empty_s.as_str(), "--modes", "fourcopy"],
            "fourcopy",
        ),
        (
            vec!["sweep", "--out", empty_s.as_str(), "--sizes", "0"],
            "size",
        ),
    ] {
        let o = netcopy(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&empty);
}

/// The uring modes in a traced sweep: each cell has its uring.parquet (and no
/// zerocopy.parquet, which is MSG_ZEROCOPY's), and report and plot show both modes.
#[test]
fn a_sweep_of_the_uring_modes_reports_and_plots_them() {
    require_root("tracing");
    let dir = std::env::temp_dir().join(format!("netcopy-sweep-uring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_string_lossy().into_owned();
    let swept = netcopy(&[
        "sweep",
        "--modes",
        "uring,uringzc",
        "--sizes",
        "64K",
        "--threads",
        "1",
        "--duration",
        "300ms",
        "--warmup",
        "0",
        "--repeat",
        "1",
        "--out",
        &out,
    ]);
    assert!(swept.status.success(), "{}", stderr(&swept));
    let cells = cell_dirs(&dir);
    assert_eq!(cells.len(), 2, "{cells:?}");
    for (cell, done) in &cells {
        assert!(done, "{cell:?}");
        assert!(cell.join("uring.parquet").is_file(), "{cell:?}");
        assert!(!cell.join("zerocopy.parquet").exists(), "{cell:?}");
    }
    let report = netcopy(&["report", &out, "--json"]);
    let groups: serde_json::Value =
        serde_json::from_slice(&report.stdout).unwrap_or_else(|e| panic!("{e}"));
    let modes: Vec<&str> = groups
        .as_array()
        .unwrap_or_else(|| panic!("{groups}"))
        .iter()
        .filter_map(|g| g["mode"].as_str())
        .collect();
    assert_eq!(modes, ["uring", "uringzc"], "in the modes' order");
    let plotted = netcopy(&["plot", &out]);
    assert!(plotted.status.success(), "{}", stderr(&plotted));
    let svg = std::fs::read_to_string(dir.join("plots").join("throughput_vs_size.svg"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        svg.contains("uringzc") && svg.contains("uring"),
        "the legend names both"
    );
    // A flame graph per mode at the largest size, the io_uring sends under io_uring_enter.
    for mode in ["uring", "uringzc"] {
        let flame = std::fs::read_to_string(dir.join("plots").join(format!("flame_{mode}.svg")))
            .unwrap_or_else(|e| panic!("flame_{mode}.svg: {e}"));
        assert!(flame.contains(&format!("{mode} 64K x 1")), "{mode}: title");
        assert!(
            flame.contains("io_uring_enter"),
            "{mode}: the ring's syscall"
        );
        assert!(flame.contains("id=\"netcopy-legend\""), "{mode}: legend");
    }
    // And `netcopy flamegraph` reads a cell as it reads a trace.
    let (cell, _) = &cells[0];
    let cell_svg = cell.join("cell.svg");
    let drawn = netcopy(&[
        "flamegraph",
        &cell.to_string_lossy(),
        "--role",
        "server",
        "--out",
        &cell_svg.to_string_lossy(),
    ]);
    assert!(drawn.status.success(), "{}", stderr(&drawn));
    assert!(std::fs::read_to_string(&cell_svg).is_ok_and(|s| s.contains("[copy_user_to_skb]")));
    let _ = std::fs::remove_dir_all(&dir);
}
