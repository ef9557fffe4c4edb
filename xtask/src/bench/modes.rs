//! The copy modes side by side (issue 14): uring against onecopy, uringzc against zerocopy,
//! and `--rx zerocopy` against `--rx copy` behind a zerocopy sender (the one whose bytes
//! loopback can map), at 1K, 64K and 1M, one connection, pinned. Each side gives Gbit/s and
//! each end's CPU ns per KiB: its thread's CPU time (user and system,
//! CLOCK_THREAD_CPUTIME_ID) over its data loop, over the bytes it moved. Then the trace
//! overhead of the two uring modes at 64K, judged like the other modes'.
//!
//! `cargo xtask bench --modes-only` runs just this and rewrites its section of BENCHMARKS.md
//! between [`START`] and [`END`]; the full bench writes the section with the rest.

use std::{cell::RefCell, fmt::Write as _};

use anyhow::{Context, bail};

use super::{
    Opts, PIN, bpftrace,
    table::{Row, alternate, bounds, median, near_hook_floor_64k, ratio_row},
    targets,
    tools::Tools,
};

pub const START: &str = "<!-- modes: `cargo xtask bench --modes-only` rewrites from here -->";
pub const END: &str = "<!-- modes end -->";

/// One run's numbers.
#[derive(Clone, Copy, Default)]
struct Sample {
    gbps: f64,
    send_ns_per_kib: f64,
    recv_ns_per_kib: f64,
    /// `--rx zerocopy`: the share of bytes mapped.
    mapped: Option<f64>,
}

fn one(t: &Tools, mode: &str, rx: &str, size: &str, secs: f64) -> anyhow::Result<Sample> {
    let v = t.netcopy_json("run", mode, size, secs, &["--rx", rx, PIN[0], PIN[1]])?;
    let c = &v["connections"][0];
    let per_kib = |end: &str| -> anyhow::Result<f64> {
        let cpu = c[end]["cpu_ns"].as_f64().context("no cpu_ns")?;
        let bytes = c[end]["bytes"].as_f64().context("no bytes")?;
        Ok(cpu * 1024.0 / bytes.max(1.0))
    };
    let z = &v["rx_zerocopy"];
    let mapped = z["mapped_bytes"].as_f64().map(|m| {
        let copied = z["copied_bytes"].as_f64().unwrap_or_default();
        m / (m + copied).max(1.0)
    });
    Ok(Sample {
        gbps: v["throughput_gbps"]
            .as_f64()
            .context("no throughput_gbps")?,
        send_ns_per_kib: per_kib("sender")?,
        recv_ns_per_kib: per_kib("receiver")?,
        mapped,
    })
}

/// A side: `--mode` and `--rx`.
type Side = (&'static str, &'static str);

/// The comparisons, as (what, A, B).
const PAIRS: [(&str, Side, Side); 3] = [
    ("uring / onecopy", ("onecopy", "copy"), ("uring", "copy")),
    (
        "uringzc / zerocopy",
        ("zerocopy", "copy"),
        ("uringzc", "copy"),
    ),
    (
        "--rx zerocopy / --rx copy (zerocopy sender)",
        ("zerocopy", "copy"),
        ("zerocopy", "zerocopy"),
    ),
];

