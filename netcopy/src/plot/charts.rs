//! What each chart shows, as data: series of points or stacked bars, taken from a sweep's
//! groups. Drawing is in `draw.rs`.

use netcopy_common::stage::Stage;

pub use super::chart::{Chart, Kind, Layer, MODE_COLORS, Series};
use crate::{
    report::sweep::{Group, MODES, Stat},
    units::format_size,
};

/// The modes present, in the usual order.
fn modes(groups: &[Group]) -> Vec<String> {
    let mut m: Vec<String> = groups.iter().map(|g| g.mode.clone()).collect();
    m.sort_by_key(|x| MODES.iter().position(|y| y == x).unwrap_or(MODES.len()));
    m.dedup();
    m
}

fn mode_color(mode: &str) -> usize {
    MODES.iter().position(|m| *m == mode).unwrap_or(MODES.len())
}

fn sorted<T: Ord + Copy>(v: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = v.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// One series per mode of `metric` over the sizes at `threads`.
fn vs_size(
    groups: &[Group],
    threads: u32,
    metric: impl Fn(&Group) -> Option<Stat>,
) -> (Vec<String>, Vec<Series>) {
    let sizes = sorted(groups.iter().map(|g| g.size));
    let series = modes(groups)
        .into_iter()
        .map(|mode| Series {
            points: sizes
                .iter()
                .enumerate()
                .filter_map(|(i, size)| {
                    let g = groups
                        .iter()
                        .find(|g| g.mode == mode && g.size == *size && g.threads == threads)?;
                    Some((i, metric(g)?.median))
                })
                .collect(),
            color: mode_color(&mode),
            name: mode,
            dashed: false,
        })
        .collect();
    (sizes.into_iter().map(format_size).collect(), series)
}

/// A line chart of `metric` against size at `threads`.
fn size_chart(
    groups: &[Group],
    threads: u32,
    stem: &'static str,
    title: &str,
    y_desc: &str,
    metric: impl Fn(&Group) -> Option<Stat>,
    missing: &str,
) -> Chart {
    let (x_labels, series) = vs_size(groups, threads, metric);
    let mut chart = Chart {
        stem,
        title: format!(
            "{title} ({threads} connection{})",
            if threads == 1 { "" } else { "s" }
        ),
        x_desc: "message size".into(),
        y_desc: y_desc.into(),
        x_labels,
        kind: Kind::Lines { series },
        note: None,
    };
    if chart.is_empty() {
        chart.note = Some(missing.into());
    }
    chart
}

const UNTRACED: &str =
    "not measured in this sweep: kernel numbers need a traced sweep (drop --no-trace)";
const NO_PMU: &str = "not measured on this machine: no hardware PMU (perf_event_open of cycles fails), so cycles are null; the on-CPU ns per byte chart measures the same cost in time";

pub fn throughput(groups: &[Group], threads: u32) -> Chart {
    size_chart(
        groups,
        threads,
        "throughput_vs_size",
        "Throughput vs message size",
        "Gbit/s (median of repeats)",
        |g| g.throughput_gbps,
        "no cells at this thread count",
    )
}

pub fn cpu_per_byte(groups: &[Group], threads: u32) -> Chart {
    size_chart(
        groups,
        threads,
        "cpu_per_byte_vs_size",
        "Sender kernel CPU per byte vs size",
        "on-CPU ns per byte in sendto/sendmsg",
        |g| g.send_oncpu_ns_per_byte,
        UNTRACED,
    )
}

pub fn cycles_per_byte(groups: &[Group], threads: u32) -> Chart {
    let traced = groups.iter().any(|g| g.send_oncpu_ns_per_byte.is_some());
    size_chart(
        groups,
        threads,
        "cycles_per_byte_vs_size",
        "Cycles per byte vs size",
        "cycles per byte (data calls, both ends)",
        |g| g.cycles_per_byte,
        if traced { NO_PMU } else { UNTRACED },
    )
}

pub fn cache(groups: &[Group], threads: u32) -> Chart {
    let mut chart = size_chart(
        groups,
        threads,
        "cache_vs_size",
        "Cache misses and references vs size",
        "count",
        |_| None,
        "not measured: netcopy does not read cache counters, and this machine has no hardware PMU (the seed report took them from perf stat on the whole process)",
    );
    chart.kind = Kind::Lines { series: Vec::new() };
    chart
}

pub fn context_switches(groups: &[Group], threads: u32) -> Chart {
    size_chart(
        groups,
        threads,
        "context_switches_vs_size",
        "Context switches vs size",
        "switches of the workload threads per run (getrusage)",
        |g| g.context_switches,
        "no cells at this thread count",
    )
}

pub fn offcpu(groups: &[Group], threads: u32) -> Chart {
    size_chart(
        groups,
        threads,
        "offcpu_share_vs_size",
        "Off-CPU share of the data calls vs size",
        "share of kernel call time switched out",
        |g| g.offcpu_share,
        UNTRACED,
    )
}

/// Receive latency p50 (solid) and p99 (dashed) per mode against the thread count.
pub fn latency(groups: &[Group], size: u64) -> Chart {
    let threads = sorted(groups.iter().filter(|g| g.size == size).map(|g| g.threads));
    let mut series = Vec::new();
    for mode in modes(groups) {
        for (dashed, label, metric) in [
            (
                false,
                "p50",
                (|g: &Group| g.recv_p50_us) as fn(&Group) -> Option<Stat>,
            ),
            (true, "p99", |g: &Group| g.recv_p99_us),
        ] {
            series.push(Series {
                name: format!("{mode} {label}"),
                points: threads
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| {
                        let g = groups
                            .iter()
                            .find(|g| g.mode == mode && g.size == size && g.threads == *t)?;
                        Some((i, metric(g)?.median))
                    })
                    .collect(),
                color: mode_color(&mode),
                dashed,
            });
        }
    }
    let mut chart = Chart {
        stem: "latency_vs_threads",
        title: format!(
            "Receive call latency vs connections ({})",
            format_size(size)
        ),
        x_desc: "connections (threads per end)".into(),
        y_desc: "µs per recv call".into(),
        x_labels: threads.iter().map(u32::to_string).collect(),
        kind: Kind::Lines { series },
        note: None,
    };
    if chart.is_empty() {
        chart.note = Some(format!("no cells of size {}", format_size(size)));
    }
    chart
}

