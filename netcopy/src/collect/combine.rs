//! How the exact and the sampled stage times of a set of calls combine into one table.
//!
//! Inputs: the calls' on-CPU ns (wall minus switched-out time, from the records), their
//! stack samples per stage and, of those, the ones that fell inside each bracket (a
//! `net_rx_action`, `net_tx_action` or `dev_hard_start_xmit` frame on the stack), and the
//! stretches timed exactly: by the bracket tracepoints (`tracepoint`: the NET_RX and NET_TX
//! softirqs and the device transmits in the call) or by fentry/fexit (`fentry`).
//!
//! - A bracket's exact time goes to the stages of the samples inside it, in proportion to
//!   them: a deferred copy inside the loopback receive softirq keeps its own row, and its
//!   time comes out of the softirq's exact total.
//! - An fentry stage takes its function's time.
//! - The samples outside every bracket share what is left of the on-CPU time, in proportion
//!   to their counts.
//!
//! So the stages add up to the on-CPU time (to a few ns of rounding) and no ns is counted
//! twice. Each exactly timed stretch is also compared with sampling: the share of all
//! samples that fell inside it against its exact share of the on-CPU time, the difference
//! in points being the skew of sampling on this machine (a bracket's on its own stage's row).

use netcopy_common::{brackets, exact, stage::Stage};
use serde::Serialize;

use super::stages::StageTable;
use crate::model::SyscallSummary;

/// Where a stage's time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageMethod {
    /// Between two tracepoints, exact.
    Tracepoint,
    /// fentry/fexit on the stage's function, exact.
    Fentry,
    /// A share of the on-CPU time not timed exactly, by stack samples.
    Sampled,
}

impl StageMethod {
    pub fn name(self) -> &'static str {
        match self {
            StageMethod::Tracepoint => "tracepoint",
            StageMethod::Fentry => "fentry",
            StageMethod::Sampled => "sampled",
        }
    }
}

/// One stage of the combined table.
#[derive(Clone, Debug, PartialEq)]
pub struct Combined {
    pub stage: Stage,
    pub samples: u64,
    /// Of all the calls' samples.
    pub share: f64,
    pub est_ns: u64,
    pub method: StageMethod,
    /// A bracket's own stage: the bracket's exact ns (which the stages sampled inside it
    /// share); an fentry stage: its function's ns.
    pub exact_ns: Option<u64>,
    /// Where `exact_ns` is: it over the on-CPU time.
    pub exact_share: Option<f64>,
    /// Where `exact_ns` is: the sampled share of the same stretch (a bracket's: all the
    /// samples inside it) minus `exact_share`, in percentage points.
    pub skew_pts: Option<f64>,
}

/// The exactly timed stages of `rows` (calls of one role, of one or several kinds), summed:
/// a stage is in only where every row has its time (a tier that missed calls makes the
/// total unknown, not smaller). Brackets first; fentry where no bracket times the stage.
pub fn exact_of(rows: &[&SyscallSummary]) -> Vec<(Stage, u64, StageMethod)> {
    let sum = |get: &dyn Fn(&SyscallSummary) -> Option<u64>| -> Option<u64> {
        rows.iter().map(|r| get(r)).sum::<Option<u64>>()
    };
    let mut out = Vec::new();
    if rows.is_empty() {
        return out;
    }
    for (_, stage) in brackets::STAGES {
        if let Some(ns) = sum(&|r| r.bracket_ns.as_ref()?.get(stage.name()).copied()) {
            out.push((stage, ns, StageMethod::Tracepoint));
        }
    }
    for stage in Stage::ALL {
        if out.iter().any(|(s, _, _)| *s == stage) {
            continue;
        }
        let Some(timed) = exact::of_stage(stage) else {
            continue;
        };
        if let Some(ns) = sum(&|r| r.exact_ns.as_ref()?.get(timed.function).copied()) {
            out.push((stage, ns, StageMethod::Fentry));
        }
    }
    out
}

/// The on-CPU time samples are combined with: the calls' own (`Calls`), or, for threads
/// sampled whose calls have no summary (threads of no role), samples × the sampling period.
#[derive(Clone, Copy, Debug)]
pub enum OnCpu {
    Calls(u64),
    Period(u64),
}

impl OnCpu {
    /// `Calls` of `rows`' on-CPU time, `Period(period_ns)` when there are no rows.
    pub fn of(rows: &[&SyscallSummary], period_ns: u64) -> Self {
        if rows.is_empty() {
            OnCpu::Period(period_ns)
        } else {
            OnCpu::Calls(rows.iter().map(|r| r.oncpu_ns).sum())
        }
    }
}

/// The samples that fell inside each bracket, in `brackets::STAGES` order (the same as
/// `stages::SCOPES`).
pub type Scopes = [StageTable; brackets::STAGES.len()];

