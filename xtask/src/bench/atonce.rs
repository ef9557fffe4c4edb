//! The C loop and `netcopy run --no-verify` at the same time on the same CPUs: the two
//! senders share one CPU and the two receivers the other, and each sender's CPU time per
//! message is compared.
//!
//! Why: the alternated throughput row against the C loop is judged at 1.00, but its single
//! runs on this VM spread by several points while the two sides differ by about one. Two
//! programs running at once feel the same host, so the host's drift cancels from their ratio.
//! The ratio is C's CPU nanoseconds per message over netcopy's, so above 1 means netcopy
//! spends less CPU per message than the C loop.

use std::process::{Command, Stdio};

use anyhow::Context;

use super::{
    Opts, PIN, PINNED_CPUS,
    cprogs::CProgs,
    pinned_cpus,
    table::{Row, median, spread},
    targets,
    tools::{Tools, json_of, per_message},
};

/// One row per copy mode; [`Opts::close_runs`] rounds of `seconds` each. Which program starts
/// first alternates from round to round: by hand, the one started second cost about 1% more
/// per message in some series, which is as large as what this row measures.
pub fn at_once(
    t: &Tools,
    c: &CProgs,
    opts: &Opts,
    push: &mut impl FnMut(Row),
) -> anyhow::Result<()> {
    let pinned = pinned_cpus()?;
    let secs = format!("{}s", opts.seconds);
    for mode in ["twocopy", "onecopy"] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..opts.close_runs() {
            let netcopy = || {
                Command::new(&t.netcopy)
                    .args(["run", "--mode", mode, "--size", "1K", "--duration", &secs])
                    .args(["--warmup", "1s", "--json", "--no-verify", PIN[0], PIN[1]])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .context("run netcopy")
            };
            // The C loop runs as long as netcopy's sender: 1 s of warmup, the window, and the
            // 0.3 s tail it sends past the window (netcopy's `client::TAIL`). Either program
            // running alone costs less per message, so the overlap must be whole.
            let cloop = || c.loop_start(mode, 1024, opts.seconds + 1.3, Some(pinned));
            let (ours_run, cloop_run) = if round % 2 == 0 {
                let n = netcopy()?;
                (n, cloop()?)
            } else {
                let l = cloop()?;
                (netcopy()?, l)
            };
            let out = ours_run.wait_with_output().context("wait for netcopy")?;
            theirs.push(cloop_run.sender_ns_per_message()?);
            ours.push(sender_ns_per_message(&json_of(&out, "netcopy run")?)?);
        }
        push(row(mode, &ours, &theirs));
    }
    Ok(())
}

/// The sender's CPU nanoseconds per message in a `netcopy run --json` of one connection.
fn sender_ns_per_message(v: &serde_json::Value) -> anyhow::Result<f64> {
    let sender = &v["connections"][0]["sender"];
    per_message(sender, "cpu_ns", "messages", "netcopy run's sender")
}

/// The judged row: the median of each round's C/netcopy, since a round's two sides shared the
/// host.
fn row(mode: &str, ours: &[f64], theirs: &[f64]) -> Row {
    let each: Vec<f64> = ours.iter().zip(theirs).map(|(n, c)| c / n).collect();
    let r = median(&each);
    Row {
        measure: format!(
            "sender CPU per message: the C loop's / `netcopy run --no-verify --cpu-affinity {PINNED_CPUS}`'s, {mode} 1K, both at once on the same CPUs"
        ),
        target: format!(">= {:.2}x", targets::C_LOOP_RATIO),
        detail: format!(
            "netcopy {} / C {} ns per message; each round C/netcopy {}",
            spread(ours),
            spread(theirs),
            spread(&each)
        ),
        value: Some(r),
        unit: "x",
        met: Some(r >= targets::C_LOOP_RATIO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_takes_the_median_of_each_rounds_ratio() {
        // Round 2 is a slow moment for both sides; each round's own ratio is what counts.
        let row = row(
            "onecopy",
            &[1000.0, 2000.0, 1010.0],
            &[990.0, 2100.0, 1030.0],
        );
        let r = row.value.unwrap();
        assert!((r - 1030.0 / 1010.0).abs() < 1e-9, "{r}");
        assert_eq!(row.met, Some(true));
        let slower = super::row(
            "onecopy",
            &[1000.0, 1000.0, 1000.0],
            &[990.0, 995.0, 1001.0],
        );
        assert_eq!(slower.met, Some(false), "{}", slower.detail);
        assert!(
            slower.detail.contains("each round C/netcopy 0.995"),
            "{}",
            slower.detail
        );
    }

    #[test]
    fn a_run_without_a_sender_is_an_error_not_a_number() {
        let v = serde_json::json!({"connections": [{"sender": {"cpu_ns": 5, "messages": 0}}]});
        assert!(sender_ns_per_message(&v).is_err());
        let v = serde_json::json!({"connections": [{"sender": {"cpu_ns": 3000, "messages": 2}}]});
        assert_eq!(sender_ns_per_message(&v).unwrap(), 1500.0);
    }
}
