//! `cargo xtask bench`: netcopy side by side with its peers, in one sitting, written to
//! BENCHMARKS.md as medians, spreads and ratios.
//!
//! Every comparison alternates A and B run by run, so drift on these shared 2-core VMs hits
//! both sides alike, and takes the median of `--runs` runs of each.

pub mod loops;
mod progs;

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader, Write as _},
    os::unix::process::ExitStatusExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::cmd;

/// CPUs of the sending and the receiving thread in the 64K and trace comparisons: unpinned,
/// the two ends of a loopback connection share a CPU in some runs and not in others, and a
/// 64K run then moves anything from 19 to 48 Gbit/s on this 2-CPU VM (six untraced runs in
/// a row). Both sides of a comparison are pinned alike (`iperf3 -A`, `--cpu-affinity`).
const PINNED_CPUS: &str = "0,1";
const PIN: [&str; 2] = ["--cpu-affinity", PINNED_CPUS];

/// How much to measure.
pub struct Opts {
    /// Runs of each side of each comparison.
    pub runs: usize,
    /// Measurement window of each run, in seconds.
    pub seconds: f64,
    /// Length of the peak-memory trace, in seconds.
    pub rss_seconds: u64,
    /// Where the table goes.
    pub out: PathBuf,
}

impl Opts {
    pub fn full(root: &Path) -> Self {
        Self {
            runs: 3,
            seconds: 5.0,
            rss_seconds: 60,
            out: root.join("BENCHMARKS.md"),
        }
    }

    /// The CI smoke setting: every bench runs once, briefly; nothing is judged.
    pub fn quick(root: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            runs: 1,
            seconds: 1.0,
            rss_seconds: 3,
            out: cmd::target_dir()
                .unwrap_or_else(|_| root.join("target"))
                .join("bench-smoke.md"),
        })
    }
}

/// One line of the table.
struct Row {
    measure: String,
    target: String,
    /// What A and B are, with their medians and spreads, as text.
    detail: String,
    value: Option<f64>,
    unit: &'static str,
    met: Option<bool>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.3} [{lo:.3}-{hi:.3}]", median(v))
}

fn json_of(out: &std::process::Output, what: &str) -> anyhow::Result<Value> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{what}: not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

struct Tools {
    netcopy: PathBuf,
    xtask: PathBuf,
    tmp: PathBuf,
}

impl Tools {
    fn netcopy(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = Command::new(&self.netcopy)
            .args(args)
            .output()
            .context("run netcopy")?;
        json_of(&out, &format!("netcopy {}", args.join(" ")))
    }

    /// `netcopy run` (or `trace`) throughput in Gbit/s.
    fn netcopy_gbps(
        &self,
        verb: &str,
        mode: &str,
        size: &str,
        secs: f64,
        extra: &[&str],
    ) -> anyhow::Result<f64> {
        let d = format!("{secs}s");
        let out = self.tmp.join("trace");
        let out = out.to_string_lossy();
        let mut args = vec![
            verb,
            "--mode",
            mode,
            "--size",
            size,
            "--duration",
            &d,
            "--warmup",
            "1s",
            "--json",
        ];
        if verb == "trace" {
            args.extend(["--out", &out, "--force"]);
        }
        args.extend(extra);
        let v = self.netcopy(&args)?;
        v["throughput_gbps"].as_f64().context("no throughput_gbps")
    }

