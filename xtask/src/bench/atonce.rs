//! The C loop and `netcopy run --no-verify` at the same time on the same CPUs: the two
//! senders share one CPU and the two receivers the other, and each sender's CPU time per
//! message is compared. Beside it, the C loop at once with a second copy of itself in
//! netcopy's place: what this instrument reads for two programs that are the same.
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
    table::{Row, median, median_interval, spread},
    targets,
    tools::{Tools, json_of, per_message},
};

/// Rounds of each pairing in a full bench, and each round's window. By hand (2026-12-05), a
/// round's C/netcopy spread by 1.4% (sd) with 2 s windows, and 24 rounds put the median's
/// 95% interval at about +-0.7 points: many short rounds resolve the median better than the
/// 5 rounds of 5 s the other close comparisons get.
const ROUNDS: usize = 16;
const WINDOW_S: f64 = 2.0;

/// One round's two sides, started in turn: the one in netcopy's place first in even rounds.
/// By hand, which program started first moved a series' median by about 1% (in one series of
/// 24 rounds, C/netcopy was 1.000 with the C loop first and 0.988 with netcopy first), as much
/// as these rows measure, so the order alternates in both pairings alike.
fn start_both<A, B>(
    round: usize,
    netcopys_place: impl FnOnce() -> anyhow::Result<A>,
    c_loops_place: impl FnOnce() -> anyhow::Result<B>,
) -> anyhow::Result<(A, B)> {
    if round.is_multiple_of(2) {
        let a = netcopys_place()?;
        Ok((a, c_loops_place()?))
    } else {
        let b = c_loops_place()?;
        Ok((netcopys_place()?, b))
    }
}

/// Three rows per copy mode: netcopy against the C loop (judged at [`targets::C_LOOP_RATIO`]),
/// the C loop against itself in the same places (the instrument's parity), and how many
/// points the first falls below the second (judged at [`targets::C_LOOP_POINTS`]). The two
/// pairings alternate round by round, so both see the same drift of the host.
pub fn at_once(
    t: &Tools,
    c: &CProgs,
    opts: &Opts,
    push: &mut impl FnMut(Row),
) -> anyhow::Result<()> {
    let pinned = pinned_cpus()?;
    let (rounds, window) = if opts.runs > 1 {
        (ROUNDS, WINDOW_S)
    } else {
        (1, opts.seconds)
    };
    let secs = format!("{window}s");
    for mode in ["twocopy", "onecopy"] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut twin, mut alone) = (Vec::new(), Vec::new());
        for round in 0..rounds {
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
            let cloop = || c.loop_start(mode, 1024, window + 1.3, Some(pinned));
            let (ours_run, cloop_run) = start_both(round, netcopy, cloop)?;
            let out = ours_run.wait_with_output().context("wait for netcopy")?;
            theirs.push(cloop_run.sender_ns_per_message()?);
            ours.push(sender_ns_per_message(&json_of(&out, "netcopy run")?)?);

            let (twin_run, cloop_run) = start_both(round, cloop, cloop)?;
            alone.push(cloop_run.sender_ns_per_message()?);
            twin.push(twin_run.sender_ns_per_message()?);
        }
        let judged = row(mode, &ours, &theirs);
        let parity = twin_row(mode, &twin, &alone);
        let beyond = beyond_row(mode, judged.value, parity.value);
        push(judged);
        push(parity);
        push(beyond);
    }
    Ok(())
}

/// The sender's CPU nanoseconds per message in a `netcopy run --json` of one connection.
fn sender_ns_per_message(v: &serde_json::Value) -> anyhow::Result<f64> {
    let sender = &v["connections"][0]["sender"];
    per_message(sender, "cpu_ns", "messages", "netcopy run's sender")
}

/// Each round's `theirs / ours`, their median, and the text of both sides and the ratios.
fn ratios(ours: &[f64], theirs: &[f64]) -> (f64, String) {
    let each: Vec<f64> = ours.iter().zip(theirs).map(|(n, c)| c / n).collect();
    let interval = match median_interval(&each) {
        Some((lo, hi)) => format!(", the median's 95% interval {lo:.3}-{hi:.3}"),
        None => String::new(),
    };
    let text = format!(
        "{} rounds, each round {}{interval}",
        each.len(),
        spread(&each)
    );
    (median(&each), text)
}

/// The judged row: the median of each round's C/netcopy, since a round's two sides shared the
/// host.
fn row(mode: &str, ours: &[f64], theirs: &[f64]) -> Row {
    let (r, each) = ratios(ours, theirs);
    Row {
        measure: format!(
            "sender CPU per message: the C loop's / `netcopy run --no-verify --cpu-affinity {PINNED_CPUS}`'s, {mode} 1K, both at once on the same CPUs"
        ),
        target: format!(">= {:.2}x", targets::C_LOOP_RATIO),
        detail: format!(
            "netcopy {} / C {} ns per message; C/netcopy over {each}",
            spread(ours),
            spread(theirs),
        ),
        value: Some(r),
        unit: "x",
        met: Some(r >= targets::C_LOOP_RATIO),
    }
}

