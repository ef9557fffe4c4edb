//! Tracing under load: a getpid neighbour (`c/getpid.c`) runs beside `netcopy run` and
//! beside `netcopy trace`, onecopy 1K, alternated. netcopy's syscall programs sit on
//! raw_syscalls, so they run for every syscall of every process; this measures what that
//! costs the neighbour, and checks that netcopy's counts stay exact while it runs.

use anyhow::Context;
use serde_json::Value;

use super::{
    Opts, PIN,
    cprogs::CProgs,
    table::{Row, median, spread},
    tools::Tools,
};

/// One side: the neighbour's calls/s while `verb` runs, and netcopy's summary.
fn side(t: &Tools, c: &CProgs, verb: &str, secs: f64) -> anyhow::Result<(f64, Value)> {
    let d = format!("{secs}s");
    let out = t.tmp.join("neighbour");
    let out = out.to_string_lossy();
    let mut args = vec![
        verb,
        "--mode",
        "onecopy",
        "--size",
        "1K",
        "--duration",
        &d,
        "--warmup",
        "1s",
        "--json",
    ];
    args.extend(PIN);
    if verb == "trace" {
        args.extend(["--out", &out, "--force"]);
    }
    // The neighbour covers netcopy's warm-up and window.
    let n = c.neighbour(secs + 1.0)?;
    let summary = t.netcopy(&args)?;
    Ok((n.rate()?, summary))
}

/// Whether every workload count equals the kernel's and no record was lost.
fn exact(summary: &Value) -> anyhow::Result<bool> {
    let probe = &summary["probe"];
    let threads = probe["threads"].as_array().context("no probe.threads")?;
    let lost = probe["lost"].as_u64().context("no probe.lost")?;
    Ok(lost == 0
        && !threads.is_empty()
        && threads
            .iter()
            .all(|t| t["workload"] == t["kernel"] && t["kernel"] == t["records"]))
}

pub fn under_load(
    t: &Tools,
    c: &CProgs,
    opts: &Opts,
    push: &mut impl FnMut(Row),
) -> anyhow::Result<()> {
    let (mut beside_run, mut beside_trace) = (Vec::new(), Vec::new());
    let mut all_exact = true;
    for _ in 0..opts.runs {
        beside_run.push(side(t, c, "run", opts.seconds)?.0);
        let (rate, summary) = side(t, c, "trace", opts.seconds)?;
        beside_trace.push(rate);
        all_exact &= exact(&summary)?;
    }
    let r = median(&beside_trace) / median(&beside_run);
    push(Row {
        measure: "getpid neighbour's calls/s beside `netcopy trace` / beside `run`, onecopy 1K"
            .into(),
        target: "-".into(),
        detail: format!(
            "beside trace {} / beside run {} calls/s (neighbour unpinned, netcopy pinned {})",
            spread(&beside_trace),
            spread(&beside_run),
            PIN[1]
        ),
        value: Some(r),
        unit: "x",
        met: None,
    });
    push(Row {
        measure: "counts exact beside the getpid neighbour (workload = kernel = records)".into(),
        target: "all runs, 0 lost".into(),
        detail: format!("{} traced runs", opts.runs),
        value: None,
        unit: "",
        met: Some(all_exact),
    });
    Ok(())
}