/// Combine `table`'s samples (of which `scopes` fell inside the brackets) with the `exact`
/// stage times of calls that ran `oncpu` on a CPU. Stages with neither samples nor time
/// are left out.
pub fn combine(
    table: &StageTable,
    scopes: &Scopes,
    oncpu: OnCpu,
    exact: &[(Stage, u64, StageMethod)],
) -> Vec<Combined> {
    let oncpu_ns = match oncpu {
        OnCpu::Calls(ns) => ns,
        OnCpu::Period(period) => table.total().saturating_mul(period),
    };
    let total = table.total();
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    let split = |ns: u64, part: u64, whole: u64| {
        (u128::from(ns) * u128::from(part) / u128::from(whole.max(1))) as u64
    };
    let mut est = [0u64; Stage::ALL.len()];
    // (exact ns, samples of the same stretch) of each stage timed exactly.
    let mut timed: [Option<(u64, u64, StageMethod)>; Stage::ALL.len()] = [None; Stage::ALL.len()];
    // Each bracket's time goes to the stages of the samples inside it; those samples are
    // then accounted for, and the rest share what is left.
    let mut outside = table.clone();
    for ((_, stage), inside) in brackets::STAGES.iter().zip(scopes) {
        let Some(&(_, ns, method)) = exact
            .iter()
            .find(|(s, _, m)| s == stage && *m == StageMethod::Tracepoint)
        else {
            continue;
        };
        outside.subtract(inside);
        let n = inside.total();
        if n == 0 {
            est[*stage as usize] += ns;
        } else {
            for s in Stage::ALL {
                est[s as usize] += split(ns, inside.get(s), n);
            }
        }
        timed[*stage as usize] = Some((ns, n, method));
    }
    let fentry = |s: Stage| {
        exact
            .iter()
            .find(|(e, _, m)| *e == s && *m == StageMethod::Fentry)
            .map(|&(_, ns, _)| ns)
    };
    for s in Stage::ALL {
        if timed[s as usize].is_none()
            && let Some(ns) = fentry(s)
        {
            est[s as usize] = ns;
            timed[s as usize] = Some((ns, table.get(s), StageMethod::Fentry));
        }
    }
    let exact_ns: u64 = timed.iter().flatten().map(|(ns, _, _)| ns).sum();
    let rest = oncpu_ns.saturating_sub(exact_ns);
    let is_fentry = |s: Stage| matches!(timed[s as usize], Some((_, _, StageMethod::Fentry)));
    let pool: u64 = Stage::ALL
        .into_iter()
        .filter(|s| !is_fentry(*s))
        .map(|s| outside.get(s))
        .sum();
    for s in Stage::ALL.into_iter().filter(|s| !is_fentry(*s)) {
        est[s as usize] += split(rest, outside.get(s), pool);
    }
    Stage::ALL
        .into_iter()
        .filter_map(|stage| {
            let samples = table.get(stage);
            let est_ns = est[stage as usize];
            let t = timed[stage as usize];
            if samples == 0 && est_ns == 0 && t.is_none_or(|(ns, _, _)| ns == 0) {
                return None;
            }
            let exact_share =
                t.and_then(|(ns, _, _)| (oncpu_ns > 0).then(|| ns as f64 / oncpu_ns as f64));
            Some(Combined {
                stage,
                samples,
                share: share(samples),
                est_ns,
                method: t.map_or(StageMethod::Sampled, |(_, _, m)| m),
                exact_ns: t.map(|(ns, _, _)| ns),
                exact_share,
                skew_pts: t
                    .zip(exact_share)
                    .filter(|_| total > 0)
                    .map(|((_, n, _), e)| 100.0 * (share(n) - e)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(samples: &[(Stage, u64)]) -> StageTable {
        let mut t = StageTable::default();
        for &(s, n) in samples {
            t.add(s, n);
        }
        t
    }

    const NONE: Scopes = [StageTable::EMPTY, StageTable::EMPTY, StageTable::EMPTY];

    #[test]
    fn a_brackets_time_goes_to_the_stages_sampled_inside_it() {
        // 100 samples: 40 inside the receive softirq (30 its own frames, 10 a deferred
        // copy under it), 60 outside (copy 45, tcp_tx 15).
        let all = table(&[
            (Stage::CopyUserToSkb, 45),
            (Stage::TcpTx, 15),
            (Stage::RxSoftirq, 30),
            (Stage::DeferredCopy, 10),
        ]);
        let rx = table(&[(Stage::RxSoftirq, 30), (Stage::DeferredCopy, 10)]);
        let scopes = [rx, StageTable::EMPTY, StageTable::EMPTY];
        // 10 ms on CPU, 5 ms of it in NET_RX softirqs, 1 ms in transmits (no samples).
        let rows = combine(
            &all,
            &scopes,
            OnCpu::Calls(10_000_000),
            &[
                (Stage::RxSoftirq, 5_000_000, StageMethod::Tracepoint),
                (Stage::DevXmit, 1_000_000, StageMethod::Tracepoint),
            ],
        );
        let at = |s| rows.iter().find(|r| r.stage == s).unwrap();
        // The softirq's 5 ms split 30:10 inside it.
        assert_eq!(at(Stage::RxSoftirq).est_ns, 3_750_000);
        assert_eq!(at(Stage::DeferredCopy).est_ns, 1_250_000);
        // 4 ms left, split 45:15 outside.
        assert_eq!(at(Stage::CopyUserToSkb).est_ns, 3_000_000);
        assert_eq!(at(Stage::TcpTx).est_ns, 1_000_000);
        let rx = at(Stage::RxSoftirq);
        assert_eq!(rx.method, StageMethod::Tracepoint);
        assert_eq!((rx.exact_ns, rx.exact_share), (Some(5_000_000), Some(0.5)));
        // 40% of the samples fell inside a stretch that is 50% of the time: -10 points.
        assert!((rx.skew_pts.unwrap() + 10.0).abs() < 1e-9);
        assert_eq!(at(Stage::DeferredCopy).method, StageMethod::Sampled);
        // A bracket without samples keeps its time and shows it all missed.
        let xmit = at(Stage::DevXmit);
        assert_eq!((xmit.samples, xmit.est_ns), (0, 1_000_000));
        assert!((xmit.skew_pts.unwrap() + 10.0).abs() < 1e-9);
        let total: u64 = rows.iter().map(|r| r.est_ns).sum();
        assert_eq!(total, 10_000_000, "the stages add up to the on-CPU time");
    }

    #[test]
    fn without_brackets_the_samples_split_all_of_the_on_cpu_time() {
        let t = table(&[(Stage::CopySkbToUser, 3), (Stage::Wait, 1)]);
        // Samples inside a bracket's frames that was not timed are just samples.
        let scopes = [
            table(&[(Stage::Wait, 1)]),
            StageTable::EMPTY,
            StageTable::EMPTY,
        ];
        let rows = combine(&t, &scopes, OnCpu::Calls(8_000), &[]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].est_ns, rows[1].est_ns), (6_000, 2_000));
        assert!(
            rows.iter()
                .all(|r| r.skew_pts.is_none() && r.method == StageMethod::Sampled)
        );
        // Without the calls' on-CPU time, each sample stands for one sampling period.
        let by_period = combine(&t, &NONE, OnCpu::Period(1_000), &[]);
        assert_eq!((by_period[0].est_ns, by_period[1].est_ns), (3_000, 1_000));
    }

    #[test]
    fn fentry_stages_take_their_functions_time() {
        let t = table(&[
            (Stage::TcpTx, 6),
            (Stage::DeferredCopy, 2),
            (Stage::Alloc, 2),
        ]);
        let rows = combine(
            &t,
            &NONE,
            OnCpu::Calls(1_000),
            &[(Stage::DeferredCopy, 400, StageMethod::Fentry)],
        );
        let at = |s| rows.iter().find(|r| r.stage == s).unwrap();
        assert_eq!(at(Stage::DeferredCopy).est_ns, 400);
        assert_eq!(at(Stage::DeferredCopy).method, StageMethod::Fentry);
        // 20% sampled against 40% timed.
        assert!((at(Stage::DeferredCopy).skew_pts.unwrap() + 20.0).abs() < 1e-9);
        assert_eq!(
            (at(Stage::TcpTx).est_ns, at(Stage::Alloc).est_ns),
            (450, 150)
        );
    }

    #[test]
    fn exact_time_beyond_the_on_cpu_time_leaves_the_rest_nothing() {
        let t = table(&[(Stage::TcpTx, 5), (Stage::RxSoftirq, 5)]);
        let scopes = [
            table(&[(Stage::RxSoftirq, 5)]),
            StageTable::EMPTY,
            StageTable::EMPTY,
        ];
        let rows = combine(
            &t,
            &scopes,
            OnCpu::Calls(1_000),
            &[(Stage::RxSoftirq, 1_200, StageMethod::Tracepoint)],
        );
        assert_eq!(rows[0].stage, Stage::TcpTx);
        assert_eq!(rows[0].est_ns, 0);
        // No samples at all: no skew can be said.
        let rows = combine(
            &StageTable::default(),
            &NONE,
            OnCpu::Calls(1_000),
            &[(Stage::DevXmit, 10, StageMethod::Tracepoint)],
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].skew_pts, None);
    }

    #[test]
    fn the_scopes_are_in_the_brackets_order() {
        use crate::collect::stages::{SCOPES, scope_of};
        let rx = [
            "do_syscall_64",
            "tcp_sendmsg",
            "net_rx_action",
            "skb_copy_ubufs",
        ];
        assert_eq!(
            scope_of(&rx).map(|k| brackets::STAGES[k].1),
            Some(Stage::RxSoftirq)
        );
        let nested = [
            "net_rx_action",
            "tcp_v4_rcv",
            "dev_hard_start_xmit",
            "loopback_xmit",
        ];
        assert_eq!(
            scope_of(&nested).map(|k| brackets::STAGES[k].1),
            Some(Stage::DevXmit)
        );
        assert_eq!(scope_of(&["tcp_sendmsg", "_copy_from_iter"]), None);
        assert_eq!(SCOPES[1], "net_tx_action");
        assert_eq!(brackets::STAGES[1].1, Stage::TxSoftirq);
    }
}
