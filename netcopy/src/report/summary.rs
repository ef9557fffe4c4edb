//! The terminal table of one `netcopy run`/`trace` (its JSON is the [`RunSummary`] itself),
//! and the pieces other summaries share: the kernel's rows, the stage shares, the fallbacks.
//! docs/methodology.md defines every number.

use std::fmt::Write as _;

pub use super::calls::{ns, render_offcpu, render_syscalls, who};

use crate::{
    model::{
        Mode, NetPath, RequestCheck, Role, RunSummary, RxZerocopyStats, StageRow, ZerocopyStats,
    },
    units::format_size,
};

/// The terminal table of a run.
pub fn render(s: &RunSummary) -> String {
    let mut o = String::new();
    header(&mut o, s);
    workload(&mut o, s);
    if let Some(rows) = &s.syscalls {
        render_syscalls(&mut o, rows);
        render_offcpu(&mut o, rows);
    }
    if let Some(rows) = &s.stages {
        render_stages(&mut o, rows);
    }
    if let Some(p) = &s.probe {
        render_fallbacks(&mut o, &p.fallbacks);
        render_stackless(&mut o, p.stackless_samples);
        render_requests(&mut o, &p.requests);
        if !p.requests.is_empty() {
            let _ = writeln!(
                o,
                "  io_uring    {} request rows from the io_uring events, {} still waiting for a notification at the end, {} events lost",
                p.request_rows, p.unnotified, p.request_events_lost
            );
        }
        let (kernel, records) = p.totals();
        let tail = p
            .tail_rows
            .map_or(String::new(), |n| format!(" ({n} rows of the tail)"));
        let _ = writeln!(
            o,
            "  probe       {}: {kernel} calls in kernel totals, {records} records{tail}, {} lost: {}",
            p.method,
            p.lost,
            if p.agrees() {
                "every thread's count agrees with the workload's"
            } else {
                "DISAGREES with the workload's counts"
            }
        );
    }
    o
}

/// The io_uring requests the kernel saw per thread, beside the workload's counts.
fn render_requests(o: &mut String, rows: &[RequestCheck]) {
    let mut tids: Vec<u32> = rows.iter().map(|r| r.tid).collect();
    tids.dedup();
    for tid in tids {
        let mine: Vec<&RequestCheck> = rows.iter().filter(|r| r.tid == tid).collect();
        let Some(first) = mine.first() else {
            continue;
        };
        let counts: Vec<String> = mine
            .iter()
            .map(|r| {
                if r.kernel == r.workload {
                    format!("{} {}", r.kernel, r.what)
                } else {
                    format!("{} {} (workload: {})", r.kernel, r.what, r.workload)
                }
            })
            .collect();
        let _ = writeln!(
            o,
            "  io_uring    {} thread {tid}: {} seen by the io_uring tracepoints",
            first.role.name(),
            counts.join(", ")
        );
    }
}

/// The first line: what ran, over which path.
fn header(o: &mut String, s: &RunSummary) {
    let conns = if s.threads == 1 {
        "connection"
    } else {
        "connections"
    };
    let path = match s.path {
        NetPath::Loopback => "loopback",
        NetPath::Netns => "veth between two netns",
        NetPath::Network => "network (server started separately; its side is in its own output)",
    };
    let _ = writeln!(
        o,
        "netcopy {}: {} B messages ({}), {} {conns}, {path}{}{}",
        s.mode,
        s.size,
        format_size(s.size),
        s.threads,
        s.cpu_affinity.map_or(String::new(), |a| format!(", {a}")),
        if s.interrupted {
            "  [INTERRUPTED: partial run]"
        } else {
            ""
        }
    );
}

