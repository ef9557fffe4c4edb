//! `netcopy report DIR`: a sweep's cells grouped by (mode, size, threads), each number as
//! the median over the repeats with its min–max spread; `--compare` puts two sweeps side by
//! side with ratios.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{model::CellRecord, units::format_size};

/// Median and spread of one number over a group's repeats; null when no repeat measured it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Option<Self> {
        let mut v: Vec<f64> = values
            .into_iter()
            .flatten()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

/// One stage's median share of the sender's or receiver's sampled kernel time.
#[derive(Clone, Debug, Serialize)]
pub struct StageStat {
    pub role: String,
    pub stage: String,
    pub share: Stat,
}

/// The repeats of one (mode, size, threads).
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub mode: String,
    pub size: u64,
    pub threads: u32,
    pub repeats: usize,
    pub throughput_gbps: Option<Stat>,
    pub recv_p50_us: Option<Stat>,
    pub recv_p99_us: Option<Stat>,
    pub send_oncpu_ns_per_byte: Option<Stat>,
    pub recv_oncpu_ns_per_byte: Option<Stat>,
    pub send_cs_per_1000: Option<Stat>,
    pub recv_cs_per_1000: Option<Stat>,
    pub context_switches: Option<Stat>,
    pub offcpu_share: Option<Stat>,
    pub cycles_per_byte: Option<Stat>,
    pub zc_in_call_share: Option<Stat>,
    pub zc_deferred_share: Option<Stat>,
    pub zc_avoided_share: Option<Stat>,
    pub stages: Vec<StageStat>,
    /// The data calls' off-CPU time by reason (`netcopy_common::offcpu::Reason` order): the
    /// share of each, over the repeats that measured it.
    pub offcpu_reasons: Vec<(&'static str, Stat)>,
    pub all_verified: bool,
    /// Records the ring buffer had no room for, summed over the repeats (null untraced).
    pub lost_records: Option<u64>,
}

/// The order of the modes in tables and plots.
pub const MODES: [&str; 5] = ["twocopy", "onecopy", "zerocopy", "uring", "uringzc"];

fn mode_rank(m: &str) -> usize {
    MODES.iter().position(|x| *x == m).unwrap_or(MODES.len())
}

/// Group cells by (mode, size, threads), in mode, size, threads order.
pub fn groups(cells: &[CellRecord]) -> Vec<Group> {
    let mut keys: Vec<(String, u64, u32)> = cells
        .iter()
        .map(|c| (c.mode.clone(), c.size, c.threads))
        .collect();
    keys.sort_by(|a, b| {
        (mode_rank(&a.0), a.1, a.2)
            .cmp(&(mode_rank(&b.0), b.1, b.2))
            .then(a.0.cmp(&b.0))
    });
    keys.dedup();
    keys.into_iter()
        .map(|(mode, size, threads)| {
            let mine: Vec<&CellRecord> = cells
                .iter()
                .filter(|c| c.mode == mode && c.size == size && c.threads == threads)
                .collect();
            group(mode, size, threads, &mine)
        })
        .collect()
}

fn group(mode: String, size: u64, threads: u32, cells: &[&CellRecord]) -> Group {
    let stat = |f: &dyn Fn(&CellRecord) -> Option<f64>| Stat::of(cells.iter().map(|c| f(c)));
    let mut names: Vec<(String, String)> = cells
        .iter()
        .flat_map(|c| c.stages.iter().map(|s| (s.role.clone(), s.stage.clone())))
        .collect();
    names.sort();
    names.dedup();
    let mut stages: Vec<StageStat> = names
        .into_iter()
        .filter_map(|(role, stage)| {
            let share = Stat::of(cells.iter().map(|c| c.stage_share(&role, &stage)))?;
            Some(StageStat { role, stage, share })
        })
        .collect();
    stages.sort_by(|a, b| {
        a.role
            .cmp(&b.role)
            .then(b.share.median.total_cmp(&a.share.median))
    });
    Group {
        mode,
        size,
        threads,
        repeats: cells.len(),
        throughput_gbps: stat(&|c| Some(c.throughput_gbps)),
        recv_p50_us: stat(&|c| c.recv_p50_us),
        recv_p99_us: stat(&|c| c.recv_p99_us),
        send_oncpu_ns_per_byte: stat(&|c| c.send_oncpu_ns_per_byte),
        recv_oncpu_ns_per_byte: stat(&|c| c.recv_oncpu_ns_per_byte),
        send_cs_per_1000: stat(&|c| c.send_cs_per_1000),
        recv_cs_per_1000: stat(&|c| c.recv_cs_per_1000),
        context_switches: stat(&|c| Some(c.context_switches as f64)),
        offcpu_share: stat(&|c| c.offcpu_share),
        cycles_per_byte: stat(&|c| c.cycles_per_byte),
        zc_in_call_share: stat(&|c| c.zc_in_call_share),
        zc_deferred_share: stat(&|c| c.zc_deferred_share),
        zc_avoided_share: stat(&|c| c.zc_avoided_share),
        stages,
        offcpu_reasons: netcopy_common::offcpu::Reason::ALL
            .iter()
            .filter_map(|reason| {
                let share = Stat::of(cells.iter().map(|c| {
                    c.offcpu_by_reason
                        .iter()
                        .find(|r| r.reason == reason.name())
                        .map(|r| r.share)
                }))?;
                Some((reason.name(), share))
            })
            .collect(),
        all_verified: cells.iter().all(|c| c.verified),
        lost_records: cells
            .iter()
            .filter_map(|c| c.lost_records)
            .reduce(|a, b| a + b),
    }
}

