//! What netcopy's eBPF programs cost per run (bpf_stats, `progs`), judged beside bpftrace's
//! programs in the same 1-byte send loop: the syscall entry and exit programs against
//! bpftrace's empty, clock-only and one-liner programs and against netcopy's own programs
//! that return at once on the same hooks (`NETCOPY_HIDE=callbodies`) or only time each
//! traced call there (`NETCOPY_HIDE=callwork`), and the stack
//! sampler against bpftrace's kernel-stack sampler on the same threads and rate, and
//! against what the kernel's walk of each whole stack costs alone (netcopy's
//! `sample_walk`, the sampler with nothing sent).

use super::{
    Opts,
    bpftrace::{self, SampleKey},
    progs::{self, ProgCost},
    table::{Row, median, spread},
    targets,
    tools::Tools,
};

/// What each program costs per run, in a traced loop of its own (the accounting adds to
/// every run, so it stays out of the runs above), with the stack sampler on; judged: the
/// syscall entry and exit programs together, and the sampler per sample.
pub fn program_costs(
    t: &Tools,
    opts: &Opts,
    push: &mut impl FnMut(Row),
) -> anyhow::Result<Vec<progs::ProgCost>> {
    let secs = opts.seconds.max(2.0);
    // bpftrace sampling the same loop's threads at the same rate: with their kernel stacks
    // (the peer), their first frame only (the least a stack walk costs), and counting
    // samples only (a sample's cost before any stack walk).
    let sampled = |key: SampleKey| -> anyhow::Result<Option<f64>> {
        let _stats = progs::StatsOn::new()?;
        bpftrace::under(&bpftrace::sampler(key), || {
            t.bench_loop("tiny", "1", secs)?;
            progs::bpftrace_per_sample()
        })
    };
    // A sample's cost follows the stacks that happen to be sampled (it moved by half between
    // two sittings of a few thousand samples each), so netcopy's traced loop and bpftrace's
    // kernel-stack samplers alternate, and each program's cost is the median of the rounds.
    let mut rounds = Vec::new();
    let mut peer_samples = Vec::new();
    let mut one_frames = Vec::new();
    // The same trace with the sampler's twin that walks each stack and sends nothing.
    let walker = Tools {
        hide: Some("samplering"),
        ..t.clone()
    };
    let mut walks = Vec::new();
    // The same trace at netcopy's own hook floor: what its syscall programs cost per run
    // before they do any work (the hook's dispatch and the accounting itself).
    let hooks_only = t.hooks_only();
    let mut floors = Vec::new();
    // And at its timing floor: what finding the thread and reading the clock twice cost.
    let timer_only = t.timer_only();
    let mut timers = Vec::new();
    for _ in 0..opts.runs.max(1) {
        rounds.push(t.traced_loop("tiny", "1", secs, true)?.2);
        floors.push(hooks_only.traced_loop("tiny", "1", secs, true)?.2);
        timers.push(timer_only.traced_loop("tiny", "1", secs, true)?.2);
        let walked = walker.traced_loop("tiny", "1", secs, true)?.2;
        walks.extend(
            walked
                .iter()
                .find(|c| c.name == progs::WALK)
                .map(|c| c.ns_per_run),
        );
        peer_samples.extend(sampled(SampleKey::Stack)?);
        one_frames.extend(sampled(SampleKey::OneFrame)?);
    }
    // The sampler against bpftrace's, both sampling the same loop at the same time: the
    // stacks they walk come from the same stretch of it, so which stacks a round happens to
    // catch, which moved either program's cost by half between sittings, cancels from each
    // round's ratio.
    let mut at_once = Vec::new();
    for _ in 0..opts.close_runs() {
        let round = bpftrace::under(&bpftrace::sampler(SampleKey::Stack), || {
            Ok(t.traced_loop("tiny", "1", secs, true)?.2)
        })?;
        let of = |name: &str| round.iter().find(|c| c.name == name).map(|c| c.ns_per_run);
        if let (Some(ours), Some(theirs)) = (of(progs::SAMPLER), of(progs::PEER_SAMPLER)) {
            at_once.push((ours, theirs));
        }
    }
    let costs = median_costs(&rounds);
    let floors = median_costs(&floors);
    let timers = median_costs(&timers);
    let peer_sample = (!peer_samples.is_empty()).then(|| median(&peer_samples));
    let one_frame = (!one_frames.is_empty()).then(|| median(&one_frames));
    let walk = (!walks.is_empty()).then(|| median(&walks));
    for c in &costs {
        println!(
            "bench: program {:<24} {:>7.1} ns/run ({} runs)",
            c.name, c.ns_per_run, c.runs
        );
    }
    let ns = |names: &[&str]| {
        costs
            .iter()
            .find(|c| names.contains(&c.name.as_str()))
            .map(|c| c.ns_per_run)
    };
    let enter = ns(&["btf_sys_enter", "raw_sys_enter", "sys_enter_sendto"]);
    let exit = ns(&["btf_sys_exit", "raw_sys_exit", "sys_exit_sendto"]);
    let both = enter.zip(exit).map(|(a, b)| a + b);
    let pair = |costs: &[ProgCost], enter: &str, exit: &str| {
        let of = |name: &str| costs.iter().find(|c| c.name == name).map(|c| c.ns_per_run);
        of(enter).zip(of(exit)).map(|(a, b)| a + b)
    };
    let own_floor = pair(&floors, progs::FLOOR_ENTER, progs::FLOOR_EXIT);
    let timing_floor = pair(&timers, progs::TIMER_ENTER, progs::TIMER_EXIT);
    // The same loop untraced under bpftrace, with the accounting on: its empty programs on
    // the same hooks, its programs that only read the clock, and the peer one-liner.
    let under = |program: &str| -> anyhow::Result<Option<f64>> {
        let _stats = progs::StatsOn::new()?;
        bpftrace::under(program, || {
            t.bench_loop("tiny", "1", secs)?;
            progs::bpftrace_per_call()
        })
    };
    let floor = under(bpftrace::FLOOR)?;
    let clock = under(bpftrace::CLOCK_FLOOR)?;
    let peer = under(&bpftrace::peer("tiny"))?;
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    println!(
        "bench: bpftrace per call: empty {} ns, clock only {} ns, one-liner {} ns",
        fmt(floor),
        fmt(clock),
        fmt(peer)
    );
    push(Row::at_most(
        "kernel program time per traced call: sys_enter + sys_exit".into(),
        targets::SYSCALL_PROGRAMS_NS,
        " ns",
        format!(
            "bpf_stats, traced 1-byte send loop: enter {} + exit {} ns per run; floors on this host, on the same tp_btf hooks and loop: netcopy's own programs that return at once {} ns, that only time each traced call {} ns; bpftrace on the same hooks and loop: empty programs {} ns, programs that only read the clock {} ns",
            enter.map_or("-".into(), |v| format!("{v:.1}")),
            exit.map_or("-".into(), |v| format!("{v:.1}")),
            fmt(own_floor),
            fmt(timing_floor),
            fmt(floor),
            fmt(clock),
        ),
        both,
        "ns",
    ));
    push(beyond_hooks_row(both, own_floor));
    push(timing_floor_row(timing_floor, own_floor));
    let share = both.zip(peer).map(|(a, b)| a / b);
    push(Row::at_most(
        "kernel program time per traced call, over the bpftrace one-liner's".into(),
        targets::PEER_PROGRAMS_SHARE,
        "x",
        format!(
            "the same loop: netcopy {} ns; bpftrace's latency one-liner on send and read, entry + exit {} ns per call",
            fmt(both),
            fmt(peer)
        ),
        share,
        "x",
    ));
    let sample = ns(&[progs::SAMPLER]);
    let bare_sample = sampled(SampleKey::Thread)?;
    push(Row::at_most(
        "stack sampler: ns per sample".into(),
        targets::SAMPLE_NS,
        " ns",
        format!(
            "bpf_stats of sample_stack in the same loop, sampled at the default rate, median of {} rounds; its walk alone {} ns (below); bpftrace on the same threads and rate, alternated with it: {} ns per sample with `@[kstack] = count()`, {} with `@[kstack(1)] = count()` (one frame), {} ns with `@[tid] = count()` (no stack walk)",
            rounds.len(),
            fmt(walk),
            fmt(peer_sample),
            fmt(one_frame),
            fmt(bare_sample)
        ),
        sample,
        "ns",
    ));
    push(walk_row(&walks, sample));
    push(Row {
        measure: "bpftrace sampling one frame of the kernel stack, ns per sample (a stack id of one frame and a count)".into(),
        target: "-".into(),
        detail: format!(
            "`@[kstack(1)] = count()`, the same loop and rate, alternated with the rows above: each round {} ns",
            rounded(&one_frames)
        ),
        value: one_frame,
        unit: "ns",
        met: None,
    });
    push(peer_sampler_row(&at_once, walk));
    Ok(costs)
}

