//! The long trace (issue: "a long trace stays flat"): `netcopy trace` at the highest call
//! rate (twocopy 1K, pinned) for ten minutes, its RSS (VmRSS of /proc/PID/status) read
//! every 10 s. After the first minute it may grow at most [`targets::SOAK_GROWTH`] over
//! its value at one minute. `cargo xtask bench --soak` runs it and rewrites its section of
//! BENCHMARKS.md between [`START`] and [`END`]; it is not part of CI.

use std::{
    fmt::Write as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use super::{PIN, PINNED_CPUS, targets, tools::Tools};

pub const START: &str = "<!-- soak: `cargo xtask bench --soak` rewrites from here -->";
pub const END: &str = "<!-- soak end -->";

/// Length of the trace and the sampling step.
const TRACE: Duration = Duration::from_secs(600);
const STEP: Duration = Duration::from_secs(10);
/// Samples before this are the start-up; the ones after are judged against it.
const SETTLED: Duration = Duration::from_secs(60);

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The growth after [`SETTLED`]: (RSS at the first sample from then on, largest after, the
/// growth as a fraction).
pub fn growth(samples: &[(f64, u64)]) -> Option<(u64, u64, f64)> {
    let mut after = samples.iter().filter(|(t, _)| *t >= SETTLED.as_secs_f64());
    let (_, base) = *after.next()?;
    let top = after.map(|(_, r)| *r).max().unwrap_or(base).max(base);
    Some((base, top, top as f64 / base.max(1) as f64 - 1.0))
}

/// Run the soak and return its section.
pub fn soak(t: &Tools) -> anyhow::Result<String> {
    let dir = t.tmp.join("soak");
    let secs = format!("{}s", TRACE.as_secs());
    let mut child = Command::new(&t.netcopy)
        .args([
            "trace",
            "--mode",
            "twocopy",
            "--size",
            "1K",
            "--duration",
            &secs,
        ])
        .args([
            "--warmup", "0", "--force", "--json", PIN[0], PIN[1], "--out",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("netcopy trace")?;
    let pid = child.id();
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut next = STEP;
    while child.try_wait()?.is_none() {
        if started.elapsed() >= next {
            if let Some(kib) = rss_kib(pid) {
                println!(
                    "bench: soak {:>4.0} s  RSS {:.1} MiB",
                    started.elapsed().as_secs_f64(),
                    kib as f64 / 1024.0
                );
                samples.push((started.elapsed().as_secs_f64(), kib));
            }
            next += STEP;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let ended = started.elapsed().as_secs_f64();
    let out = child.wait_with_output()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!("the soak trace failed ({})", out.status);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("trace JSON")?;
    let Some((base, top, grew)) = growth(&samples) else {
        bail!("no RSS samples after {} s", SETTLED.as_secs());
    };
    let mib = |k: u64| k as f64 / 1024.0;
    let mut o = String::new();
    let _ = writeln!(o, "{START}\n\n## A long trace (this sitting)\n");
    let _ = writeln!(
        o,
        "`netcopy trace --mode twocopy --size 1K --duration {secs} --cpu-affinity {PINNED_CPUS}` (the highest call rate), VmRSS read every {} s until it exited, {:.0} s after its {secs} (writing the footers, and joining syscalls.parquet's parts: docs/schema.md). {} calls traced, {} records lost.\n",
        STEP.as_secs(),
        ended - TRACE.as_secs_f64(),
        v["send_calls"]["sendto"].as_u64().unwrap_or(0)
            + v["recv_calls"]["recvfrom"].as_u64().unwrap_or(0),
        v["probe"]["lost"],
    );
    let _ = writeln!(
        o,
        "RSS at {} s {:.1} MiB, largest after {:.1} MiB: growth {:.2}% (target <= {:.0}%: {}).\n",
        SETTLED.as_secs(),
        mib(base),
        mib(top),
        grew * 100.0,
        targets::SOAK_GROWTH * 100.0,
        if grew <= targets::SOAK_GROWTH {
            "met"
        } else {
            "NOT MET"
        }
    );
    let _ = writeln!(o, "| s | RSS MiB |\n| ---: | ---: |");
    for (s, kib) in &samples {
        let _ = writeln!(o, "| {s:.0} | {:.1} |", mib(*kib));
    }
    let _ = writeln!(o, "\n{END}");
    println!(
        "bench: soak growth after {} s: {:.2}% ({:.1} -> {:.1} MiB)",
        SETTLED.as_secs(),
        grew * 100.0,
        mib(base),
        mib(top)
    );
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_judged_from_the_first_minute_on() {
        let samples = [
            (10.0, 500),
            (50.0, 900),
            (60.0, 1000),
            (70.0, 1030),
            (80.0, 1010),
        ];
        let (base, top, grew) = growth(&samples).unwrap_or_else(|| panic!("none"));
        assert_eq!((base, top), (1000, 1030));
        assert!((grew - 0.03).abs() < 1e-9);
        assert_eq!(growth(&[(10.0, 1)]), None);
    }
}