/// `median [min-max]`, or `-` where not measured.
fn cell(s: Option<Stat>, digits: usize) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.n > 1 && (s.max - s.min) > 0.0 => format!(
            "{:.digits$} [{:.digits$}-{:.digits$}]",
            s.median, s.min, s.max
        ),
        Some(s) => format!("{:.digits$}", s.median),
    }
}

/// The sender's three largest stages, as `stage share%`.
fn top_stages(g: &Group, role: &str) -> String {
    let top: Vec<String> = g
        .stages
        .iter()
        .filter(|s| s.role == role)
        .take(3)
        .map(|s| format!("{} {:.0}%", s.stage, s.share.median * 100.0))
        .collect();
    if top.is_empty() {
        "-".into()
    } else {
        top.join(", ")
    }
}

/// The terminal tables of one sweep.
pub fn render(groups: &[Group]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "median over repeats [min-max]; kernel numbers are per data call (sendto/sendmsg, recvfrom/recvmsg); - = not measured\n"
    );
    let _ = writeln!(
        o,
        "{:<8} {:>5} {:>3} {:>4}  {:<26} {:<22} {:<22} {:<24} {:<24} {:<16} {:<16}",
        "mode",
        "size",
        "thr",
        "reps",
        "Gbit/s",
        "recv p50 µs",
        "recv p99 µs",
        "send on-CPU ns/B",
        "recv on-CPU ns/B",
        "send cs/1000",
        "recv cs/1000"
    );
    for g in groups {
        let _ = writeln!(
            o,
            "{:<8} {:>5} {:>3} {:>4}  {:<26} {:<22} {:<22} {:<24} {:<24} {:<16} {:<16}{}",
            g.mode,
            format_size(g.size),
            g.threads,
            g.repeats,
            cell(g.throughput_gbps, 3),
            cell(g.recv_p50_us, 1),
            cell(g.recv_p99_us, 1),
            cell(g.send_oncpu_ns_per_byte, 3),
            cell(g.recv_oncpu_ns_per_byte, 3),
            cell(g.send_cs_per_1000, 1),
            cell(g.recv_cs_per_1000, 1),
            if g.all_verified { "" } else { "  NOT VERIFIED" }
        );
    }
    let _ = writeln!(
        o,
        "\nstages (sampled share of kernel time in the data calls)"
    );
    for g in groups {
        let _ = writeln!(
            o,
            "{:<8} {:>5} {:>3}  sender: {:<52} receiver: {}",
            g.mode,
            format_size(g.size),
            g.threads,
            top_stages(g, "server"),
            top_stages(g, "client")
        );
    }
    let _ = writeln!(
        o,
        "\noff-CPU (share of the data calls' switched-out time, by why they left the CPU)"
    );
    for g in groups {
        let parts: Vec<String> = g
            .offcpu_reasons
            .iter()
            .filter(|(_, s)| s.median > 0.0)
            .map(|(name, s)| format!("{name} {:.0}%", s.median * 100.0))
            .collect();
        let _ = writeln!(
            o,
            "{:<8} {:>5} {:>3}  {}",
            g.mode,
            format_size(g.size),
            g.threads,
            if parts.is_empty() {
                "-".to_owned()
            } else {
                parts.join(", ")
            }
        );
    }
    let lossy: Vec<String> = groups
        .iter()
        .filter(|g| g.lost_records.is_some_and(|n| n > 0))
        .map(|g| {
            format!(
                "{} {} x{} ({})",
                g.mode,
                format_size(g.size),
                g.threads,
                g.lost_records.unwrap_or_default()
            )
        })
        .collect();
    if !lossy.is_empty() {
        let _ = writeln!(
            o,
            "\nlost records (ring buffer full; the kernel numbers come from the records that arrived, the call counts stay exact): {}",
            lossy.join(", ")
        );
    }
    let zc: Vec<&Group> = groups
        .iter()
        .filter(|g| g.zc_avoided_share.is_some())
        .collect();
    if !zc.is_empty() {
        let _ = writeln!(o, "\nzerocopy verdict (share of sends)");
        for g in zc {
            let pct =
                |s: Option<Stat>| s.map_or("-".into(), |s| format!("{:.0}%", s.median * 100.0));
            let _ = writeln!(
                o,
                "{:>5} {:>3}  copied in the call {:>5}, deferred copy {:>5}, copy avoided {:>5}",
                format_size(g.size),
                g.threads,
                pct(g.zc_in_call_share),
                pct(g.zc_deferred_share),
                pct(g.zc_avoided_share)
            );
        }
    }
    o
}