/// What the syscall programs' work costs per traced call: their time (`both`, entry +
/// exit) beyond what netcopy's own programs that return at once cost on the same hooks
/// (`floor`), which is the hook's dispatch and the accounting's own clock reads.
fn beyond_hooks_row(both: Option<f64>, floor: Option<f64>) -> Row {
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    Row {
        measure: "kernel program time per traced call beyond netcopy's own empty programs on the same hooks (the programs' work)".into(),
        target: "-".into(),
        detail: format!(
            "the row above's {} ns less {} ns of `NETCOPY_HIDE=callbodies`'s floor_sys_enter + floor_sys_exit, alternated with it in the same loop",
            fmt(both),
            fmt(floor)
        ),
        value: both.zip(floor).map(|(b, f)| b - f),
        unit: "ns",
        met: None,
    }
}

/// What netcopy's timing floor costs per traced call (`timer`: `timer_sys_enter` +
/// `timer_sys_exit`, which find the thread and read the clock at entry and exit and do
/// nothing else), beside its hook floor (`floor`): the least any program that times each
/// call on these hooks costs here.
fn timing_floor_row(timer: Option<f64>, floor: Option<f64>) -> Row {
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    Row {
        measure: "kernel program time per traced call of netcopy's timing floor: programs that only find the thread and read the clock at entry and exit (`NETCOPY_HIDE=callwork`)".into(),
        target: "-".into(),
        detail: format!(
            "timer_sys_enter + timer_sys_exit, alternated with the rows above in the same loop: {} ns, {} ns more than the programs that return at once ({} ns)",
            fmt(timer),
            fmt(timer.zip(floor).map(|(t, f)| t - f)),
            fmt(floor)
        ),
        value: timer,
        unit: "ns",
        met: None,
    }
}

