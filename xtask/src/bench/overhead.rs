//! The observer effect: traced over untraced throughput per mode and size, alternated with
//! the sides that say where the overhead goes (no sampler; at 1K also `--aggregate` and
//! `--records tail`) and with floors. At 1K: bpftrace's latency one-liner (the peer), empty
//! bpftrace programs on raw_syscalls (the floor), netcopy's own hooks with programs
//! that return at once (`NETCOPY_HIDE=callbodies`: its own floor), and the same hooks with
//! programs that only time each traced call (`NETCOPY_HIDE=callwork`: the timing floor, the
//! least any tool that times every call pays there), and that timing floor with the stack
//! sampler's interrupts at the default rate (its program finds no call in flight and
//! returns: the sampled timing floor, the least a trace that also samples pays). At 64K: empty
//! bpftrace programs on every hook a trace attaches (`bpftrace::hooks_floor`). All pinned
//! alike. Where a floor is below the ratio target, the next-best target is judged: within a
//! few points of it. The 1K rows that weigh one side against another (a floor, the peer, the
//! sampler) judge the median over rounds of each round's own difference or ratio, and the
//! sides they weigh run next to each other in every round.

use anyhow::bail;

use super::{
    Opts, PIN, bpftrace,
    table::{
        Row, Split, alternate, median, near_floor, near_hook_floor_64k, paired_points, ratio_row,
        signed_spread, spread,
    },
    targets,
    tools::Tools,
};

