//! The table `cargo xtask bench` writes: rows of medians and spreads with their targets,
//! alternation of the sides of a comparison, and BENCHMARKS.md itself (the hand-written
//! explanations below the generated part are kept across runs).

use std::{fmt::Write as _, path::Path, process::Command};

use anyhow::Context;

use super::{Opts, PINNED_CPUS, progs};
use crate::cmd;

/// One line of the table.
pub struct Row {
    pub measure: String,
    pub target: String,
    /// What A and B are, with their medians and spreads, as text.
    pub detail: String,
    pub value: Option<f64>,
    pub unit: &'static str,
    pub met: Option<bool>,
}

impl Row {
    /// A row judged by `value <= limit` (no verdict, "-", when not measured), its target written as
    /// `<= {limit}{target_unit}`.
    pub fn at_most(
        measure: String,
        limit: f64,
        target_unit: &str,
        detail: String,
        value: Option<f64>,
        unit: &'static str,
    ) -> Self {
        Self {
            measure,
            target: format!("<= {limit}{target_unit}"),
            detail,
            value,
            unit,
            met: value.map(|v| v <= limit),
        }
    }
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// A 95% interval of the median that assumes nothing about the values' distribution: the
/// k-th smallest and k-th largest, for the largest k whose two binomial(n, 1/2) tails hold at
/// most 5% together. `None` under 6 values, where even the smallest and largest do not.
pub fn median_interval(v: &[f64]) -> Option<(f64, f64)> {
    let n = v.len();
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    // P(X <= j) for X ~ binomial(n, 1/2), j = 0, 1, ...: the chance that fewer than j + 1
    // values fall below the true median.
    let mut term = 0.5f64.powi(n as i32);
    let mut tail = 0.0;
    let mut k = 0;
    for j in 0..n / 2 {
        tail += term;
        if 2.0 * tail > 0.05 {
            break;
        }
        k = j + 1;
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    (k > 0).then(|| (s[k - 1], s[n - k]))
}

/// The smallest and largest of `v`.
pub fn bounds(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// Each B run over the A run alternated with it.
pub fn paired_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| b / a).collect()
}

pub fn spread(v: &[f64]) -> String {
    let (lo, hi) = bounds(v);
    format!("{:.3} [{lo:.3}-{hi:.3}]", median(v))
}

/// A and B alternated `runs` times.
pub fn side_by_side(
    runs: usize,
    mut a: impl FnMut() -> anyhow::Result<f64>,
    mut b: impl FnMut() -> anyhow::Result<f64>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut v = alternate(runs, &mut [&mut a, &mut b])?.into_iter();
    Ok((v.next().unwrap_or_default(), v.next().unwrap_or_default()))
}

/// Every side alternated with the others `runs` times: one list of results per side. Odd
/// rounds run the sides in reverse (A B C, C B A, ...), so that no side always runs right
/// after the same other side and a drift within a round falls on the sides alike. With one
/// fixed order, netcopy's pinned onecopy run always followed the unpinned C loop; its paired
/// median against the pinned C loop was 0.940, 0.967 and 0.995 in three sittings of
/// 2026-12-05, while the two were level when run at once.
pub fn alternate(
    runs: usize,
    sides: &mut [&mut dyn FnMut() -> anyhow::Result<f64>],
) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut v = vec![Vec::new(); sides.len()];
    for round in 0..runs {
        let mut order: Vec<usize> = (0..sides.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            v[i].push(sides[i]()?);
        }
    }
    Ok(v)
}

