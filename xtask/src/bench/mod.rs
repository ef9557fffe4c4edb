//! `cargo xtask bench`: netcopy side by side with its peers, in one sitting, written to
//! BENCHMARKS.md as medians, spreads and ratios.
//!
//! Every comparison alternates A and B run by run, so drift on these shared 2-core VMs hits
//! both sides alike, and takes the median of `--runs` runs of each. `tools` runs the
//! programs, `table` keeps the rows and writes the file, `targets` holds what each row is
//! judged against, `against` compares this build with another, `progs` reads bpf_stats and
//! `costs` judges the programs' costs with it,
//! `overhead` is the observer-effect comparison (with `bpftrace` beside it), `cprogs` builds
//! the C loop and the getpid neighbour, `neighbour` traces under that load, and `sink` reads
//! the in-process sink bench.

mod against;
mod atonce;
mod bpftrace;
mod costs;
mod cprogs;
pub mod loops;
mod modes;
mod neighbour;
mod overhead;
mod progs;
mod sink;
mod soak;
mod table;
mod targets;
mod tools;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};

use self::{
    table::{Row, median, ratio_row, side_by_side, spread, write_table},
    tools::Tools,
};
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
    /// Another netcopy binary to compare this build with (`--against`).
    pub against: Option<PathBuf>,
    /// Only the copy-mode comparison, rewriting its section of `out` (`--modes-only`).
    pub modes_only: bool,
    /// Only the 10-minute trace, rewriting its section of `out` (`--soak`).
    pub soak: bool,
}

impl Opts {
    pub fn full(root: &Path) -> Self {
        Self {
            runs: 3,
            seconds: 5.0,
            rss_seconds: 60,
            out: root.join("BENCHMARKS.md"),
            against: None,
            modes_only: false,
            soak: false,
        }
    }

    /// Runs of each side where a comparison is judged by a few points or is the noisiest
    /// here: at least 5 in a full bench.
    pub fn close_runs(&self) -> usize {
        if self.runs > 1 { self.runs.max(5) } else { 1 }
    }

    /// Runs of each side of the 1K trace-overhead alternation, where single runs spread by
    /// 10 points or more and the judged differences are a few points: at least 7 in a full
    /// bench.
    pub fn noisy_runs(&self) -> usize {
        if self.runs > 1 { self.runs.max(7) } else { 1 }
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
            against: None,
            modes_only: false,
            soak: false,
        })
    }
}

/// Print a row as it is made.
fn say(r: &Row) {
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
}

