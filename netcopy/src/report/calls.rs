//! The kernel's rows in the terminal summaries, shared by the built-in workload's summary
//! and `trace --pid/--comm/--cgroup`'s: calls, bytes and latency per role (or per traced
//! program's process) and syscall, the exact and counter lines, and off-CPU time by reason.

use std::fmt::Write as _;

use crate::model::SyscallSummary;

/// A row's owner: `comm[pid]` for another program's process, else the role.
pub fn who(r: &SyscallSummary) -> String {
    match &r.process {
        Some(p) => format!("{}[{}]", p.comm, p.pid),
        None => r.role.name().to_owned(),
    }
}

pub fn render_syscalls(o: &mut String, rows: &[SyscallSummary]) {
    let labels: Vec<String> = rows.iter().map(who).collect();
    let width = labels.iter().map(String::len).max().unwrap_or(0).max(7);
    let _ = writeln!(
        o,
        "  kernel      {:<width$} {:<9} {:>9} {:>12} {:>10} {:>10} {:>12} {:>10}",
        if rows.iter().any(|r| r.process.is_some()) {
            "process"
        } else {
            "role"
        },
        "syscall",
        "calls",
        "bytes",
        "p50",
        "p99",
        "on-CPU/KiB",
        "cs/1000"
    );
    for (r, label) in rows.iter().zip(&labels) {
        let _ = writeln!(
            o,
            "              {label:<width$} {:<9} {:>9} {:>12} {:>10} {:>10} {:>12} {:>10.1}",
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
            who(r),
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
            who(r),
            r.syscall,
            r.cycles.unwrap_or_default(),
            r.instructions.unwrap_or_default(),
            r.cycles_per_byte.map_or("-".into(), |v| format!("{v:.2}")),
        );
    }
}

/// Off-CPU time inside the calls by why the threads left the CPU, one line per role (or
/// traced program's process) that left it at all.
pub fn render_offcpu(o: &mut String, rows: &[SyscallSummary]) {
    let mut owners: Vec<String> = Vec::new();
    for r in rows {
        let w = who(r);
        if !owners.contains(&w) {
            owners.push(w);
        }
    }
    for owner in owners {
        let mine: Vec<&SyscallSummary> = rows.iter().filter(|r| who(r) == owner).collect();
        let total: u64 = mine.iter().map(|r| r.offcpu_ns).sum();
        if total == 0 {
            continue;
        }
        let cells: Vec<String> = netcopy_common::offcpu::Reason::ALL
            .iter()
            .map(|reason| {
                let ns: u64 = mine
                    .iter()
                    .filter_map(|r| r.offcpu_by_reason.get(reason.name()))
                    .sum();
                format!("{} {:.1}%", reason.name(), 100.0 * ns as f64 / total as f64)
            })
            .collect();
        let _ = writeln!(
            o,
            "  off-CPU     {owner} {} in calls: {}",
            ns(Some(total)),
            cells.join(", ")
        );
    }
}

/// Nanoseconds in a readable unit; `-` for a value that was not measured.
pub fn ns(v: Option<u64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 10_000 => format!("{v} ns"),
        Some(v) if v < 10_000_000 => format!("{:.1} µs", v as f64 / 1e3),
        Some(v) => format!("{:.1} ms", v as f64 / 1e6),
    }
}