pub fn ratio_row(
    measure: String,
    target: f64,
    a_name: &str,
    a: &[f64],
    b_name: &str,
    b: &[f64],
) -> Row {
    let r = median(b) / median(a);
    let paired = paired_ratios(a, b);
    Row {
        measure,
        target: format!(">= {target:.2}x"),
        detail: format!(
            "{b_name} {} / {a_name} {} Gbit/s; paired {}",
            spread(b),
            spread(a),
            spread(&paired)
        ),
        value: Some(r),
        unit: "x",
        met: Some(r >= target),
    }
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

/// Throughput medians of one configuration: untraced, traced, traced without sampling, and
/// where measured, `--aggregate`, bpftrace's one-liner and the empty bpftrace floor.
pub struct Split {
    pub what: String,
    pub run: f64,
    pub traced: f64,
    pub unsampled: f64,
    pub aggregate: Option<f64>,
    pub tail: Option<f64>,
    /// The default trace with the bracket programs hidden (`NETCOPY_HIDE=brackets`).
    pub unbracketed: Option<f64>,
    pub bpftrace: Option<f64>,
    pub floor: Option<f64>,
}

impl Split {
    pub fn new(what: String, run: &[f64], traced: &[f64], unsampled: &[f64]) -> Self {
        Self {
            what,
            run: median(run),
            traced: median(traced),
            unsampled: median(unsampled),
            aggregate: None,
            tail: None,
            unbracketed: None,
            bpftrace: None,
            floor: None,
        }
    }
}

pub fn write_table(
    opts: &Opts,
    rows: &[Row],
    split: &[Split],
    costs: &[progs::ProgCost],
    sections: &str,
) -> anyhow::Result<()> {
    let mut o = String::new();
    let _ = writeln!(o, "# netcopy benchmarks\n");
    let _ = writeln!(
        o,
        "Written by `cargo xtask bench` on {}. Machine: {}.\n",
        cmd::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
            .unwrap_or_default()
            .trim(),
        machine()
    );
    let _ = writeln!(
        o,
        "Each comparison alternates its two sides run by run, {} run(s) each ({} for the comparisons judged within a few points: iperf3, the C loop, the trace overhead at 64K; {} for the trace overhead at 1K, the noisiest), {} s windows (1 s warmup); values are medians, spreads [min-max]. Ratios are B/A of the medians; \"paired\" gives the median [min-max] of each B run over the A run alternated with it, which drifts of the host move less. The 1K rows that weigh the trace against a floor, the peer or the sampler judge such paired values: the median over rounds of each round's own points below its floor (or cost over the peer's), with the sides they weigh run next to each other.\n",
        opts.runs,
        opts.close_runs(),
        opts.noisy_runs(),
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
        "- netcopy: `netcopy run|trace --mode M --size S --duration Ns --warmup 1s --json --cpu-affinity {PINNED_CPUS}` (`throughput_gbps`; the minimal-loop comparison runs unpinned, like its loops, and so does the unjudged C-loop row)"
    );
    let _ = writeln!(
        o,
        "- C loop: `loop twocopy|onecopy 1024 N` (xtask/src/bench/c/loop.c, built with `cc -O2`; it numbers each message in its first 8 bytes before sending it, as netcopy does), and pinned alike for the judged row, `loop twocopy|onecopy 1024 N 0 1` (sender on CPU 0, receiver on CPU 1, as `--cpu-affinity {PINNED_CPUS}`); netcopy's default at 1K times one call in 16 (`--latency-sample`), and beside it `netcopy run --no-verify --latency-sample 1` times every call; the pinned C loop also runs a second time in the same alternation, its parity"
    );
    let _ = writeln!(
        o,
        "- at once: `loop twocopy|onecopy 1024 N+1.3 0 1` and `netcopy run --no-verify --cpu-affinity {PINNED_CPUS}` of N s after 1 s warmup (and its 0.3 s tail), started in turn on the same CPUs (xtask/src/bench/atonce.rs); each sender's CPU time over its messages (the C loop's `send_cpu_ns`/`send_msgs`, netcopy's sender `cpu_ns`/`messages`), and the median over rounds of each round's C/netcopy with a distribution-free 95% interval of that median (order statistics); in each round a second pairing runs the C loop at once with a copy of itself started in netcopy's place, the parity this instrument reads, and the judged next-best is how many points C/netcopy falls below it; a full bench runs 16 rounds of 2 s windows of each pairing, the pairings and the start order alternating"
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
        "- bpftrace, run beside `netcopy run` (xtask/src/bench/bpftrace.rs): the peer `bpftrace -e '{}'` (twocopy: the same on sendto/recvfrom), the floor `bpftrace -e '{}'`",
        super::bpftrace::peer("onecopy"),
        super::bpftrace::FLOOR
    );
    let _ = writeln!(
        o,
        "- peak RSS: `netcopy trace --mode twocopy --size 1K --duration {}s`, ru_maxrss from wait4",
        opts.rss_seconds
    );
    let _ = writeln!(
        o,
        "\n## Where the trace overhead goes (this sitting)\n\nThe same alternation with the sides that split it: `trace --sample-hz 0` (per-call records, no stack sampler), `trace --aggregate` (in-kernel totals, sampler on), `trace --records tail` (in-kernel totals and rows for the tail), the default trace without the bracket programs (`NETCOPY_HIDE=brackets`: their cost is its distance from the default trace), bpftrace's latency one-liner (1K), and the bpftrace floor: empty programs on raw_syscalls:sys_enter/sys_exit at 1K, on every hook a trace attaches (`hooks_floor` in xtask/src/bench/bpftrace.rs) at 64K. Medians in Gbit/s, and of untraced.\n"
    );
    let _ = writeln!(
        o,
        "| mode, size | run | trace --sample-hz 0 | trace (records + default sampling) | trace without brackets | trace --aggregate | trace --records tail | bpftrace one-liner | bpftrace floor |"
    );
    let _ = writeln!(
        o,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let of =
        |v: Option<f64>, run: f64| v.map_or("-".into(), |v| format!("{v:.3} ({:.2})", v / run));
    for s in split {
        let _ = writeln!(
            o,
            "| {} | {:.3} | {} | {} | {} | {} | {} | {} | {} |",
            s.what,
            s.run,
            of(Some(s.unsampled), s.run),
            of(Some(s.traced), s.run),
            of(s.unbracketed, s.run),
            of(s.aggregate, s.run),
            of(s.tail, s.run),
            of(s.bpftrace, s.run),
            of(s.floor, s.run),
        );
    }
    let _ = writeln!(
        o,
        "\n## What each program costs (this sitting)\n\n`kernel.bpf_stats_enabled=1` during a traced 1-byte send loop of its own, from the loop's start, run_time_ns / run_cnt from `bpftool prog show`. The accounting adds its own clock reads to every run, so these are upper bounds. The sampler's row against bpftrace's comes from rounds of their own (xtask/src/bench/costs.rs), with bpftrace's `profile:hz:{hz} {{ @[kstack] = count(); }}` on the loop's threads attached beside netcopy's sampler, both counted over the same stretch of the loop.\n",
        hz = super::bpftrace::SAMPLE_HZ
    );
    let _ = writeln!(o, "| program | ns per run | runs |");
    let _ = writeln!(o, "| --- | ---: | ---: |");
    for c in costs {
        let _ = writeln!(o, "| {} | {:.1} | {} |", c.name, c.ns_per_run, c.runs);
    }
    o.push_str(sections);
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

/// [`near_floor`] for a 64K trace against its hook floor (empty programs on every hook it
/// uses), judged where that floor is below [`super::targets::TRACE_64K_RATIO`].
pub fn near_hook_floor_64k(mode: &str, run: &[f64], traced: &[f64], floor: &[f64]) -> Row {
    near_floor(
        &format!("{mode} 64K"),
        "hook floor",
        super::targets::TRACE_64K_RATIO,
        run,
        traced,
        floor,
    )
}

/// Each round's points of untraced throughput that `with` keeps less than `without`,
/// `(without_i - with_i) / run_i`, over the rounds of one alternation. A round's sides run
/// within a minute of each other, while the sides' medians may come from rounds far apart,
/// so the host's drift moves these less than it moves a difference of medians.
pub fn paired_points(run: &[f64], without: &[f64], with: &[f64]) -> Vec<f64> {
    run.iter()
        .zip(without)
        .zip(with)
        .map(|((r, a), b)| (a - b) / r * 100.0)
        .collect()
}

/// Median and range of values that may be negative, to `decimals` places:
/// "2.0 [-1.5 to 4.0]".
pub fn signed_spread(v: &[f64], decimals: usize) -> String {
    let (lo, hi) = bounds(v);
    format!("{:.d$} [{lo:.d$} to {hi:.d$}]", median(v), d = decimals)
}

/// The next-best target where a floor itself is below a ratio target: traced / untraced
/// within [`super::targets::FLOOR_POINTS`] of floor / untraced, `what` (mode and size) in
/// one alternation; `floor_name` says which floor. Judged on the median over rounds of each
/// round's own distance ([`paired_points`]); the medians of the sides are shown beside it.
/// Where the floor is at or above `target`, the target itself is reachable and judged in
/// its own row, so this one is not judged.
pub fn near_floor(
    what: &str,
    floor_name: &str,
    target: f64,
    run: &[f64],
    traced: &[f64],
    floor: &[f64],
) -> Row {
    let ours = median(traced) / median(run);
    let base = median(floor) / median(run);
    let rounds = paired_points(run, floor, traced);
    let below = median(&rounds).max(0.0);
    let floor_paired = median(&paired_ratios(run, floor));
    let mut row = Row::at_most(
        format!("trace overhead beyond the {floor_name}, {what}"),
        super::targets::FLOOR_POINTS,
        "points",
        format!(
            "each round's floor less its trace, in points of that round's untraced run: {} (judged: the median, 0 when above); medians of the sides: traced {ours:.3}, floor {base:.3} of untraced",
            signed_spread(&rounds, 1)
        ),
        Some(below),
        "points",
    );
    if floor_paired >= target {
        row.met = None;
        row.target = format!("- (floor >= {target:.2}x)");
        row.detail.push_str(&format!(
            "; round by round the floor keeps {floor_paired:.3} of untraced, at or above the {target:.2}x target, so that target is the one judged"
        ));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_interval_takes_the_order_statistics_the_binomial_allows() {
        // 16 values: P(X <= 3) = 697/65536 for binomial(16, 1/2), twice that is 2.1%, and
        // P(X <= 4) doubled is 7.7%, so the 4th smallest and the 4th largest.
        let v: Vec<f64> = (1..=16).rev().map(f64::from).collect();
        assert_eq!(median_interval(&v), Some((4.0, 13.0)));
        // 6 values: only the extremes hold 95% (2/64 = 3.1%); 5 values cannot (6.3%).
        assert_eq!(
            median_interval(&[3.0, 1.0, 2.0, 6.0, 5.0, 4.0]),
            Some((1.0, 6.0))
        );
        assert_eq!(median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        assert_eq!(median_interval(&[]), None);
        // 24 values: the 7th from each end (2 P(X <= 6) = 2.3%, 2 P(X <= 7) = 6.4%).
        let v: Vec<f64> = (1..=24).map(f64::from).collect();
        assert_eq!(median_interval(&v), Some((7.0, 18.0)));
    }

    #[test]
    fn odd_rounds_run_the_sides_in_reverse_and_each_result_stays_with_its_side() {
        let log = std::cell::RefCell::new(Vec::new());
        let side = |name: char, value: f64| {
            let log = &log;
            move || {
                log.borrow_mut().push(name);
                Ok(value)
            }
        };
        let (mut a, mut b, mut c) = (side('a', 1.0), side('b', 2.0), side('c', 3.0));
        let v = alternate(3, &mut [&mut a, &mut b, &mut c]).unwrap();
        assert_eq!(log.borrow().iter().collect::<String>(), "abccbaabc");
        assert_eq!(v, [vec![1.0; 3], vec![2.0; 3], vec![3.0; 3]]);
    }

    #[test]
    fn an_at_most_row_is_met_only_when_measured_within_its_limit() {
        let row = |v| Row::at_most("m".into(), 250.0, " ns", "d".into(), v, "ns");
        assert_eq!(row(Some(250.0)).met, Some(true));
        assert_eq!(row(Some(250.1)).met, Some(false));
        assert_eq!(row(None).met, None);
        assert_eq!(row(None).target, "<= 250 ns");
    }

    #[test]
    fn a_ratio_row_gives_the_ratio_of_medians_and_the_paired_ratios() {
        let r = ratio_row(
            "m".into(),
            0.97,
            "a",
            &[10.0, 20.0, 30.0],
            "b",
            &[9.0, 21.0, 27.0],
        );
        assert_eq!(r.value, Some(21.0 / 20.0));
        assert_eq!(r.met, Some(true));
        // Paired: 0.9, 1.05, 0.9.
        assert!(
            r.detail.ends_with("paired 0.900 [0.900-1.050]"),
            "{}",
            r.detail
        );
    }

    #[test]
    fn near_floor_counts_only_the_points_below_the_floor() {
        let run = [10.0, 10.0, 10.0];
        let floor = [6.0, 6.1, 5.9];
        // 0.55 of untraced against a floor of 0.60: 5 points below, met at <= 5.
        let below = near_floor("twocopy 1K", "floor", 0.77, &run, &[5.5, 5.4, 5.6], &floor);
        let v = below.value.unwrap();
        assert!((v - 5.0).abs() < 1e-9, "{v}");
        assert_eq!(below.met, Some(true));
        let far = near_floor("twocopy 1K", "floor", 0.77, &run, &[5.0, 5.0, 5.0], &floor);
        assert_eq!(far.met, Some(false));
        // Above the floor is 0 points, not a negative credit.
        let above = near_floor("twocopy 1K", "floor", 0.77, &run, &[7.0, 7.0, 7.0], &floor);
        assert_eq!(above.value, Some(0.0));
        assert!(above.measure.contains("beyond the floor, twocopy 1K"));
        // A floor at or above the target (64K, where hooks made runs faster): the target
        // itself is judged in its own row, and this next-best is shown but not judged.
        let floor_high = [12.0, 12.7, 13.0];
        let moot = near_floor(
            "onecopy 64K",
            "floor",
            0.97,
            &run,
            &[10.3, 10.0, 10.5],
            &floor_high,
        );
        // Rounds of 17, 27 and 25 points: the median round, 25.
        assert!(
            (moot.value.unwrap() - 25.0).abs() < 1e-9,
            "{:?}",
            moot.value
        );
        assert_eq!(moot.met, None);
        assert!(moot.target.contains("floor >= 0.97x"), "{}", moot.target);
        assert!(
            moot.detail
                .contains("round by round the floor keeps 1.270 of untraced, at or above"),
            "{}",
            moot.detail
        );
    }

    #[test]
    fn near_floor_judges_each_rounds_own_distance_not_the_sides_medians() {
        // A host that drifts: the floor's median comes from the middle round and the
        // trace's from the last, 1 point apart, while in every round but the last the
        // trace ran 5 points below the floor run next to it.
        let run = [10.0, 10.0, 10.0];
        let floor = [8.0, 7.0, 6.0];
        let traced = [7.5, 6.5, 6.9];
        let row = near_floor("onecopy 1K", "floor", 0.77, &run, &traced, &floor);
        let v = row.value.unwrap();
        assert!((v - 5.0).abs() < 1e-9, "{v}");
        assert_eq!(row.met, Some(true));
        assert!(row.detail.contains("5.0 [-9.0 to 5.0]"), "{}", row.detail);
        assert!(
            row.detail.contains("traced 0.690, floor 0.700"),
            "{}",
            row.detail
        );
        // One more point in every round is past the target.
        let traced = [7.4, 6.4, 6.8];
        let row = near_floor("onecopy 1K", "floor", 0.77, &run, &traced, &floor);
        assert_eq!(row.met, Some(false));
    }

    #[test]
    fn paired_points_divide_by_each_rounds_own_untraced_run() {
        let p = paired_points(&[10.0, 5.0], &[8.0, 4.0], &[7.0, 3.0]);
        assert_eq!(p, vec![10.0, 20.0]);
        assert_eq!(signed_spread(&[-1.5, 2.0, 4.0], 1), "2.0 [-1.5 to 4.0]");
    }
}
