//! `netcopy top`: a live view of socket calls per process and thread (ratatui), refreshed
//! every interval from [`crate::trace::live`]. Keys: `s` (or 1-6) to sort, `q`, Esc or
//! Ctrl-C to quit; the terminal is restored however it ends.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Args, ValueEnum};
use ratatui::{
    DefaultTerminal, Frame,
    crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers},
    layout::{Constraint, Layout},
    style::{Modifier, Style},
    text::Line,
    widgets::{Cell, Row, Table},
};

use super::{
    args::{TargetArgs, window_arg},
    error::Error,
};
use crate::{
    model::TopRow,
    probes::{check_privileges, sample::DEFAULT_HZ},
    report::calls::ns,
    trace::live::Live,
    workload::conn::Stop,
};

/// A live view of socket calls per process and thread, like perf top or tcptop (needs root).
///
/// Every interval, for each process (and each of its threads) that made socket calls:
/// calls/s, bytes/s, p50 and p99 kernel time per call, on-CPU ns per KiB moved, context
/// switches per 1000 calls, and the two copy stages where its sampled kernel time went.
/// Without --pid/--comm/--cgroup every process is watched.
///
/// Keys: s or 1-6 sort (calls, bytes, p50, p99, ns/KiB, cs), q / Esc / Ctrl-C quit.
///
/// Examples:
///   sudo netcopy top
///   sudo netcopy top --comm iperf3 --interval 500ms
///   sudo netcopy top --pid 1234 --sort p99
#[derive(Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct TopArgs {
    /// The processes to watch (every one without them).
    #[command(flatten)]
    targets: TargetArgs,
    /// Time between refreshes: 1s, 500ms.
    #[arg(long, short, default_value = "1s", value_parser = window_arg)]
    interval: Duration,
    /// The column rows are sorted by, largest first.
    #[arg(long, value_enum, default_value_t = SortKey::Bytes)]
    sort: SortKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    Calls,
    Bytes,
    P50,
    P99,
    Cpu,
    Cs,
}

impl SortKey {
    const ALL: [SortKey; 6] = [
        SortKey::Calls,
        SortKey::Bytes,
        SortKey::P50,
        SortKey::P99,
        SortKey::Cpu,
        SortKey::Cs,
    ];

    fn value(self, r: &TopRow) -> f64 {
        match self {
            SortKey::Calls => r.calls_per_s,
            SortKey::Bytes => r.bytes_per_s,
            SortKey::P50 => r.p50_ns.unwrap_or(0) as f64,
            SortKey::P99 => r.p99_ns.unwrap_or(0) as f64,
            SortKey::Cpu => r.oncpu_ns_per_kib.unwrap_or(0.0),
            SortKey::Cs => r.switches_per_1000.unwrap_or(0.0),
        }
    }

    fn next(self) -> SortKey {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

const HEADER: [&str; 10] = [
    "PID", "TID", "COMM", "CALLS/s", "BYTES/s", "P50", "P99", "ns/KiB", "CS/1k", "STAGES",
];

pub fn execute(args: TopArgs, stop: &Stop) -> Result<ExitCode, Error> {
    check_privileges()?;
    let targets = args.targets.targets();
    let mut live = Live::start(&targets, Some(DEFAULT_HZ))?;
    let what = if targets.is_empty() {
        "every process".to_owned()
    } else {
        format!("{} target(s)", targets.len())
    };
    let mut terminal = ratatui::init();
    let shown = show(&mut terminal, &mut live, &args, &what, stop);
    ratatui::restore();
    live.finish()?;
    shown?;
    Ok(ExitCode::SUCCESS)
}

/// Refresh until a quit key or a stop.
fn show(
    terminal: &mut DefaultTerminal,
    live: &mut Live,
    args: &TopArgs,
    what: &str,
    stop: &Stop,
) -> Result<(), Error> {
    let mut sort = args.sort;
    let mut rows = Vec::new();
    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            rows = live.tick()?;
            next = Instant::now() + args.interval;
        }
        let view = sorted(&rows, sort);
        terminal
            .draw(|f| draw(f, &view, sort, what, args.interval))
            .map_err(Error::io("draw the screen"))?;
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait.min(Duration::from_millis(200))).map_err(Error::io("read keys"))? {
            if let Event::Key(k) = event::read().map_err(Error::io("read keys"))? {
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(());
                    }
                    KeyCode::Char('s') => sort = sort.next(),
                    KeyCode::Char(c @ '1'..='6') => {
                        sort = SortKey::ALL[usize::from(c as u8 - b'1')];
                    }
                    _ => {}
                }
            }
        }
        if stop.requested() {
            return Ok(());
        }
    }
}