pub fn overhead(t: &Tools, opts: &Opts, push: &mut impl FnMut(Row)) -> anyhow::Result<Vec<Split>> {
    let secs = opts.seconds;
    let unsampled = [PIN[0], PIN[1], "--sample-hz", "0"];
    let aggregate = [PIN[0], PIN[1], "--aggregate"];
    let tail = [PIN[0], PIN[1], "--records", "tail"];
    // The brackets' own cost: the same trace with the bracket programs left out.
    let unbracketed = Tools {
        hide: Some("brackets"),
        ..t.clone()
    };
    let u = &unbracketed;
    // The hook floor with netcopy's own method (run without the sampler below).
    let hooks_only = t.hooks_only();
    // The timing floor, also without the sampler.
    let timer_only = t.timer_only();
    let mut split = Vec::new();
    for mode in ["twocopy", "onecopy", "zerocopy"] {
        // Judged within 3 points on a host where single 64K runs spread by 1.6x.
        let v = alternate(
            opts.close_runs(),
            &mut [
                &mut || t.netcopy_gbps("run", mode, "64K", secs, &PIN),
                &mut || t.netcopy_gbps("trace", mode, "64K", secs, &PIN),
                &mut || t.netcopy_gbps("trace", mode, "64K", secs, &unsampled),
                &mut || u.netcopy_gbps("trace", mode, "64K", secs, &PIN),
                &mut || {
                    bpftrace::under(&bpftrace::hooks_floor(), || {
                        t.netcopy_gbps("run", mode, "64K", secs, &PIN)
                    })
                },
            ],
        )?;
        let [run, traced, nosample, nobrackets, floor] = &v[..] else {
            bail!("five sides");
        };
        push(ratio_row(
            format!("trace overhead: traced / untraced, {mode} 64K"),
            targets::TRACE_64K_RATIO,
            "run",
            run,
            "trace",
            traced,
        ));
        push(near_hook_floor_64k(mode, run, traced, floor));
        let mut s = Split::new(format!("{mode} 64K"), run, traced, nosample);
        s.unbracketed = Some(median(nobrackets));
        s.floor = Some(median(floor));
        split.push(s);
    }
    for mode in ["twocopy", "onecopy"] {
        let peer = bpftrace::peer(mode);
        let v = alternate(
            opts.noisy_runs(),
            &mut [
                // In the order of the judged pairs, so that they run close together in every
                // round (every second round runs in reverse): the trace beside untraced and
                // the sampled timing floor, that floor beside `--aggregate`, the trace three
                // runs from `--sample-hz 0`, and that beside the timing floor.
                &mut || t.netcopy_gbps("run", mode, "1K", secs, &PIN),
                &mut || t.netcopy_gbps("trace", mode, "1K", secs, &PIN),
                &mut || timer_only.netcopy_gbps("trace", mode, "1K", secs, &PIN),
                &mut || t.netcopy_gbps("trace", mode, "1K", secs, &aggregate),
                &mut || t.netcopy_gbps("trace", mode, "1K", secs, &unsampled),
                &mut || timer_only.netcopy_gbps("trace", mode, "1K", secs, &unsampled),
                &mut || hooks_only.netcopy_gbps("trace", mode, "1K", secs, &unsampled),
                &mut || t.netcopy_gbps("trace", mode, "1K", secs, &tail),
                &mut || u.netcopy_gbps("trace", mode, "1K", secs, &PIN),
                &mut || bpftrace::under(&peer, || t.netcopy_gbps("run", mode, "1K", secs, &PIN)),
                &mut || {
                    bpftrace::under(bpftrace::FLOOR, || {
                        t.netcopy_gbps("run", mode, "1K", secs, &PIN)
                    })
                },
            ],
        )?;
        let [
            run,
            traced,
            sampled,
            agg,
            nosample,
            timer,
            own,
            tail,
            nobrackets,
            bt,
            floor,
        ] = &v[..]
        else {
            bail!("eleven sides");
        };
        push(ratio_row(
            format!("trace overhead: traced / untraced, {mode} 1K"),
            targets::TRACE_1K_RATIO,
            "run",
            run,
            "trace",
            traced,
        ));
        push(near_floor(
            &format!("{mode} 1K"),
            "raw_syscalls floor",
            targets::TRACE_1K_RATIO,
            run,
            traced,
            floor,
        ));
        push(near_floor(
            &format!("{mode} 1K"),
            OWN_FLOOR,
            targets::TRACE_1K_RATIO,
            run,
            traced,
            own,
        ));
        push(unjudged(near_floor(
            &format!("{mode} 1K, `--sample-hz 0`"),
            TIMER_FLOOR,
            targets::TRACE_1K_RATIO,
            run,
            nosample,
            timer,
        )));
        push(near_floor(
            &format!("{mode} 1K"),
            SAMPLED_FLOOR,
            targets::TRACE_1K_RATIO,
            run,
            traced,
            sampled,
        ));
        push(against_peer(mode, run, traced, bt));
        push(floor_against_peer(
            mode,
            "raw_syscalls floor",
            run,
            floor,
            bt,
        ));
        push(floor_against_peer(mode, OWN_FLOOR, run, own, bt));
        push(floor_against_peer(mode, TIMER_FLOOR, run, timer, bt));
        // The default trace samples stacks, so its least is the sampled floor's share.
        push(floor_against_peer(mode, SAMPLED_FLOOR, run, sampled, bt));
        push(sampler_share(mode, run, traced, nosample));
        push(sampler_beyond_floor(
            mode, run, traced, nosample, timer, sampled,
        ));
        push(ratio_row(
            format!("trace overhead: `--aggregate` / untraced, {mode} 1K"),
            targets::TRACE_1K_AGGREGATE_RATIO,
            "run",
            run,
            "trace --aggregate",
            agg,
        ));
        push(near_floor(
            &format!("{mode} 1K, `--aggregate`"),
            "raw_syscalls floor",
            targets::TRACE_1K_AGGREGATE_RATIO,
            run,
            agg,
            floor,
        ));
        push(near_floor(
            &format!("{mode} 1K, `--aggregate`"),
            SAMPLED_FLOOR,
            targets::TRACE_1K_AGGREGATE_RATIO,
            run,
            agg,
            sampled,
        ));
        push(info_row(
            format!("trace `--records tail` / untraced, {mode} 1K"),
            run,
            tail,
        ));
        push(info_row(
            format!("bpftrace latency one-liner / untraced, {mode} 1K (the peer)"),
            run,
            bt,
        ));
        push(info_row(
            format!("empty bpftrace programs on raw_syscalls / untraced, {mode} 1K (the floor)"),
            run,
            floor,
        ));
        push(info_row(
            format!(
                "netcopy's tp_btf syscall hooks with programs that return at once (`NETCOPY_HIDE=callbodies,brackets`, `--sample-hz 0`) / untraced, {mode} 1K (its own floor)"
            ),
            run,
            own,
        ));
        push(info_row(
            format!(
                "netcopy's tp_btf syscall hooks with programs that only time each traced call (`NETCOPY_HIDE=callwork,brackets`, `--sample-hz 0`) / untraced, {mode} 1K (the timing floor)"
            ),
            run,
            timer,
        ));
        push(info_row(
            format!(
                "the timing floor with the stack sampler at the default rate (`NETCOPY_HIDE=callwork,brackets`; its program finds no call in flight) / untraced, {mode} 1K (the sampled timing floor)"
            ),
            run,
            sampled,
        ));
        let mut s = Split::new(format!("{mode} 1K"), run, traced, nosample);
        s.aggregate = Some(median(agg));
        s.tail = Some(median(tail));
        s.unbracketed = Some(median(nobrackets));
        s.bpftrace = Some(median(bt));
        s.floor = Some(median(floor));
        split.push(s);
    }
    let v = alternate(
        opts.runs,
        &mut [
            &mut || t.netcopy_gbps("run", "zerocopy", "1K", secs, &PIN),
            &mut || t.netcopy_gbps("trace", "zerocopy", "1K", secs, &PIN),
            &mut || t.netcopy_gbps("trace", "zerocopy", "1K", secs, &unsampled),
        ],
    )?;
    let [run, traced, nosample] = &v[..] else {
        bail!("three sides");
    };
    push(ratio_row(
        "trace overhead: traced / untraced, zerocopy 1K".into(),
        targets::TRACE_1K_RATIO,
        "run",
        run,
        "trace",
        traced,
    ));
    split.push(Split::new("zerocopy 1K".into(), run, traced, nosample));
    let (lost, traces) = t.lost.get();
    push(Row {
        measure: "records lost by the traces above (every side: defaults, --sample-hz 0, without brackets, --aggregate, --records tail)".into(),
        target: "0".into(),
        detail: format!("{lost} records lost over {traces} traces"),
        value: Some(lost as f64),
        unit: "",
        met: Some(lost == 0),
    });
    Ok(split)
}