/// The workload's own numbers: window, bytes, latency, calls, zerocopy completions.
fn workload(o: &mut String, s: &RunSummary) {
    let received = s.recv_latency_ns.as_ref().is_some_and(|l| l.count > 0);
    if !received && s.window.seconds == 0.0 {
        // The sending end of a two-host run: the receiver measures the window.
        let _ = writeln!(
            o,
            "  window      measured by the receiving end (`netcopy client`), not here"
        );
    } else {
        let _ = writeln!(
            o,
            "  window      {:.2} s after {:.2} s warmup: {:.3} Gbit/s, {} messages, {} bytes",
            s.window.seconds, s.warmup_s, s.throughput_gbps, s.window.messages, s.window.bytes
        );
        let _ = writeln!(
            o,
            "  moved       {} bytes in {} messages over the whole run, {}",
            s.bytes,
            s.messages,
            if s.verified {
                "every message verified"
            } else {
                "content not verified (--no-verify)"
            }
        );
    }
    if s.calls_timed_one_in.is_some() {
        let _ = writeln!(
            o,
            "  latency     {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
            "p50", "p90", "p99", "p99.9", "max", "timed calls"
        );
    } else {
        let _ = writeln!(o, "  latency     calls not timed (--no-latency)");
    }
    for (name, l) in [
        ("send call", &s.send_latency_ns),
        ("recv call", &s.recv_latency_ns),
    ] {
        let Some(l) = l else {
            if s.calls_timed_one_in.is_some() {
                let _ = writeln!(o, "  {name:<11} timed by the other end's process, not here");
            }
            continue;
        };
        let _ = writeln!(
            o,
            "  {name:<11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
            ns(l.p50),
            ns(l.p90),
            ns(l.p99),
            ns(l.p999),
            ns(l.max),
            l.count
        );
    }
    if let Some(n) = s.calls_timed_one_in.filter(|&n| n > 1) {
        let _ = writeln!(
            o,
            "              one call in {n} timed, at random (--latency-sample 1 times every call)"
        );
    }
    let c = &s.send_calls;
    let ring = if c.uring_enter > 0 {
        format!(
            ", {} io_uring_enter ({} send requests)",
            c.uring_enter, c.uring_sends
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "  syscalls    sender: {} send, {} sendmsg, {} errqueue recvmsg, {} poll{ring}; receiver: {} recv, {} recvmsg",
        c.sendto, c.sendmsg, c.errqueue, c.poll, s.recv_calls.recvfrom, s.recv_calls.recvmsg
    );
    if let Some(z) = &s.zerocopy {
        let pct = if z.completed > 0 {
            100.0 * z.copied as f64 / z.completed as f64
        } else {
            0.0
        };
        let _ = match z.fixed_buffers {
            None => writeln!(
                o,
                "  zerocopy    {} sends, {} completed, {} copied by the kernel ({pct:.1}%), {} ENOBUFS retries, {} pool waits (pool of {})",
                z.sends, z.completed, z.copied, z.enobufs, z.pool_waits, z.pool
            ),
            Some(fixed) => writeln!(
                o,
                "  zerocopy    {} SEND_ZC requests, {} notifications, {} copied by the kernel ({pct:.1}%), {} pool waits (pool of {}, {})",
                z.sends,
                z.completed,
                z.copied,
                z.pool_waits,
                z.pool,
                if fixed {
                    "registered buffers"
                } else {
                    "buffers not registered: the ring refused them"
                }
            ),
        };
        let _ = writeln!(o, "  {}", zerocopy_verdict(z, s.path));
    } else if s.mode == Mode::Uring {
        let _ = writeln!(o, "  {}", uring_verdict(s.send_calls.uring_sends));
    }
    if let Some(z) = &s.rx_zerocopy {
        let _ = writeln!(o, "  {}", rx_zerocopy_line(z, s.mode, s.path));
    }
}

/// What `--rx zerocopy` mapped and copied, and why nothing was mapped where nothing was.
pub fn rx_zerocopy_line(z: &RxZerocopyStats, mode: Mode, path: NetPath) -> String {
    let total = z.mapped_bytes + z.copied_bytes;
    let pct = if total > 0 {
        100.0 * z.mapped_bytes as f64 / total as f64
    } else {
        0.0
    };
    let why = if z.mapped_bytes == 0 && path != NetPath::Network && !mode.is_zerocopy() {
        " (loopback/veth with a copying sender: nothing arrives in whole pages at offset 0, \
         which mapping needs; docs/methodology.md)"
    } else {
        ""
    };
    format!(
        "rx zerocopy {} B mapped ({pct:.1}%), {} B copied, in {} TCP_ZEROCOPY_RECEIVE calls ({} of them mapped){why}",
        z.mapped_bytes, z.copied_bytes, z.calls, z.mapping_calls
    )
}

/// One line per fallback: what was refused, why, and what was used instead.
pub fn render_fallbacks(o: &mut String, fallbacks: &[String]) {
    for f in fallbacks {
        let _ = writeln!(o, "  fallback    {f}");
    }
}

/// Stack samples the stages left out, when there were any (as perf reports lost events).
pub fn render_stackless(o: &mut String, stackless: Option<u64>) {
    if let Some(n) = stackless.filter(|&n| n > 0) {
        let _ = writeln!(
            o,
            "  samples     {n} stack samples left out of the stages: the sample ring was full, or the kernel gave no stack"
        );
    }
}

/// The stage breakdown, one line per role: each stage's sampled share and time, a
/// bracket's own stage also with the bracket's exact share of the on-CPU time (which the
/// stages sampled inside it share); then one line per role with the skew of sampling on
/// the stretches timed exactly.
pub fn render_stages(o: &mut String, rows: &[StageRow]) {
    for role in Role::ALL {
        let mine: Vec<&StageRow> = rows.iter().filter(|r| r.role == role).collect();
        if mine.is_empty() {
            continue;
        }
        let total: u64 = mine.iter().map(|r| r.samples).sum();
        let cells: Vec<String> = mine
            .iter()
            .map(|r| match r.exact_share {
                Some(exact) => format!(
                    "{} {:.1}% ({}; {} {:.1}% of on-CPU)",
                    r.stage,
                    100.0 * r.share,
                    ns(Some(r.est_ns)),
                    if r.method == "tracepoint" {
                        "bracket"
                    } else {
                        r.method
                    },
                    100.0 * exact
                ),
                None => format!(
                    "{} {:.1}% ({})",
                    r.stage,
                    100.0 * r.share,
                    ns(Some(r.est_ns))
                ),
            })
            .collect();
        let _ = writeln!(
            o,
            "  stages      {} ({total} samples): {}",
            role.name(),
            cells.join(", ")
        );
    }
    for role in Role::ALL {
        if let Some(line) = StageRow::skew_line(rows, role) {
            let _ = writeln!(o, "  skew        {} {line}", role.name());
        }
    }
}

/// What the kernel did with the zerocopy bytes, in one line.
pub fn zerocopy_verdict(z: &ZerocopyStats, path: NetPath) -> String {
    if z.sends == 0 {
        return "zerocopy: no zerocopy send (MSG_ZEROCOPY or SEND_ZC) completed".into();
    }
    let pct = |n: u64| 100.0 * n as f64 / z.sends as f64;
    let avoided = z.completed.saturating_sub(z.copied);
    let why = match path {
        NetPath::Loopback | NetPath::Netns => {
            " (loopback/veth: the kernel copies packets looped to a local socket)"
        }
        NetPath::Network => "",
    };
    // SEND_ZC (uringzc) has registered-buffer counts; MSG_ZEROCOPY does not.
    let (label, what) = match z.fixed_buffers {
        Some(_) => ("uringzc", "SEND_ZC requests"),
        None => ("zerocopy", "sends"),
    };
    let mut parts = vec![format!(
        "{:.0}% of {} {what} completed with a deferred copy{why}",
        pct(z.copied),
        z.sends
    )];
    if avoided > 0 {
        parts.push(format!("{:.0}% avoided the copy", pct(avoided)));
    }
    if z.completed < z.sends {
        parts.push(format!("{} never completed", z.sends - z.completed));
    }
    format!("{label}: {}", parts.join(", "))
}

/// The copying uring mode's line: every byte is copied inside the call, as send(2) does.
pub fn uring_verdict(requests: u64) -> String {
    format!(
        "uring: 100% of {requests} IORING_OP_SEND requests copied in the call (the kernel copies \
         from user memory into skbs, as send(2) does; the ring saves syscalls, not the copy)"
    )
}

#[cfg(test)]
mod tests {
    use super::ns;

    #[test]
    fn stackless_samples_are_said_only_when_there_are_some() {
        let said = |n| {
            let mut o = String::new();
            super::render_stackless(&mut o, n);
            o
        };
        assert!(said(Some(3)).contains("  samples     3 stack samples left out"));
        assert_eq!((said(Some(0)), said(None)), (String::new(), String::new()));
    }

    #[test]
    fn zerocopy_verdicts() {
        use super::{NetPath, ZerocopyStats, zerocopy_verdict};
        let z = ZerocopyStats {
            sends: 12345,
            completed: 12345,
            copied: 12345,
            ..Default::default()
        };
        assert_eq!(
            zerocopy_verdict(&z, NetPath::Loopback),
            "zerocopy: 100% of 12345 sends completed with a deferred copy (loopback/veth: the kernel copies packets looped to a local socket)"
        );
        let z = ZerocopyStats {
            sends: 100,
            completed: 90,
            copied: 30,
            ..Default::default()
        };
        assert_eq!(
            zerocopy_verdict(&z, NetPath::Network),
            "zerocopy: 30% of 100 sends completed with a deferred copy, 60% avoided the copy, 10 never completed"
        );
        let z = ZerocopyStats {
            sends: 7,
            completed: 7,
            copied: 7,
            fixed_buffers: Some(true),
            ..Default::default()
        };
        assert!(zerocopy_verdict(&z, NetPath::Netns).starts_with(
            "uringzc: 100% of 7 SEND_ZC requests completed with a deferred copy (loopback/veth"
        ));
    }

    #[test]
    fn exact_stages_show_their_method_and_each_role_its_skew() {
        use super::{Role, StageRow, render_stages};
        let row = |stage, samples, share, est_ns, exact: Option<f64>| StageRow {
            role: Role::Server,
            stage,
            samples,
            est_ns,
            share,
            method: if exact.is_some() {
                "tracepoint"
            } else {
                "sampled"
            },
            exact_share: exact,
            skew_pts: exact.map(|e| 100.0 * (share - e)),
        };
        let rows = [
            row("copy_user_to_skb", 60, 0.6, 6_000_000, None),
            row("rx_softirq", 40, 0.4, 3_000_000, Some(0.333)),
        ];
        let mut o = String::new();
        render_stages(&mut o, &rows);
        assert_eq!(
            o,
            "  stages      server (100 samples): copy_user_to_skb 60.0% (6000.0 µs), rx_softirq 40.0% (3000.0 µs; bracket 33.3% of on-CPU)\n  \
             skew        server sampled - exact share: rx_softirq +6.7 pts\n"
        );
    }

    #[test]
    fn latency_units() {
        assert_eq!(ns(None), "-");
        assert_eq!(ns(Some(850)), "850 ns");
        assert_eq!(ns(Some(12_345)), "12.3 µs");
        assert_eq!(ns(Some(25_000_000)), "25.0 ms");
    }
}