/// What a chart of stacked bars, one per mode and size, is made of.
struct Stacked<'a> {
    stem: &'static str,
    title: String,
    y_desc: &'static str,
    note: &'static str,
    /// The layers' names, bottom up; each gets its own colour.
    names: &'a [&'static str],
    /// The height of layer `name` in a group's bar.
    value: &'a dyn Fn(&Group, &str) -> f64,
}

/// One bar per mode and size at `threads`, in mode then size order, stacked by `spec`.
fn stacked_by_mode_size(groups: &[Group], threads: u32, spec: Stacked<'_>) -> Chart {
    let bars: Vec<&Group> = {
        let mut b: Vec<&Group> = groups.iter().filter(|g| g.threads == threads).collect();
        b.sort_by_key(|g| (mode_color(&g.mode), g.size));
        b
    };
    let layers = spec
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| Layer {
            name: (*name).to_owned(),
            values: bars.iter().map(|g| (spec.value)(g, name)).collect(),
            color: MODE_COLORS + i,
        })
        .collect();
    let mut chart = Chart {
        stem: spec.stem,
        title: spec.title,
        x_desc: "mode and message size".into(),
        y_desc: spec.y_desc.into(),
        x_labels: bars
            .iter()
            .map(|g| format!("{} {}", short_mode(&g.mode), format_size(g.size)))
            .collect(),
        kind: Kind::Stacked { layers },
        note: Some(spec.note.into()),
    };
    if chart.is_empty() {
        chart.note = Some(UNTRACED.into());
    }
    chart
}

/// Sender kernel time per KiB split by copy stage, one bar per mode and size.
pub fn stages(groups: &[Group], threads: u32) -> Chart {
    // Every stage in the data path's order (`Stage::ALL`), so a new stage is drawn, with its
    // own color (draw.rs, PALETTE), without being listed here.
    let names = Stage::ALL.map(Stage::name);
    stacked_by_mode_size(
        groups,
        threads,
        Stacked {
            stem: "stages_by_mode_size",
            title: format!("Sender kernel time by copy stage ({threads} connection(s))"),
            y_desc: "on-CPU ns per KiB sent (sampled shares)",
            note: "2c = twocopy, 1c = onecopy, 0c = zerocopy",
            names: &names,
            value: &|g, stage| {
                let share = g
                    .stages
                    .iter()
                    .find(|s| s.role == "server" && s.stage == stage)
                    .map_or(0.0, |s| s.share.median);
                let per_kib = g.send_oncpu_ns_per_byte.map_or(0.0, |s| s.median * 1024.0);
                share * per_kib
            },
        },
    )
}