/// One cell of two sweeps side by side.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub mode: String,
    pub size: u64,
    pub threads: u32,
    pub a: Group,
    pub b: Group,
    /// B's median over A's, per number; null where either is missing or A is 0.
    pub throughput_ratio: Option<f64>,
    pub recv_p99_ratio: Option<f64>,
    pub send_oncpu_ratio: Option<f64>,
}

fn ratio(a: Option<Stat>, b: Option<Stat>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (a.median != 0.0).then(|| b.median / a.median)
}

/// The (mode, size, threads) both sweeps have.
pub fn compare(a: &[Group], b: &[Group]) -> Vec<Comparison> {
    a.iter()
        .filter_map(|ga| {
            let gb = b
                .iter()
                .find(|g| g.mode == ga.mode && g.size == ga.size && g.threads == ga.threads)?;
            Some(Comparison {
                mode: ga.mode.clone(),
                size: ga.size,
                threads: ga.threads,
                throughput_ratio: ratio(ga.throughput_gbps, gb.throughput_gbps),
                recv_p99_ratio: ratio(ga.recv_p99_us, gb.recv_p99_us),
                send_oncpu_ratio: ratio(ga.send_oncpu_ns_per_byte, gb.send_oncpu_ns_per_byte),
                a: ga.clone(),
                b: gb.clone(),
            })
        })
        .collect()
}

pub fn render_comparison(rows: &[Comparison]) -> String {
    let mut o = String::new();
    let r = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}x"));
    let m = |s: Option<Stat>, d: usize| s.map_or("-".into(), |s| format!("{:.d$}", s.median));
    let _ = writeln!(
        o,
        "A/B: medians of each sweep and B/A\n{:<8} {:>5} {:>3}  {:>9} {:>9} {:>7}  {:>9} {:>9} {:>7}  {:>9} {:>9} {:>7}",
        "mode",
        "size",
        "thr",
        "A Gbit/s",
        "B Gbit/s",
        "B/A",
        "A p99 µs",
        "B p99 µs",
        "B/A",
        "A ns/B",
        "B ns/B",
        "B/A"
    );
    for c in rows {
        let _ = writeln!(
            o,
            "{:<8} {:>5} {:>3}  {:>9} {:>9} {:>7}  {:>9} {:>9} {:>7}  {:>9} {:>9} {:>7}",
            c.mode,
            format_size(c.size),
            c.threads,
            m(c.a.throughput_gbps, 3),
            m(c.b.throughput_gbps, 3),
            r(c.throughput_ratio),
            m(c.a.recv_p99_us, 1),
            m(c.b.recv_p99_us, 1),
            r(c.recv_p99_ratio),
            m(c.a.send_oncpu_ns_per_byte, 3),
            m(c.b.send_oncpu_ns_per_byte, 3),
            r(c.send_oncpu_ratio),
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_skip_what_was_not_measured() {
        let s = Stat::of([Some(3.0), None, Some(1.0), Some(2.0)]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Stat::of([Some(1.0), Some(4.0)]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!(Stat::of([None, None]), None);
        assert_eq!(cell(None, 1), "-");
        assert_eq!(
            cell(Stat::of([Some(1.0), Some(3.0), Some(2.0)]), 1),
            "2.0 [1.0-3.0]"
        );
    }

    #[test]
    fn ratios_are_b_over_a_and_null_when_unmeasured() {
        let a = Stat::of([Some(2.0)]);
        let b = Stat::of([Some(3.0)]);
        assert_eq!(ratio(a, b), Some(1.5));
        assert_eq!(ratio(a, None), None);
        assert_eq!(ratio(Stat::of([Some(0.0)]), b), None);
    }
}
