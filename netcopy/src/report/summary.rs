//! The summary of one `netcopy run`/`trace`: built from both ends' reports, printed as text
//! or serialized as JSON. docs/methodology.md defines every number.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    trace::{ProbeCheck, Role, StageRow, SyscallSummary},
    units::format_size,
    workload::{
        Mode,
        affinity::Affinity,
        conn::CallCounts,
        run::{NetPath, RunOutcome},
        sender::EndTotals,
        stats::{Latency, LatencySummary, WindowTotals},
        zerocopy::ZerocopyStats,
    },
};

/// One connection, both ends.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionSummary {
    pub index: u32,
    pub sender: EndTotals,
    pub receiver: EndTotals,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub mode: Mode,
    pub size: u64,
    pub threads: u32,
    pub path: NetPath,
    /// `--cpu-affinity`: the CPUs the connection threads were pinned to (null: unpinned).
    pub cpu_affinity: Option<Affinity>,
    pub warmup_s: f64,
    /// The requested window length; `window.seconds` is the measured one.
    pub duration_s: f64,
    /// Bytes received over the whole run (warmup and tail included), exact.
    pub bytes: u64,
    /// Messages received over the whole run, exact.
    pub messages: u64,
    pub window: WindowTotals,
    /// Window bytes × 8 / window seconds / 10⁹, summed over connections.
    pub throughput_gbps: f64,
    /// Every received message was checked byte for byte.
    pub verified: bool,
    pub interrupted: bool,
    pub send_latency_ns: LatencySummary,
    pub recv_latency_ns: LatencySummary,
    pub send_calls: CallCounts,
    pub recv_calls: CallCounts,
    /// Zerocopy completions, summed over connections; null in the other modes.
    pub zerocopy: Option<ZerocopyStats>,
    pub connections: Vec<ConnectionSummary>,
    /// `netcopy trace`: per role and syscall kind, what the kernel saw.
    pub syscalls: Option<Vec<SyscallSummary>>,
    /// `netcopy trace`: sampled kernel time inside traced calls, by role and copy stage.
    pub stages: Option<Vec<StageRow>>,
    /// `netcopy trace`: the kernel's counts checked against the workload's.
    pub probe: Option<ProbeCheck>,
}