/// netcopy's overhead (1 - traced/untraced) over bpftrace's, from the same alternation:
/// the median over rounds of each round's own ratio ([`cost_shares`]).
fn against_peer(mode: &str, run: &[f64], traced: &[f64], bt: &[f64]) -> Row {
    let ours = 1.0 - median(traced) / median(run);
    let theirs = 1.0 - median(bt) / median(run);
    let rounds = cost_shares(run, traced, bt);
    Row::at_most(
        format!("trace overhead against bpftrace's one-liner, {mode} 1K"),
        targets::PEER_OVERHEAD_SHARE,
        "x",
        format!(
            "each round's netcopy cost over bpftrace's: {} (judged: the median); medians of the sides: netcopy costs {:.1}% of untraced throughput, bpftrace {:.1}% (untraced {} Gbit/s)",
            signed_spread(&rounds, 3),
            ours * 100.0,
            theirs * 100.0,
            spread(run)
        ),
        Some(median(&rounds)),
        "x",
    )
}

/// Each round's cost of `ours` over the cost of `theirs`, both in throughput lost against
/// that round's untraced run: `(run_i - ours_i) / (run_i - theirs_i)`.
fn cost_shares(run: &[f64], ours: &[f64], theirs: &[f64]) -> Vec<f64> {
    run.iter()
        .zip(ours)
        .zip(theirs)
        .map(|((r, o), t)| (r - o) / (r - t))
        .collect()
}

/// The floor of netcopy's own hooks: its tp_btf programs on raw_syscalls doing nothing.
const OWN_FLOOR: &str = "hook floor of netcopy's own (tp_btf, programs that return at once)";