/// Run the suite and write the table.
pub fn bench(opts: &Opts) -> anyhow::Result<ExitCode> {
    if let Some(old) = opts.against.as_deref().filter(|p| !p.is_file()) {
        bail!("--against {}: no such file", old.display());
    }
    let root = cmd::workspace_root();
    let tmp = std::env::temp_dir().join(format!("netcopy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let t = Tools {
        netcopy: cmd::build_netcopy(true)?,
        xtask: std::env::current_exe().context("xtask's own path")?,
        tmp,
        lost: Default::default(),
        hide: None,
    };
    let mut rows = Vec::new();
    let mut push = |r: Row| {
        say(&r);
        rows.push(r);
    };
    if opts.soak {
        let section = soak::soak(&t)?;
        let _ = std::fs::remove_dir_all(&t.tmp);
        let old = std::fs::read_to_string(&opts.out).unwrap_or_default();
        std::fs::write(
            &opts.out,
            modes::replace_between(&old, &section, soak::START, soak::END),
        )?;
        println!("bench: rewrote the soak section of {}", opts.out.display());
        return Ok(ExitCode::SUCCESS);
    }
    if opts.modes_only {
        let section = modes::compare(&t, opts, &mut push)?;
        let _ = std::fs::remove_dir_all(&t.tmp);
        let old = std::fs::read_to_string(&opts.out).unwrap_or_default();
        std::fs::write(&opts.out, modes::replace_section(&old, &section))?;
        println!(
            "bench: rewrote the copy-mode section of {}",
            opts.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    iperf3(&t, opts, &mut push)?;
    let c = cprogs::CProgs::build(&t.tmp)?;
    minimal_loops(&t, &c, opts, &mut push)?;
    atonce::at_once(&t, &c, opts, &mut push)?;
    let split = overhead::overhead(&t, opts, &mut push)?;
    neighbour::under_load(&t, &c, opts, &mut push)?;
    probe_cost(&t, opts, &mut push)?;
    sink::encode(&root, &mut push)?;
    peak_rss(&t, opts, &mut push)?;
    let costs = costs::program_costs(&t, opts, &mut push)?;
    let mut sections = modes::compare(&t, opts, &mut push)?;
    if let Some(old) = &opts.against {
        sections.push_str(&against::compare(&t, old, opts)?);
    }
    let _ = std::fs::remove_dir_all(&t.tmp);
    write_table(opts, &rows, &split, &costs, &sections)?;
    println!("bench: wrote {}", opts.out.display());
    Ok(ExitCode::SUCCESS)
}

/// netcopy onecopy 64K against iperf3: the noisiest comparison here (single runs spread over
/// 12 to 18 Gbit/s on either side), so it gets at least 5 runs.
fn iperf3(t: &Tools, opts: &Opts, push: &mut impl FnMut(Row)) -> anyhow::Result<()> {
    let secs = opts.seconds;
    let (a, b) = side_by_side(
        opts.close_runs(),
        || t.iperf3_gbps(secs),
        || t.netcopy_gbps("run", "onecopy", "64K", secs, &PIN),
    )?;
    push(ratio_row(
        "`netcopy run` onecopy 64K vs `iperf3 -l 64K`, 1 connection".into(),
        targets::IPERF3_RATIO,
        "iperf3",
        &a,
        "netcopy",
        &b,
    ));
    Ok(())
}

/// The framework against the minimal loops, 1K: the Rust loop of `cargo xtask bench-loop`
/// and the C loop of `c/loop.c`, alternated with `netcopy run --no-verify`; the C loop is
/// judged within a few points, so these get [`Opts::close_runs`]. The C loop runs twice:
/// pinned as netcopy is with [`PIN`] (the judged row: unpinned, the C loop's onecopy 1K ran
/// 15% faster than pinned here, so both sides must get the same placement), and unpinned,
/// as the Rust loop runs. netcopy's default at 1K times one call in 16; a sixth side is the
/// pinned run with `--latency-sample 1`, which times every call (two TSC reads a call):
/// what that costs against the C loop, which times nothing. A seventh side runs the pinned
/// C loop again, so the sitting shows how far apart two runs of one program read here.
fn minimal_loops(
    t: &Tools,
    c: &cprogs::CProgs,
    opts: &Opts,
    push: &mut impl FnMut(Row),
) -> anyhow::Result<()> {
    let secs = opts.seconds;
    let pinned = pinned_cpus()?;
    for mode in ["twocopy", "onecopy"] {
        let v = table::alternate(
            opts.close_runs(),
            &mut [
                &mut || {
                    t.bench_loop(mode, "1K", secs)?["gbps"]
                        .as_f64()
                        .context("no gbps")
                },
                &mut || t.netcopy_gbps("run", mode, "1K", secs, &["--no-verify"]),
                &mut || c.loop_gbps(mode, 1024, secs, None),
                &mut || {
                    let args = ["--no-verify", PIN[0], PIN[1]];
                    t.netcopy_gbps("run", mode, "1K", secs, &args)
                },
                &mut || c.loop_gbps(mode, 1024, secs, Some(pinned)),
                &mut || {
                    let args = ["--no-verify", "--latency-sample", "1", PIN[0], PIN[1]];
                    t.netcopy_gbps("run", mode, "1K", secs, &args)
                },
                &mut || c.loop_gbps(mode, 1024, secs, Some(pinned)),
            ],
        )?;
        let [
            rust,
            netcopy,
            cloop,
            netcopy_pinned,
            cloop_pinned,
            every_call,
            cloop_again,
        ] = &v[..]
        else {
            bail!("seven sides");
        };
        push(ratio_row(
            format!("`netcopy run --no-verify` {mode} 1K vs a minimal loop"),
            targets::LOOP_RATIO,
            "loop",
            rust,
            "netcopy",
            netcopy,
        ));
        push(ratio_row(
            format!(
                "`netcopy run --no-verify --cpu-affinity {PINNED_CPUS}` {mode} 1K vs a C loop (`cc -O2`, c/loop.c) pinned alike"
            ),
            targets::C_LOOP_RATIO,
            "C",
            cloop_pinned,
            "netcopy",
            netcopy_pinned,
        ));
        // What this alternation reads for two programs that are the same: the pinned C loop
        // against a second run of itself, a seventh side.
        push(Row {
            target: "-".into(),
            met: None,
            ..ratio_row(
                format!(
                    "the C loop pinned alike vs itself, {mode} 1K, as a seventh side of the same alternation (the parity this alternation reads)"
                ),
                0.0,
                "C",
                cloop_pinned,
                "C again",
                cloop_again,
            )
        });
        // What timing every call would cost: the same run with each call timed, in the same
        // alternation.
        push(Row {
            target: "-".into(),
            met: None,
            ..ratio_row(
                format!(
                    "`netcopy run --no-verify --latency-sample 1 --cpu-affinity {PINNED_CPUS}` {mode} 1K (every call timed) vs the C loop pinned alike"
                ),
                0.0,
                "C",
                cloop_pinned,
                "netcopy",
                every_call,
            )
        });
        push(Row {
            target: "-".into(),
            met: None,
            ..ratio_row(
                format!("`netcopy run --no-verify` {mode} 1K vs the C loop, both unpinned"),
                0.0,
                "C",
                cloop,
                "netcopy",
                netcopy,
            )
        });
    }
    Ok(())
}

/// [`PINNED_CPUS`] as the sender's and the receiver's CPU.
fn pinned_cpus() -> anyhow::Result<(u32, u32)> {
    let (s, r) = PINNED_CPUS.split_once(',').context("PINNED_CPUS: S,R")?;
    Ok((s.parse()?, r.parse()?))
}

/// Per-call probe cost and traced call rate, with 1-byte sends.
fn probe_cost(t: &Tools, opts: &Opts, push: &mut impl FnMut(Row)) -> anyhow::Result<()> {
    let secs = opts.seconds;
    let (mut plain, mut traced, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    let mut lost = 0u64;
    for _ in 0..opts.runs {
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
    push(Row::at_most(
        "per-call probe cost: added ns per traced 1-byte send".into(),
        targets::PROBE_NS,
        " ns",
        format!(
            "traced {} ns/send, untraced {} ns/send",
            spread(&traced),
            spread(&plain)
        ),
        Some(added),
        "ns",
    ));
    let rate = median(&rates);
    push(Row {
        measure: "traced calls per second, per-call records (1 sender + 1 receiver)".into(),
        target: format!(">= {:.0}, 0 lost", targets::CALLS_PER_S),
        detail: format!(
            "{} calls/s over the trace, {lost} records lost in all runs",
            spread(&rates)
        ),
        value: Some(rate),
        unit: "/s",
        met: Some(rate >= targets::CALLS_PER_S && lost == 0),
    });
    Ok(())
}

/// Peak memory of a long trace at the highest call rate.
fn peak_rss(t: &Tools, opts: &Opts, push: &mut impl FnMut(Row)) -> anyhow::Result<()> {
    let d = format!("{}s", opts.rss_seconds);
    let dir = t.tmp.join("rss");
    let dir = dir.to_string_lossy();
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
        &dir,
        "--force",
    ])?;
    push(Row::at_most(
        format!("peak RSS of a {d} trace, twocopy 1K (the highest call rate)"),
        targets::PEAK_RSS_MIB,
        " MiB",
        "ru_maxrss of the netcopy process (wait4)".into(),
        Some(rss),
        "MiB",
    ));
    Ok(())
}