/// The floor of the sampler's cost: `sample_walk`, the same samples and whole-stack walks
/// with nothing sent, per round, against the sampler's median `sample`.
fn walk_row(walks: &[f64], sample: Option<f64>) -> Row {
    let walk = (!walks.is_empty()).then(|| median(walks));
    let beyond = sample
        .zip(walk)
        .map_or("-".into(), |(s, w)| format!("{:.0}", s - w));
    Row {
        measure: "the walk alone: netcopy's sampler reading each whole kernel stack and sending nothing (`NETCOPY_HIDE=samplering`), ns per sample (the least a sampler of whole stacks costs here)".into(),
        target: "-".into(),
        detail: format!(
            "bpf_stats of sample_walk, the same loop and rate, alternated with the rows above: each round {} ns; the sampler costs {beyond} ns beyond it",
            rounded(walks)
        ),
        value: walk,
        unit: "ns",
        met: None,
    }
}

/// netcopy's sampler over bpftrace's kernel-stack sampler, each round's ratio of their ns per
/// sample with both sampling the same loop at once; the median of the rounds. The next-best
/// target of the sampler's: judged only where the `walk` alone costs more than
/// [`targets::SAMPLE_NS`], so that no sampler of whole stacks can meet that.
fn peer_sampler_row(at_once: &[(f64, f64)], walk: Option<f64>) -> Row {
    let each: Vec<f64> = at_once.iter().map(|(ours, theirs)| ours / theirs).collect();
    let (ours, theirs): (Vec<f64>, Vec<f64>) = at_once.iter().copied().unzip();
    let mut row = Row::at_most(
        "stack sampler: ns per sample, over bpftrace's kernel-stack sampler's, both sampling the same loop at once".into(),
        targets::PEER_SAMPLE_SHARE,
        "x",
        format!(
            "the same threads and rate, {} rounds: each round netcopy/bpftrace {}; netcopy {} / bpftrace `@[kstack] = count()` {} ns per sample",
            each.len(),
            if each.is_empty() { "-".into() } else { spread(&each) },
            rounded(&ours),
            rounded(&theirs),
        ),
        (!each.is_empty()).then(|| median(&each)),
        "x",
    );
    let reachable = match walk {
        Some(w) if w > targets::SAMPLE_NS => None,
        Some(_) => Some(format!("walk alone <= {} ns", targets::SAMPLE_NS)),
        None => Some("walk alone not measured".into()),
    };
    if let Some(why) = reachable {
        row.met = None;
        row.target = format!("- ({why})");
        row.detail.push_str(
            "; judged only where the walk alone is above the ns-per-sample target, which is then out of reach",
        );
    }
    row
}

/// Each round's ns, rounded, as a list.
fn rounded(rounds: &[f64]) -> String {
    let each: Vec<String> = rounds.iter().map(|v| format!("{v:.0}")).collect();
    each.join(", ")
}