    fn iperf3_gbps(&self, secs: f64) -> anyhow::Result<f64> {
        let port = "5399";
        let mut server = Command::new("iperf3")
            .args(["-s", "-1", "-p", port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("iperf3 -s (cargo xtask setup installs iperf3)")?;
        std::thread::sleep(Duration::from_millis(300));
        let t = format!("{}", secs.ceil() as u64 + 1);
        let out = Command::new("iperf3")
            .args([
                "-c",
                "127.0.0.1",
                "-p",
                port,
                "-l",
                "64K",
                "-t",
                &t,
                "-O",
                "1",
                "-J",
                "-A",
                PINNED_CPUS,
            ])
            .output()
            .context("iperf3 -c")?;
        let _ = server.wait();
        let v = json_of(&out, "iperf3")?;
        let bps = v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .context("iperf3: no end.sum_received")?;
        Ok(bps / 1e9)
    }

    /// `xtask bench-loop` with these settings.
    fn loop_command(&self, mode: &str, size: &str, secs: f64) -> Command {
        let mut c = Command::new(&self.xtask);
        c.args(["bench-loop", "--mode", mode, "--size", size, "--seconds"])
            .arg(secs.to_string());
        c
    }

    fn bench_loop(&self, mode: &str, size: &str, secs: f64) -> anyhow::Result<Value> {
        let out = self
            .loop_command(mode, size, secs)
            .output()
            .context("run bench-loop")?;
        json_of(&out, "bench-loop")
    }

    /// The loop traced by `netcopy trace --pid`: (the loop's result, netcopy's summary, and
    /// with `costs` what each program cost per run, read halfway through with the kernel's
    /// accounting on).
    fn traced_loop(
        &self,
        mode: &str,
        size: &str,
        secs: f64,
        costs: bool,
    ) -> anyhow::Result<(Value, Value, Vec<progs::ProgCost>)> {
        let stats = costs.then(progs::StatsOn::new).transpose()?;
        let mut lp = self
            .loop_command(mode, size, secs)
            .arg("--wait-go")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("run bench-loop")?;
        let mut lp_out = BufReader::new(lp.stdout.take().context("loop stdout")?);
        let mut line = String::new();
        lp_out.read_line(&mut line)?;
        let pid = line
            .strip_prefix("ready ")
            .map(str::trim)
            .context("bench-loop did not say ready")?
            .to_owned();
        let dir = self.tmp.join("traced-loop");
        let mut nc = Command::new(&self.netcopy)
            .args([
                "trace",
                "--pid",
                &pid,
                "--duration",
                "600s",
                "--sample-hz",
                "0",
                "--json",
                "--force",
                "--out",
            ])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("netcopy trace --pid")?;
        let mut nc_err = BufReader::new(nc.stderr.take().context("netcopy stderr")?);
        loop {
            let mut l = String::new();
            if nc_err.read_line(&mut l)? == 0 {
                bail!("netcopy trace ended before it attached");
            }
            if l.contains("netcopy: tracing") {
                break;
            }
        }
        let mut stdin = lp.stdin.take().context("loop stdin")?;
        writeln!(stdin, "go")?;
        let mut read_costs = Vec::new();
        if stats.is_some() {
            std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
            read_costs = progs::read()?;
        }
        drop(stats);
        line.clear();
        lp_out.read_line(&mut line)?;
        let loop_result: Value = serde_json::from_str(&line).context("bench-loop result")?;
        let _ = lp.wait();
        let out = nc.wait_with_output()?;
        let summary = json_of(&out, "netcopy trace --pid")?;
        Ok((loop_result, summary, read_costs))
    }

    /// Peak RSS in MiB of one `netcopy` run, from wait4.
    fn peak_rss_mib(&self, args: &[&str]) -> anyhow::Result<f64> {
        let child = Command::new(&self.netcopy)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, status and usage are valid pointers.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("wait4");
        }
        let exit = std::process::ExitStatus::from_raw(status);
        if !exit.success() {
            bail!("netcopy {} failed ({exit})", args.join(" "));
        }
        Ok(usage.ru_maxrss as f64 / 1024.0)
    }
}

/// A and B alternated `runs` times.
fn side_by_side(
    runs: usize,
    mut a: impl FnMut() -> anyhow::Result<f64>,
    mut b: impl FnMut() -> anyhow::Result<f64>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut v = alternate(runs, &mut [&mut a, &mut b])?.into_iter();
    Ok((v.next().unwrap_or_default(), v.next().unwrap_or_default()))
}

/// Every side alternated with the others `runs` times: one list of results per side.
fn alternate(
    runs: usize,
    sides: &mut [&mut dyn FnMut() -> anyhow::Result<f64>],
) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut v = vec![Vec::new(); sides.len()];
    for _ in 0..runs {
        for (side, out) in sides.iter_mut().zip(&mut v) {
            out.push(side()?);
        }
    }
    Ok(v)
}

fn ratio_row(
    measure: String,
    target: f64,
    a_name: &str,
    a: &[f64],
    b_name: &str,
    b: &[f64],
) -> Row {
    let r = median(b) / median(a);
    Row {
        measure,
        target: format!(">= {target:.2}x"),
        detail: format!("{b_name} {} / {a_name} {} Gbit/s", spread(b), spread(a)),
        value: Some(r),
        unit: "x",
        met: Some(r >= target),
    }
}