/// The section's markdown; the uring modes' trace overhead rows go to `push`.
pub fn compare(t: &Tools, opts: &Opts, push: &mut impl FnMut(Row)) -> anyhow::Result<String> {
    let secs = opts.seconds;
    let mut o = String::new();
    let _ = writeln!(o, "{START}\n\n## Copy modes side by side (this sitting)\n");
    let _ = writeln!(
        o,
        "`netcopy run --mode M --rx R --size S --cpu-affinity {}`, one connection, the two sides alternated {} times. Medians; CPU is each end's thread CPU time (user + system) over its data loop per KiB it moved, so the sender's includes the loopback receive softirq that runs in its calls. B/A > 1 means B moved more.\n",
        super::PINNED_CPUS,
        opts.runs
    );
    let _ = writeln!(
        o,
        "| B / A | size | A Gbit/s | B Gbit/s | B/A [paired min-max] | send CPU ns/KiB A, B | recv CPU ns/KiB A, B | B mapped |"
    );
    let _ = writeln!(o, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for size in ["1K", "64K", "1M"] {
        for (what, (am, arx), (bm, brx)) in PAIRS {
            let (a, b) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
            alternate(
                opts.runs,
                &mut [
                    &mut || {
                        let s = one(t, am, arx, size, secs)?;
                        a.borrow_mut().push(s);
                        Ok(s.gbps)
                    },
                    &mut || {
                        let s = one(t, bm, brx, size, secs)?;
                        b.borrow_mut().push(s);
                        Ok(s.gbps)
                    },
                ],
            )?;
            let (a, b) = (a.into_inner(), b.into_inner());
            let med =
                |v: &[Sample], f: fn(&Sample) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
            let paired: Vec<f64> = a.iter().zip(&b).map(|(a, b)| b.gbps / a.gbps).collect();
            let (lo, hi) = bounds(&paired);
            let mapped = if b.iter().any(|s| s.mapped.is_some()) {
                format!("{:.0}%", 100.0 * med(&b, |s| s.mapped.unwrap_or_default()))
            } else {
                "-".into()
            };
            let _ = writeln!(
                o,
                "| {what} | {size} | {:.3} | {:.3} | {:.3} [{lo:.3}-{hi:.3}] | {:.0}, {:.0} | {:.0}, {:.0} | {mapped} |",
                med(&a, |s| s.gbps),
                med(&b, |s| s.gbps),
                med(&b, |s| s.gbps) / med(&a, |s| s.gbps),
                med(&a, |s| s.send_ns_per_kib),
                med(&b, |s| s.send_ns_per_kib),
                med(&a, |s| s.recv_ns_per_kib),
                med(&b, |s| s.recv_ns_per_kib),
            );
        }
    }
    for mode in ["uring", "uringzc"] {
        let v = alternate(
            opts.close_runs(),
            &mut [
                &mut || t.netcopy_gbps("run", mode, "64K", secs, &PIN),
                &mut || t.netcopy_gbps("trace", mode, "64K", secs, &PIN),
                &mut || {
                    bpftrace::under(&bpftrace::hooks_floor(), || {
                        t.netcopy_gbps("run", mode, "64K", secs, &PIN)
                    })
                },
            ],
        )?;
        let [run, traced, floor] = &v[..] else {
            bail!("three sides");
        };
        let rows = [
            ratio_row(
                format!("trace overhead: traced / untraced, {mode} 64K"),
                targets::TRACE_64K_RATIO,
                "run",
                run,
                "trace",
                traced,
            ),
            Row {
                target: "-".into(),
                met: None,
                ..ratio_row(
                    format!(
                        "hook floor: empty bpftrace programs on every hook a trace uses / untraced, {mode} 64K"
                    ),
                    0.0,
                    "run",
                    run,
                    "floor",
                    floor,
                )
            },
            near_hook_floor_64k(mode, run, traced, floor),
        ];
        for row in rows {
            let _ = writeln!(
                o,
                "\n{}: {:.3} ({}; target {}).",
                row.measure,
                row.value.unwrap_or(f64::NAN),
                row.detail,
                row.target
            );
            push(row);
        }
    }
    let _ = writeln!(o, "\n{END}");
    Ok(o)
}

/// Put `section` in place of the one between [`START`] and [`END`] in `text`, or at the end.
pub fn replace_section(text: &str, section: &str) -> String {
    replace_between(text, section, START, END)
}

/// Put `section` in place of the one between the markers `start` and `end` in `text`, or at
/// the end.
pub fn replace_between(text: &str, section: &str, start: &str, end: &str) -> String {
    match (text.find(start), text.find(end)) {
        (Some(a), Some(b)) if b > a => {
            let after = b + end.len();
            let rest = text[after..].strip_prefix('\n').unwrap_or(&text[after..]);
            format!("{}{section}{rest}", &text[..a])
        }
        _ => format!("{}\n{section}", text.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_in_place_or_appended() {
        let new = format!("{START}\nnew\n{END}\n");
        let old = format!("# t\n\nbefore\n{START}\nold\n{END}\nafter\n");
        assert_eq!(
            replace_section(&old, &new),
            format!("# t\n\nbefore\n{START}\nnew\n{END}\nafter\n")
        );
        assert_eq!(replace_section("# t\n", &new), format!("# t\n{new}"));
    }
}