/// Processes by `sort`, largest first, each followed by its threads sorted the same way.
pub fn sorted(rows: &[TopRow], sort: SortKey) -> Vec<TopRow> {
    let by = |a: &&TopRow, b: &&TopRow| sort.value(b).total_cmp(&sort.value(a));
    let mut procs: Vec<&TopRow> = rows.iter().filter(|r| r.tid.is_none()).collect();
    procs.sort_by(by);
    let mut out = Vec::new();
    for p in procs {
        out.push(p.clone());
        let mut threads: Vec<&TopRow> = rows
            .iter()
            .filter(|r| r.pid == p.pid && r.tid.is_some())
            .collect();
        threads.sort_by(by);
        out.extend(threads.into_iter().cloned());
    }
    out
}

/// `1.5 GB/s`-style.
fn per_s(v: f64, unit: &str) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1} G{unit}", v / 1e9),
        v if v >= 1e6 => format!("{:.1} M{unit}", v / 1e6),
        v if v >= 1e3 => format!("{:.1} k{unit}", v / 1e3),
        v => format!("{v:.0} {unit}"),
    }
}

fn draw(f: &mut Frame, rows: &[TopRow], sort: SortKey, what: &str, interval: Duration) {
    let [title, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(f.area());
    let processes = rows.iter().filter(|r| r.tid.is_none()).count();
    f.render_widget(
        Line::from(format!(
            "netcopy top: {what}, {processes} process(es) with socket calls, every {} ms, sorted by {sort:?} (s: sort, q: quit)",
            interval.as_millis()
        )),
        title,
    );
    let header = Row::new(HEADER).style(Style::new().add_modifier(Modifier::REVERSED));
    let body_rows = rows.iter().map(|r| {
        let stages: Vec<String> = r
            .top_stages
            .iter()
            .map(|(s, share)| format!("{s} {:.0}%", share * 100.0))
            .collect();
        let style = if r.tid.is_none() {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        Row::new(vec![
            Cell::from(r.pid.to_string()),
            Cell::from(r.tid.map_or("-".into(), |t| t.to_string())),
            Cell::from(if r.tid.is_none() {
                r.comm.clone()
            } else {
                format!(" {}", r.comm)
            }),
            Cell::from(per_s(r.calls_per_s, "")),
            Cell::from(per_s(r.bytes_per_s, "B")),
            Cell::from(ns(r.p50_ns)),
            Cell::from(ns(r.p99_ns)),
            Cell::from(r.oncpu_ns_per_kib.map_or("-".into(), |v| format!("{v:.0}"))),
            Cell::from(
                r.switches_per_1000
                    .map_or("-".into(), |v| format!("{v:.1}")),
            ),
            Cell::from(stages.join(", ")),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Min(20),
    ];
    f.render_widget(Table::new(body_rows, widths).header(header), body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, tid: Option<u32>, bytes: f64) -> TopRow {
        TopRow {
            pid,
            tid,
            comm: "x".into(),
            calls_per_s: 1.0,
            bytes_per_s: bytes,
            p50_ns: None,
            p99_ns: None,
            oncpu_ns_per_kib: None,
            switches_per_1000: None,
            top_stages: Vec::new(),
        }
    }

    #[test]
    fn processes_sort_with_their_threads_under_them() {
        let rows = [
            row(1, None, 10.0),
            row(1, Some(11), 4.0),
            row(1, Some(12), 6.0),
            row(2, None, 50.0),
            row(2, Some(21), 50.0),
        ];
        let order: Vec<(u32, Option<u32>)> = sorted(&rows, SortKey::Bytes)
            .iter()
            .map(|r| (r.pid, r.tid))
            .collect();
        assert_eq!(
            order,
            [
                (2, None),
                (2, Some(21)),
                (1, None),
                (1, Some(12)),
                (1, Some(11))
            ]
        );
        assert_eq!(per_s(1.5e9, "B"), "1.5 GB");
        assert_eq!(SortKey::Cs.next(), SortKey::Calls);
    }
}