/// The timing floor of netcopy's own: its tp_btf programs on raw_syscalls finding the thread
/// and reading the clock at a traced call's entry and exit, and doing nothing else.
const TIMER_FLOOR: &str =
    "timing floor of netcopy's own (tp_btf, programs that only time each traced call)";

/// The timing floor with the sampler's CPU-clock events at the default rate, whose program
/// finds no call in flight (the timing floor's programs start none) and returns: what
/// timing every call and taking the samples' interrupts cost, before any stack is read.
const SAMPLED_FLOOR: &str =
    "sampled timing floor (the timing floor with the sampler's interrupts at the default rate)";

/// A row shown beside the judged ones: no target of its own.
fn unjudged(mut row: Row) -> Row {
    row.met = None;
    row.target = "-".into();
    row
}

/// A floor's overhead over the peer's: the least [`against_peer`] can be, since netcopy
/// hooks the same raw_syscalls tracepoints. Of two floors, the lower bound is the cheaper.
fn floor_against_peer(mode: &str, name: &str, run: &[f64], floor: &[f64], bt: &[f64]) -> Row {
    let floor_cost = 1.0 - median(floor) / median(run);
    let peer_cost = 1.0 - median(bt) / median(run);
    let rounds = cost_shares(run, floor, bt);
    Row {
        measure: format!(
            "the overhead of the {name} over the one-liner's, {mode} 1K (the least the one-liner row can be)"
        ),
        target: "-".into(),
        detail: format!(
            "each round's: {}; medians of the sides: the floor costs {:.1}% of untraced throughput, bpftrace's one-liner {:.1}%",
            signed_spread(&rounds, 3),
            floor_cost * 100.0,
            peer_cost * 100.0
        ),
        value: Some(median(&rounds)),
        unit: "x",
        met: None,
    }
}

/// The stack sampler's share of the overhead: the default trace against `--sample-hz 0`,
/// in points of untraced throughput (0 when sampling came out faster).
fn sampler_share(mode: &str, run: &[f64], traced: &[f64], nosample: &[f64]) -> Row {
    let points = points_lost(run, nosample, traced);
    Row::at_most(
        format!("stack sampler's share of the trace overhead, {mode} 1K"),
        targets::SAMPLER_POINTS,
        "points",
        format!(
            "trace --sample-hz 0 {} / trace {} / run {} Gbit/s",
            spread(nosample),
            spread(traced),
            spread(run)
        ),
        Some(points),
        "points",
    )
}

/// Points of untraced throughput that `with` keeps less than `without` (0 when it keeps
/// more): the median over rounds of each round's own ([`paired_points`]).
fn points_lost(run: &[f64], without: &[f64], with: &[f64]) -> f64 {
    median(&paired_points(run, without, with)).max(0.0)
}

/// The sampler's share beyond the sampling floor's: the points the default trace loses to
/// `--sample-hz 0` less the points the timing floor loses to the same interrupts with a
/// program that reads no stack. Judged only where the sampling floor alone costs more than
/// the sampler's target; otherwise that target, in [`sampler_share`], is the one judged.
fn sampler_beyond_floor(
    mode: &str,
    run: &[f64],
    traced: &[f64],
    nosample: &[f64],
    timer: &[f64],
    sampled: &[f64],
) -> Row {
    let ours = points_lost(run, nosample, traced);
    let floor = points_lost(run, timer, sampled);
    let mut row = Row::at_most(
        format!("stack sampler's share beyond the sampling floor's, {mode} 1K"),
        targets::SAMPLER_POINTS,
        "points",
        format!(
            "the sampler costs {ours:.1} points (trace --sample-hz 0 / trace), the sampling floor {floor:.1} (timing floor {} / sampled timing floor {} Gbit/s)",
            spread(timer),
            spread(sampled)
        ),
        Some((ours - floor).max(0.0)),
        "points",
    );
    if floor <= targets::SAMPLER_POINTS {
        row.met = None;
        row.target = format!("- (floor <= {} points)", targets::SAMPLER_POINTS);
        row.detail.push_str(
            "; the sampling floor is within the sampler's target, so that target is the one judged",
        );
    }
    row
}