/// Run the suite and write the table.
pub fn bench(opts: &Opts) -> anyhow::Result<ExitCode> {
    let root = cmd::workspace_root();
    let netcopy = cmd::build_netcopy(true)?;
    let xtask = std::env::current_exe().context("xtask's own path")?;
    let tmp = std::env::temp_dir().join(format!("netcopy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let t = Tools {
        netcopy,
        xtask,
        tmp,
    };
    let (runs, secs) = (opts.runs, opts.seconds);
    let mut rows = Vec::new();
    let say = |r: &Row| {
        println!(
            "bench: {:<58} {:>10} {:<3} target {:<10} {}",
            r.measure,
            r.value.map_or("-".into(), |v| format!("{v:.3}")),
            r.unit,
            r.target,
            match r.met {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "",
            }
        );
    };

    // netcopy onecopy 64K against iperf3: the noisiest comparison here (single runs spread
    // over 12 to 18 Gbit/s on either side), so it gets at least 5 runs.
    let (a, b) = side_by_side(
        runs.max(if runs > 1 { 5 } else { 1 }),
        || t.iperf3_gbps(secs),
        || t.netcopy_gbps("run", "onecopy", "64K", secs, &PIN),
    )?;
    rows.push(ratio_row(
        "`netcopy run` onecopy 64K vs `iperf3 -l 64K`, 1 connection".into(),
        1.0,
        "iperf3",
        &a,
        "netcopy",
        &b,
    ));
    say(rows.last().context("row")?);

    // The framework against the minimal loops, 1K.
    for mode in ["twocopy", "onecopy"] {
        let (a, b) = side_by_side(
            runs,
            || {
                t.bench_loop(mode, "1K", secs)?["gbps"]
                    .as_f64()
                    .context("no gbps")
            },
            || t.netcopy_gbps("run", mode, "1K", secs, &["--no-verify"]),
        )?;
        rows.push(ratio_row(
            format!("`netcopy run --no-verify` {mode} 1K vs a minimal loop"),
            0.95,
            "loop",
            &a,
            "netcopy",
            &b,
        ));
        say(rows.last().context("row")?);
    }

    // Trace overhead per mode at 64K and 1K; a third side without the stack sampler says
    // how much of the overhead is the sampler's.
    let mut split = Vec::new();
    for (size, target) in [("64K", 0.97), ("1K", 0.90)] {
        for mode in ["twocopy", "onecopy", "zerocopy"] {
            let v = alternate(
                runs,
                &mut [
                    &mut || t.netcopy_gbps("run", mode, size, secs, &PIN),
                    &mut || t.netcopy_gbps("trace", mode, size, secs, &PIN),
                    &mut || {
                        let unsampled = [PIN[0], PIN[1], "--sample-hz", "0"];
                        t.netcopy_gbps("trace", mode, size, secs, &unsampled)
                    },
                ],
            )?;
            let [a, b, c] = &v[..] else {
                bail!("three sides");
            };
            split.push(Split {
                what: format!("{mode} {size}"),
                run: median(a),
                traced: median(b),
                unsampled: median(c),
            });
            rows.push(ratio_row(
                format!("trace overhead: traced / untraced, {mode} {size}"),
                target,
                "run",
                a,
                "trace",
                b,
            ));
            say(rows.last().context("row")?);
        }
    }

    // Per-call probe cost and traced call rate, with 1-byte sends.
    let mut plain = Vec::new();
    let mut traced = Vec::new();
    let mut rates = Vec::new();
    let mut lost = 0u64;
    for _ in 0..runs {
        let v = t.bench_loop("tiny", "1", secs)?;
        plain.push(v["ns_per_send"].as_f64().context("ns_per_send")?);
        let (v, s, _) = t.traced_loop("tiny", "1", secs, false)?;
        traced.push(v["ns_per_send"].as_f64().context("ns_per_send")?);
        let calls: u64 = s["syscalls"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r["calls"].as_u64()).sum())
            .unwrap_or(0);
        let seconds = s["seconds"].as_f64().unwrap_or(f64::NAN);
        rates.push(calls as f64 / seconds);
        lost += s["lost"].as_u64().unwrap_or(0);
    }
    let added = median(&traced) - median(&plain);
    rows.push(Row {
        measure: "per-call probe cost: added ns per traced 1-byte send".into(),
        target: "<= 150 ns".into(),
        detail: format!(
            "traced {} ns/send, untraced {} ns/send",
            spread(&traced),
            spread(&plain)
        ),
        value: Some(added),
        unit: "ns",
        met: Some(added <= 150.0),
    });
    say(rows.last().context("row")?);
    let rate = median(&rates);
    rows.push(Row {
        measure: "traced calls per second, per-call records (1 sender + 1 receiver)".into(),
        target: ">= 1,000,000, 0 lost".into(),
        detail: format!(
            "{} calls/s over the trace, {lost} records lost in all runs",
            spread(&rates)
        ),
        value: Some(rate),
        unit: "/s",
        met: Some(rate >= 1e6 && lost == 0),
    });
    say(rows.last().context("row")?);

    // Parquet encode of the syscalls table (criterion bench; it prints its rows/s and size).
    let enc = Command::new("cargo")
        .current_dir(&root)
        .args([
            "bench",
            "-p",
            "netcopy",
            "--bench",
            "sink",
            "--",
            "--quick-summary",
        ])
        .output()
        .context("cargo bench --bench sink")?;
    let text = String::from_utf8_lossy(&enc.stdout).into_owned();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let (rows_s, bytes_row) = (field("rows_per_second:"), field("bytes_per_row:"));
    let per_cpu = field("rows_per_cpu_second:").map_or("-".into(), |v| format!("{:.2} M", v / 1e6));
    rows.push(Row {
        measure: "Parquet encode of the syscalls table".into(),
        target: ">= 5,000,000 rows/s".into(),
        detail: format!(
            "SyscallsWriter: records to Arrow to ZSTD Parquet, 1M realistic rows; building and encoding overlap on two threads, {per_cpu} rows per CPU-second"
        ),
        value: rows_s,
        unit: "/s",
        met: rows_s.map(|v| v >= 5e6),
    });
    say(rows.last().context("row")?);
    rows.push(Row {
        measure: "Parquet size of the syscalls table".into(),
        target: "<= 16 B/row".into(),
        detail: "file size / rows of the same 1M rows".into(),
        value: bytes_row,
        unit: "B",
        met: bytes_row.map(|v| v <= 16.0),
    });
    say(rows.last().context("row")?);

    // Peak memory of a long trace at the highest call rate.
    let d = format!("{}s", opts.rss_seconds);
    let rss_dir = t.tmp.join("rss");
    let rss_dir = rss_dir.to_string_lossy();
    let rss = t.peak_rss_mib(&[
        "trace",
        "--mode",
        "twocopy",
        "--size",
        "1K",
        "--duration",
        &d,
        "--warmup",
        "0",
        "--out",
        &rss_dir,
        "--force",
    ])?;
    rows.push(Row {
        measure: format!("peak RSS of a {d} trace, twocopy 1K (the highest call rate)"),
        target: "<= 200 MiB".into(),
        detail: "ru_maxrss of the netcopy process (wait4)".into(),
        value: Some(rss),
        unit: "MiB",
        met: Some(rss <= 200.0),
    });
    say(rows.last().context("row")?);

    // What each program costs per run, in a traced loop of its own (the accounting adds to
    // every run, so it stays out of the runs above).
    let (_, _, costs) = t.traced_loop("tiny", "1", secs.max(2.0), true)?;
    for c in &costs {
        println!(
            "bench: program {:<24} {:>7.1} ns/run ({} runs)",
            c.name, c.ns_per_run, c.runs
        );
    }

    let _ = std::fs::remove_dir_all(&t.tmp);
    write_table(opts, &rows, &split, &costs)?;
    println!("bench: wrote {}", opts.out.display());
    Ok(ExitCode::SUCCESS)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = cmd::output(Command::new("uname").arg("-r")).unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{cpus} CPUs ({cpu}), Linux {}, {}",
        kernel.trim(),
        mem.replace("MemTotal:", "memory")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Throughput medians of one configuration, untraced, traced, and traced without sampling.
struct Split {
    what: String,
    run: f64,
    traced: f64,
    unsampled: f64,
}

fn write_table(
    opts: &Opts,
    rows: &[Row],
    split: &[Split],
    costs: &[progs::ProgCost],
) -> anyhow::Result<()> {
    let mut o = String::new();
    let _ = writeln!(o, "# netcopy benchmarks\n");
    let _ = writeln!(
        o,
        "Written by `cargo xtask bench` on {}. Machine: {}.\n",
        crate::cmd::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
            .unwrap_or_default()
            .trim(),
        machine()
    );
    let _ = writeln!(
        o,
        "Each comparison alternates its two sides run by run, {} run(s) each ({} for the iperf3 comparison), {} s windows (1 s warmup); values are medians, spreads [min-max]. Ratios are B/A of the medians.\n",
        opts.runs,
        if opts.runs > 1 { opts.runs.max(5) } else { 1 },
        opts.seconds
    );
    let _ = writeln!(o, "| measure | value | target | met | detail |");
    let _ = writeln!(o, "| --- | ---: | --- | --- | --- |");
    for r in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            r.measure,
            r.value.map_or("-".into(), |v| format!("{v:.3} {}", r.unit)),
            r.target,
            match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            },
            r.detail
        );
    }
    let _ = writeln!(o, "\n## Commands\n");
    let _ = writeln!(
        o,
        "- iperf3: `iperf3 -s -1 -p 5399` and `iperf3 -c 127.0.0.1 -p 5399 -l 64K -t N -O 1 -J -A {PINNED_CPUS}` (received bits per second)"
    );
    let _ = writeln!(
        o,
        "- netcopy: `netcopy run|trace --mode M --size S --duration Ns --warmup 1s --json --cpu-affinity {PINNED_CPUS}` (`throughput_gbps`; the minimal-loop comparison runs unpinned, like its loops)"
    );
    let _ = writeln!(
        o,
        "- minimal loops and 1-byte sends: `cargo xtask bench-loop --mode twocopy|onecopy|tiny` (xtask/src/bench/loops.rs), traced with `netcopy trace --pid PID --sample-hz 0`"
    );
    let _ = writeln!(
        o,
        "- Parquet encode: `cargo bench -p netcopy --bench sink` (netcopy/benches/sink.rs)"
    );
    let _ = writeln!(
        o,
        "- peak RSS: `netcopy trace --mode twocopy --size 1K --duration {}s`, ru_maxrss from wait4",
        opts.rss_seconds
    );
    let _ = writeln!(
        o,
        "\n## Where the trace overhead goes (this sitting)\n\nThe same alternation with a third side, `trace --sample-hz 0`: per-call records, no stack sampler. Medians in Gbit/s, and of untraced.\n"
    );
    let _ = writeln!(
        o,
        "| mode, size | run | trace --sample-hz 0 | trace (records + 4,999 Hz sampling) |"
    );
    let _ = writeln!(o, "| --- | ---: | ---: | ---: |");
    for s in split {
        let _ = writeln!(
            o,
            "| {} | {:.3} | {:.3} ({:.2}) | {:.3} ({:.2}) |",
            s.what,
            s.run,
            s.unsampled,
            s.unsampled / s.run,
            s.traced,
            s.traced / s.run
        );
    }
    let _ = writeln!(
        o,
        "\n## What each program costs (this sitting)\n\n`kernel.bpf_stats_enabled=1` during a traced 1-byte send loop of its own, run_time_ns / run_cnt from `bpftool prog show`. The accounting adds its own clock reads to every run, so these are upper bounds.\n"
    );
    let _ = writeln!(o, "| program | ns per run | runs |");
    let _ = writeln!(o, "| --- | ---: | ---: |");
    for c in costs {
        let _ = writeln!(o, "| {} | {:.1} | {} |", c.name, c.ns_per_run, c.runs);
    }
    if let Some(extra) = notes(&opts.out) {
        o.push_str(&extra);
    }
    std::fs::write(&opts.out, o).with_context(|| format!("write {}", opts.out.display()))
}

/// The hand-written explanations kept below the generated table across runs.
fn notes(path: &Path) -> Option<String> {
    let old = std::fs::read_to_string(path).ok()?;
    let i = old.find("\n## Why")?;
    Some(old[i..].to_owned())
}
