//! What netcopy's eBPF programs cost per run (bpf_stats, `progs`), judged beside bpftrace's
//! programs in the same 1-byte send loop: the syscall entry and exit programs against
//! bpftrace's empty, clock-only and one-liner programs, and the stack sampler against
//! bpftrace's kernel-stack sampler on the same threads and rate.

use super::{Opts, bpftrace, progs, table::Row, targets, tools::Tools};

/// What each program costs per run, in a traced loop of its own (the accounting adds to
/// every run, so it stays out of the runs above), with the stack sampler on; judged: the
/// syscall entry and exit programs together, and the sampler per sample.
pub fn program_costs(
    t: &Tools,
    opts: &Opts,
    push: &mut impl FnMut(Row),
) -> anyhow::Result<Vec<progs::ProgCost>> {
    let (_, _, costs) = t.traced_loop("tiny", "1", opts.seconds.max(2.0), true)?;
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
    // The same loop untraced under bpftrace, with the accounting on: its empty programs on
    // the same hooks, its programs that only read the clock, and the peer one-liner.
    let secs = opts.seconds.max(2.0);
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
            "bpf_stats, traced 1-byte send loop: enter {} + exit {} ns per run; floor on this host, bpftrace on the same hooks and loop: empty programs {} ns, programs that only read the clock {} ns",
            enter.map_or("-".into(), |v| format!("{v:.1}")),
            exit.map_or("-".into(), |v| format!("{v:.1}")),
            fmt(floor),
            fmt(clock),
        ),
        both,
        "ns",
    ));
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
    let sample = ns(&["sample_stack"]);
    // bpftrace sampling the same loop's threads at the same rate: with their kernel stacks
    // (the peer), and counting samples only (a sample's cost before any stack walk).
    let sampled = |stack: bool| -> anyhow::Result<Option<f64>> {
        let _stats = progs::StatsOn::new()?;
        bpftrace::under(&bpftrace::sampler(stack), || {
            t.bench_loop("tiny", "1", secs)?;
            progs::bpftrace_per_sample()
        })
    };
    let (peer_sample, bare_sample) = (sampled(true)?, sampled(false)?);
    push(Row::at_most(
        "stack sampler: ns per sample".into(),
        targets::SAMPLE_NS,
        " ns",
        format!(
            "bpf_stats of sample_stack in the same loop, sampled at the default rate; bpftrace on the same threads and rate: {} ns per sample with `@[kstack] = count()`, {} ns with `@[tid] = count()` (no stack walk)",
            fmt(peer_sample),
            fmt(bare_sample)
        ),
        sample,
        "ns",
    ));
    push(Row::at_most(
        "stack sampler: ns per sample, over bpftrace's kernel-stack sampler's".into(),
        targets::PEER_SAMPLE_SHARE,
        "x",
        format!(
            "the same loop and rate: netcopy {} ns, bpftrace `@[kstack] = count()` {} ns per sample",
            fmt(sample),
            fmt(peer_sample)
        ),
        sample.zip(peer_sample).map(|(a, b)| a / b),
        "x",
    ));
    Ok(costs)
}