/// A ratio shown for comparison, judged against nothing.
fn info_row(measure: String, run: &[f64], other: &[f64]) -> Row {
    Row {
        measure,
        target: "-".into(),
        detail: format!("{} / run {} Gbit/s", spread(other), spread(run)),
        value: Some(median(other) / median(run)),
        unit: "x",
        met: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_is_judged_beyond_the_sampling_floor_only_where_that_floor_is_over_target() {
        let run = [10.0];
        // The sampler costs 6 points (8.0 -> 7.4); the sampling floor 4 (8.5 -> 8.1).
        let high = sampler_beyond_floor("onecopy", &run, &[7.4], &[8.0], &[8.5], &[8.1]);
        let v = high.value.unwrap();
        assert!((v - 2.0).abs() < 1e-9, "{v}");
        assert_eq!(high.met, Some(true));
        assert!(high.detail.contains("costs 6.0 points"), "{}", high.detail);
        assert!(high.detail.contains("floor 4.0"), "{}", high.detail);
        // The same floor and a sampler costing 8 points: 4 beyond it, not met.
        let far = sampler_beyond_floor("onecopy", &run, &[7.2], &[8.0], &[8.5], &[8.1]);
        assert_eq!(far.met, Some(false));
        // A floor of 1 point is within the target: shown, not judged here.
        let low = sampler_beyond_floor("onecopy", &run, &[7.2], &[8.0], &[8.5], &[8.4]);
        assert_eq!(low.met, None);
        assert!(low.target.contains("floor <= 3"), "{}", low.target);
        // A sampled floor faster than the unsampled one is 0 points, not a credit.
        let quick = sampler_beyond_floor("onecopy", &run, &[7.7], &[8.0], &[8.0], &[8.6]);
        assert!(
            (quick.value.unwrap() - 3.0).abs() < 1e-9,
            "{:?}",
            quick.value
        );
    }

    #[test]
    fn a_floors_overhead_over_the_peers_is_the_ratio_of_their_costs() {
        // Untraced 10, the floor keeps 8 (costs 20%), the one-liner keeps 5 (costs 50%).
        let row = floor_against_peer("onecopy", OWN_FLOOR, &[10.0], &[8.0], &[5.0]);
        let v = row.value.unwrap();
        assert!((v - 0.4).abs() < 1e-9, "{v}");
        assert!(row.measure.starts_with(
            "the overhead of the hook floor of netcopy's own (tp_btf, programs that return at once) over the one-liner's, onecopy 1K"
        ), "{}", row.measure);
        assert!(
            row.detail.contains("the floor costs 20.0%"),
            "{}",
            row.detail
        );
        assert_eq!(row.met, None);
    }

    #[test]
    fn the_peer_is_weighed_round_by_round() {
        // Untraced falls from 10 to 6 over the rounds. In each, netcopy costs 1 and the
        // one-liner 4: a share of 0.25 in every round.
        let run = [10.0, 8.0, 6.0];
        let traced = [9.0, 7.0, 5.0];
        let bt = [6.0, 4.0, 2.0];
        let row = against_peer("onecopy", &run, &traced, &bt);
        assert!((row.value.unwrap() - 0.25).abs() < 1e-9, "{:?}", row.value);
        assert_eq!(row.met, Some(true));
        // The sides' medians can mislead: from netcopy's 5.5, the one-liner's 4.0 and
        // untraced 8.0 the share reads 2.5 / 4 = 0.625, while in two rounds of three
        // netcopy costs 1 against the one-liner's 4 and 5.
        let traced = [9.0, 5.5, 5.0];
        let bt = [6.0, 4.0, 1.0];
        let row = against_peer("onecopy", &run, &traced, &bt);
        let v = row.value.unwrap();
        assert!((v - 0.625).abs() > 0.1, "{v}");
        assert!(v <= 0.5, "{v}: {}", row.detail);
    }
}