/// The C loop at once with a copy of itself started in netcopy's place: what the row above
/// reads for a program no dearer than the C loop.
fn twin_row(mode: &str, twin: &[f64], alone: &[f64]) -> Row {
    let (r, each) = ratios(twin, alone);
    Row {
        measure: format!(
            "sender CPU per message: the C loop's / a second C loop's in netcopy's place, {mode} 1K, both at once on the same CPUs (the parity this instrument reads)"
        ),
        target: "-".into(),
        detail: format!(
            "the copy in netcopy's place {} / the C loop {} ns per message; C/C over {each}",
            spread(twin),
            spread(alone),
        ),
        value: Some(r),
        unit: "x",
        met: None,
    }
}

/// Points the C/netcopy median falls below the C loop's own against itself (0 when it does
/// not): the next-best target where 1.00 itself is inside what the twin row spreads by.
fn beyond_row(mode: &str, ours: Option<f64>, parity: Option<f64>) -> Row {
    let points = match (ours, parity) {
        (Some(n), Some(p)) if n.is_finite() && p.is_finite() => Some(((p - n) * 100.0).max(0.0)),
        _ => None,
    };
    let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    Row::at_most(
        format!(
            "netcopy at once against the C loop, below the C loop at once against itself, {mode} 1K"
        ),
        targets::C_LOOP_POINTS,
        "points",
        format!(
            "C/netcopy {}, C/C {}; points below the C loop's own ratio (0 when above)",
            show(ours),
            show(parity)
        ),
        points,
        "points",
    )
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
            slower
                .detail
                .contains("C/netcopy over 3 rounds, each round 0.995"),
            "{}",
            slower.detail
        );
        // Too few rounds for a 95% interval of the median: none is claimed.
        assert!(!slower.detail.contains("interval"), "{}", slower.detail);
        let ours = [1000.0; 6];
        let theirs = [990.0, 995.0, 1001.0, 1004.0, 998.0, 1010.0];
        let six = super::row("twocopy", &ours, &theirs);
        assert!(
            six.detail.contains("the median's 95% interval 0.990-1.010"),
            "{}",
            six.detail
        );
    }

    #[test]
    fn netcopy_is_judged_against_the_c_loop_at_once_with_itself() {
        // The C loop against its twin: the copy in netcopy's place cost 1% more.
        let parity = twin_row("onecopy", &[1010.0; 6], &[1000.0; 6]);
        let p = parity.value.unwrap();
        assert!((p - 1000.0 / 1010.0).abs() < 1e-9, "{p}");
        assert_eq!(parity.met, None, "the twin row is not judged");
        assert!(
            parity.detail.contains("C/C over 6 rounds"),
            "{}",
            parity.detail
        );
        // netcopy 0.5 points below that parity: met; 1.5 points below: not; above: 0 points.
        let within = beyond_row("onecopy", Some(p - 0.005), Some(p));
        assert!(
            (within.value.unwrap() - 0.5).abs() < 1e-9,
            "{:?}",
            within.value
        );
        assert_eq!(within.met, Some(true));
        let below = beyond_row("onecopy", Some(p - 0.015), Some(p));
        assert_eq!(below.met, Some(false), "{}", below.detail);
        let above = beyond_row("onecopy", Some(1.02), Some(p));
        assert_eq!(above.value, Some(0.0));
        // A side that was not measured gives no number and no verdict, not a pass.
        let unmeasured = beyond_row("onecopy", Some(f64::NAN), Some(p));
        assert_eq!((unmeasured.value, unmeasured.met), (None, None));
    }

    #[test]
    fn the_side_in_netcopys_place_starts_first_in_even_rounds() {
        for round in 0..4 {
            let order = std::cell::RefCell::new(Vec::new());
            let (a, b) = start_both(
                round,
                || {
                    order.borrow_mut().push("netcopy's place");
                    Ok(1)
                },
                || {
                    order.borrow_mut().push("C loop's place");
                    Ok(2)
                },
            )
            .unwrap();
            // Whatever the order, each side comes back in its own place.
            assert_eq!((a, b), (1, 2));
            let first = order.borrow()[0];
            let want = if round.is_multiple_of(2) {
                "netcopy's place"
            } else {
                "C loop's place"
            };
            assert_eq!(first, want, "round {round}");
        }
        // A side that fails to start is an error, not a half round.
        let r: anyhow::Result<(u8, u8)> = start_both(1, || Ok(1), || anyhow::bail!("no C loop"));
        assert!(r.is_err());
    }

    #[test]
    fn a_run_without_a_sender_is_an_error_not_a_number() {
        let v = serde_json::json!({"connections": [{"sender": {"cpu_ns": 5, "messages": 0}}]});
        assert!(sender_ns_per_message(&v).is_err());
        let v = serde_json::json!({"connections": [{"sender": {"cpu_ns": 3000, "messages": 2}}]});
        assert_eq!(sender_ns_per_message(&v).unwrap(), 1500.0);
    }
}