/// The data calls' off-CPU share split by why they left the CPU, one bar per mode and size:
/// each bar is as high as the off-CPU share of the calls' time.
pub fn offcpu_reasons(groups: &[Group], threads: u32) -> Chart {
    let names = netcopy_common::offcpu::Reason::ALL.map(netcopy_common::offcpu::Reason::name);
    stacked_by_mode_size(
        groups,
        threads,
        Stacked {
            stem: "offcpu_by_reason",
            title: format!("Why the data calls left the CPU ({threads} connection(s))"),
            y_desc: "share of the data calls' time switched out",
            note: "wmem: send buffer full; data: waiting to read; lock: socket lock; preempt: still runnable",
            names: &names,
            value: &|g, reason| {
                let share = g
                    .offcpu_reasons
                    .iter()
                    .find(|(n, _)| *n == reason)
                    .map_or(0.0, |(_, s)| s.median);
                share * g.offcpu_share.map_or(0.0, |s| s.median)
            },
        },
    )
}

fn short_mode(mode: &str) -> &str {
    match mode {
        "twocopy" => "2c",
        "onecopy" => "1c",
        "zerocopy" => "0c",
        other => other,
    }
}

/// Share of zerocopy sends copied in the call, copied later, or not copied, per size.
pub fn zerocopy_verdict(groups: &[Group], threads: u32) -> Chart {
    let zc: Vec<&Group> = {
        let mut z: Vec<&Group> = groups
            .iter()
            .filter(|g| g.mode == "zerocopy" && g.threads == threads)
            .collect();
        z.sort_by_key(|g| g.size);
        z
    };
    let pct = |s: Option<Stat>| s.map_or(0.0, |s| s.median * 100.0);
    let split_known = zc.iter().any(|g| g.zc_deferred_share.is_some());
    let layers = if split_known {
        vec![
            Layer {
                name: "copied in the call".into(),
                values: zc.iter().map(|g| pct(g.zc_in_call_share)).collect(),
                color: 0,
            },
            Layer {
                name: "deferred copy".into(),
                values: zc.iter().map(|g| pct(g.zc_deferred_share)).collect(),
                color: 5,
            },
            Layer {
                name: "copy avoided".into(),
                values: zc.iter().map(|g| pct(g.zc_avoided_share)).collect(),
                color: 2,
            },
        ]
    } else {
        vec![
            Layer {
                name: "copied (when: needs a traced sweep)".into(),
                values: zc
                    .iter()
                    .map(|g| g.zc_avoided_share.map_or(0.0, |s| 100.0 - s.median * 100.0))
                    .collect(),
                color: 0,
            },
            Layer {
                name: "copy avoided".into(),
                values: zc.iter().map(|g| pct(g.zc_avoided_share)).collect(),
                color: 2,
            },
        ]
    };
    let mut chart = Chart {
        stem: "zerocopy_verdict_vs_size",
        title: format!("What the kernel did with MSG_ZEROCOPY sends ({threads} connection(s))"),
        x_desc: "message size".into(),
        y_desc: "% of sends".into(),
        x_labels: zc.iter().map(|g| format_size(g.size)).collect(),
        kind: Kind::Stacked { layers },
        note: Some(
            "loopback and veth: the kernel copies packets looped to a local socket (msg_zerocopy.rst)"
                .into(),
        ),
    };
    if zc.is_empty() {
        chart.note = Some("no zerocopy cells at this thread count".into());
    }
    chart
}

/// Every single chart.
pub fn all(groups: &[Group], threads: u32, size: u64) -> Vec<Chart> {
    vec![
        throughput(groups, threads),
        latency(groups, size),
        cpu_per_byte(groups, threads),
        cycles_per_byte(groups, threads),
        cache(groups, threads),
        context_switches(groups, threads),
        stages(groups, threads),
        zerocopy_verdict(groups, threads),
        offcpu(groups, threads),
        offcpu_reasons(groups, threads),
    ]
}

/// The six charts of the summary grid.
pub fn summary(groups: &[Group], threads: u32, size: u64) -> Vec<Chart> {
    vec![
        throughput(groups, threads),
        latency(groups, size),
        cpu_per_byte(groups, threads),
        context_switches(groups, threads),
        stages(groups, threads),
        zerocopy_verdict(groups, threads),
    ]
}