impl RunSummary {
    pub fn new(run: &RunOutcome) -> Self {
        let cfg = &run.config;
        let mut send_latency = Latency::new();
        let mut recv_latency = Latency::new();
        let mut send_calls = CallCounts::default();
        let mut recv_calls = CallCounts::default();
        let mut zerocopy: Option<ZerocopyStats> = None;
        for s in &run.served {
            send_latency.add(&s.report.latency);
            send_calls.add(&s.report.calls);
            if let Some(z) = &s.report.zerocopy {
                let t = zerocopy.get_or_insert_with(Default::default);
                t.sends += z.sends;
                t.completed += z.completed;
                t.copied += z.copied;
                t.enobufs += z.enobufs;
                t.pool_waits += z.pool_waits;
                t.pool = z.pool;
            }
        }
        for r in &run.client.receivers {
            recv_latency.add(&r.latency);
            recv_calls.add(&r.calls);
        }
        // Pair the ends by the index the client put in each hello.
        let connections = run
            .client
            .receivers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let s = run.served.iter().find(|s| s.hello.index as usize == i)?;
                Some(ConnectionSummary {
                    index: i as u32,
                    sender: s.report.totals(),
                    receiver: r.totals(),
                })
            })
            .collect();
        Self {
            mode: cfg.mode,
            size: cfg.size,
            threads: cfg.threads,
            path: run.path,
            cpu_affinity: cfg.affinity.is_set().then_some(cfg.affinity),
            warmup_s: cfg.warmup.as_secs_f64(),
            duration_s: cfg.duration.as_secs_f64(),
            bytes: run.client.receivers.iter().map(|r| r.bytes).sum(),
            messages: run.client.receivers.iter().map(|r| r.messages).sum(),
            throughput_gbps: run.client.window.throughput_gbps,
            window: run.client.window.clone(),
            verified: run.client.receivers.iter().all(|r| r.verified),
            interrupted: run.client.interrupted,
            send_latency_ns: send_latency.summary(),
            recv_latency_ns: recv_latency.summary(),
            send_calls,
            recv_calls,
            zerocopy,
            connections,
            syscalls: None,
            stages: None,
            probe: None,
        }
    }

    /// The terminal table.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let conns = if self.threads == 1 {
            "connection"
        } else {
            "connections"
        };
        let path = match self.path {
            NetPath::Loopback => "loopback",
            NetPath::Netns => "veth between two netns",
            NetPath::Network => {
                "network (server started separately; its side is in its own output)"
            }
        };
        let _ = writeln!(
            o,
            "netcopy {}: {} B messages ({}), {} {conns}, {path}{}{}",
            self.mode,
            self.size,
            format_size(self.size),
            self.threads,
            self.cpu_affinity
                .map_or(String::new(), |a| format!(", {a}")),
            if self.interrupted {
                "  [INTERRUPTED: partial run]"
            } else {
                ""
            }
        );
        if self.recv_latency_ns.count == 0 && self.window.seconds == 0.0 {
            // The sending end of a two-host run: the receiver measures the window.
            let _ = writeln!(
                o,
                "  window      measured by the receiving end (`netcopy client`), not here"
            );
        } else {
            let _ = writeln!(
                o,
                "  window      {:.2} s after {:.2} s warmup: {:.3} Gbit/s, {} messages, {} bytes",
                self.window.seconds,
                self.warmup_s,
                self.throughput_gbps,
                self.window.messages,
                self.window.bytes
            );
            let _ = writeln!(
                o,
                "  moved       {} bytes in {} messages over the whole run, {}",
                self.bytes,
                self.messages,
                if self.verified {
                    "every message verified"
                } else {
                    "content not verified (--no-verify)"
                }
            );
        }
        let _ = writeln!(
            o,
            "  latency     {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
            "p50", "p90", "p99", "p99.9", "max", "calls"
        );
        for (name, l) in [
            ("send call", &self.send_latency_ns),
            ("recv call", &self.recv_latency_ns),
        ] {
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
        let c = &self.send_calls;
        let _ = writeln!(
            o,
            "  syscalls    sender: {} send, {} sendmsg, {} errqueue recvmsg, {} poll; receiver: {} recv, {} recvmsg",
            c.sendto,
            c.sendmsg,
            c.errqueue,
            c.poll,
            self.recv_calls.recvfrom,
            self.recv_calls.recvmsg
        );
        if let Some(z) = &self.zerocopy {
            let pct = if z.completed > 0 {
                100.0 * z.copied as f64 / z.completed as f64
            } else {
                0.0
            };
            let _ = writeln!(
                o,
                "  zerocopy    {} sends, {} completed, {} copied by the kernel ({pct:.1}%), {} ENOBUFS retries, {} pool waits (pool of {})",
                z.sends, z.completed, z.copied, z.enobufs, z.pool_waits, z.pool
            );
            let _ = writeln!(o, "  {}", zerocopy_verdict(z, self.path));
        }
        if let Some(rows) = &self.syscalls {
            render_syscalls(&mut o, rows);
        }
        if let Some(rows) = &self.stages {
            render_stages(&mut o, rows);
        }
        if let Some(p) = &self.probe {
            render_fallbacks(&mut o, &p.fallbacks);
            let (kernel, records): (u64, u64) = p
                .threads
                .iter()
                .fold((0, 0), |(k, r), t| (k + t.kernel, r + t.records));
            let _ = writeln!(
                o,
                "  probe       {}: {kernel} calls in kernel totals, {records} records, {} lost: {}",
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
}

/// The kernel's view per role and syscall kind, one line each.
pub fn render_syscalls(o: &mut String, rows: &[SyscallSummary]) {
    let _ = writeln!(
        o,
        "  kernel      {:<7} {:<9} {:>9} {:>12} {:>10} {:>10} {:>12} {:>10}",
        "role", "syscall", "calls", "bytes", "p50", "p99", "on-CPU/KiB", "cs/1000"
    );
    for r in rows {
        let _ = writeln!(
            o,
            "              {:<7} {:<9} {:>9} {:>12} {:>10} {:>10} {:>12} {:>10.1}",
            r.role.name(),
            r.syscall,
            r.calls,
            r.bytes,
            ns(r.p50_ns),
            ns(r.p99_ns),
            r.oncpu_ns_per_kib
                .map_or("-".into(), |v| format!("{v:.0} ns")),
            r.cs_per_1000_calls
        );
    }
    for r in rows {
        let Some(exact) = &r.exact_ns else { continue };
        let cells: Vec<String> = exact
            .iter()
            .filter(|(_, t)| **t > 0)
            .map(|(f, t)| format!("{f} {}", ns(Some(*t))))
            .collect();
        let _ = writeln!(
            o,
            "  exact       {:<7} {:<9} {}",
            r.role.name(),
            r.syscall,
            if cells.is_empty() {
                "none of the timed functions ran".to_owned()
            } else {
                cells.join(", ")
            }
        );
    }
    let counted: Vec<&SyscallSummary> = rows.iter().filter(|r| r.cycles.is_some()).collect();
    if counted.is_empty() {
        let _ = writeln!(
            o,
            "              cycles, instructions: null (no counters here; `netcopy doctor` says why)"
        );
    }
    for r in counted {
        let ipc = match (r.cycles, r.instructions) {
            (Some(c), Some(i)) if c > 0 => format!("{:.2}", i as f64 / c as f64),
            _ => "-".into(),
        };
        let _ = writeln!(
            o,
            "  counters    {:<7} {:<9} {:>14} cycles {:>14} instructions  {:>8} cycles/B  IPC {ipc}",
            r.role.name(),
            r.syscall,
            r.cycles.unwrap_or_default(),
            r.instructions.unwrap_or_default(),
            r.cycles_per_byte.map_or("-".into(), |v| format!("{v:.2}")),
        );
    }
}

/// The stage breakdown, one line per role.
/// One line per fallback: what was refused, why, and what was used instead.
pub fn render_fallbacks(o: &mut String, fallbacks: &[String]) {
    for f in fallbacks {
        let _ = writeln!(o, "  fallback    {f}");
    }
}

pub fn render_stages(o: &mut String, rows: &[StageRow]) {
    for role in [Role::Server, Role::Client, Role::Other] {
        let mine: Vec<&StageRow> = rows.iter().filter(|r| r.role == role).collect();
        if mine.is_empty() {
            continue;
        }
        let total: u64 = mine.iter().map(|r| r.samples).sum();
        let cells: Vec<String> = mine
            .iter()
            .map(|r| {
                format!(
                    "{} {:.1}% ({})",
                    r.stage,
                    100.0 * r.share,
                    ns(Some(r.est_ns))
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "  stages      {} ({total} samples): {}",
            role.name(),
            cells.join(", ")
        );
    }
}

/// What the kernel did with the zerocopy bytes, in one line.
pub fn zerocopy_verdict(z: &ZerocopyStats, path: NetPath) -> String {
    if z.sends == 0 {
        return "zerocopy: no MSG_ZEROCOPY send completed".into();
    }
    let pct = |n: u64| 100.0 * n as f64 / z.sends as f64;
    let avoided = z.completed.saturating_sub(z.copied);
    let why = match path {
        NetPath::Loopback | NetPath::Netns => {
            " (loopback/veth: the kernel copies packets looped to a local socket)"
        }
        NetPath::Network => "",
    };
    let mut parts = vec![format!(
        "{:.0}% of {} sends completed with a deferred copy{why}",
        pct(z.copied),
        z.sends
    )];
    if avoided > 0 {
        parts.push(format!("{:.0}% avoided the copy", pct(avoided)));
    }
    if z.completed < z.sends {
        parts.push(format!("{} never completed", z.sends - z.completed));
    }
    format!("zerocopy: {}", parts.join(", "))
}

/// Nanoseconds in a readable unit; `-` for a value that was not measured.
fn ns(v: Option<u64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 10_000 => format!("{v} ns"),
        Some(v) if v < 10_000_000 => format!("{:.1} µs", v as f64 / 1e3),
        Some(v) => format!("{:.1} ms", v as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::ns;

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
    }

    #[test]
    fn latency_units() {
        assert_eq!(ns(None), "-");
        assert_eq!(ns(Some(850)), "850 ns");
        assert_eq!(ns(Some(12_345)), "12.3 µs");
        assert_eq!(ns(Some(25_000_000)), "25.0 ms");
    }
}