/// Each program's median ns per run over `rounds` (a program missing from a round is left
/// out of that round), with its runs added up.
fn median_costs(rounds: &[Vec<ProgCost>]) -> Vec<ProgCost> {
    let mut names: Vec<&str> = Vec::new();
    for c in rounds.iter().flatten() {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let of = || rounds.iter().flatten().filter(move |c| c.name == name);
            ProgCost {
                name: name.to_owned(),
                ns_per_run: median(&of().map(|c| c.ns_per_run).collect::<Vec<_>>()),
                runs: of().map(|c| c.runs).sum(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(name: &str, ns: f64, runs: u64) -> ProgCost {
        ProgCost {
            name: name.into(),
            ns_per_run: ns,
            runs,
        }
    }

    #[test]
    fn the_peer_sampler_row_takes_the_median_of_each_rounds_ratio() {
        // Round 2 caught deep stacks for both; each round's own ratio is what counts.
        let rounds = [(2000.0, 2500.0), (4000.0, 3900.0), (1800.0, 2000.0)];
        let row = peer_sampler_row(&rounds, Some(1500.0));
        assert!((row.value.unwrap() - 0.9).abs() < 1e-9, "{:?}", row.value);
        assert_eq!(row.met, Some(true));
        assert!(row.detail.contains("3 rounds"), "{}", row.detail);
        assert!(
            row.detail.contains("netcopy 2000, 4000, 1800"),
            "{}",
            row.detail
        );
        let dearer = peer_sampler_row(&[(2600.0, 2500.0)], Some(1500.0));
        assert_eq!(dearer.met, Some(false));
        // No round where both ran: no number and no verdict.
        let none = peer_sampler_row(&[], Some(1500.0));
        assert_eq!((none.value, none.met), (None, None));
    }

    #[test]
    fn the_peer_row_is_judged_only_where_the_walk_alone_is_above_the_target() {
        let rounds = [(900.0, 1000.0)];
        // A walk that fits the target leaves the target itself to be met: no verdict here.
        let reachable = peer_sampler_row(&rounds, Some(800.0));
        assert_eq!(reachable.met, None);
        assert_eq!(reachable.target, "- (walk alone <= 1000 ns)");
        assert!((reachable.value.unwrap() - 0.9).abs() < 1e-9);
        let unknown = peer_sampler_row(&rounds, None);
        assert_eq!(unknown.met, None);
        assert!(
            unknown.target.contains("not measured"),
            "{}",
            unknown.target
        );
        let out_of_reach = peer_sampler_row(&rounds, Some(1001.0));
        assert_eq!(out_of_reach.met, Some(true));
        assert_eq!(out_of_reach.target, "<= 1x");
    }

    #[test]
    fn the_walk_row_says_what_the_sampler_adds_to_it() {
        let row = walk_row(&[1100.0, 1300.0, 1200.0], Some(1450.0));
        assert_eq!(row.value, Some(1200.0));
        assert_eq!(row.met, None);
        assert!(
            row.detail.contains("each round 1100, 1300, 1200 ns"),
            "{}",
            row.detail
        );
        assert!(
            row.detail.contains("costs 250 ns beyond it"),
            "{}",
            row.detail
        );
        let unmeasured = walk_row(&[], Some(1450.0));
        assert_eq!(unmeasured.value, None);
        assert!(
            unmeasured.detail.contains("costs - ns"),
            "{}",
            unmeasured.detail
        );
    }

    #[test]
    fn the_work_beyond_the_hooks_is_the_programs_time_less_the_empty_ones() {
        let row = beyond_hooks_row(Some(340.0), Some(131.0));
        assert_eq!(row.value, Some(209.0));
        assert_eq!(row.met, None);
        assert!(row.detail.contains("340 ns less 131 ns"), "{}", row.detail);
        assert_eq!(beyond_hooks_row(Some(340.0), None).value, None);
        assert_eq!(beyond_hooks_row(None, Some(131.0)).value, None);
    }

    #[test]
    fn the_timing_floor_row_says_what_timing_adds_to_the_empty_programs() {
        let row = timing_floor_row(Some(240.0), Some(131.0));
        assert_eq!(row.value, Some(240.0));
        assert_eq!(row.met, None);
        assert!(
            row.detail
                .contains("240 ns, 109 ns more than the programs that return at once (131 ns)"),
            "{}",
            row.detail
        );
        let missing = timing_floor_row(None, Some(131.0));
        assert_eq!(missing.value, None);
        assert!(
            missing.detail.contains("- ns, - ns more"),
            "{}",
            missing.detail
        );
    }

    #[test]
    fn each_program_gets_the_median_of_the_rounds_it_ran_in() {
        let rounds = vec![
            vec![cost("a", 100.0, 10), cost("s", 4000.0, 3)],
            vec![cost("a", 300.0, 10)],
            vec![cost("a", 200.0, 10), cost("s", 2000.0, 5)],
        ];
        let m = median_costs(&rounds);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].name.as_str(), m[0].ns_per_run, m[0].runs),
            ("a", 200.0, 30)
        );
        // Two rounds: the median is their mean.
        assert_eq!(
            (m[1].name.as_str(), m[1].ns_per_run, m[1].runs),
            ("s", 3000.0, 8)
        );
    }
}
