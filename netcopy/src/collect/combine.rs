//! How the exact and the sampled stage times of a set of calls combine into one table.
//!
//! Inputs: the calls' on-CPU ns (wall minus switched-out time, from the records), their
//! stack samples per stage, and the stages timed exactly: by the bracket tracepoints
//! (`tracepoint`: rx_softirq, tx_softirq, dev_xmit) or by fentry/fexit (`fentry`).
//!
//! - An exactly timed stage takes its time from its timer.
//! - The sampled stages share what is left of the on-CPU time in proportion to their
//!   samples: `est_ns = (oncpu_ns - exact ns) * samples / samples of the sampled stages`.
//! - `share` stays every stage's share of all samples; beside an exactly timed stage's
//!   sampled share goes its exact share (`exact_ns / oncpu_ns`) and the difference in points,
//!   the skew of sampling on this machine for that stage.
//!
//! The exact stages never count one ns twice (a transmit inside a softirq is the transmit's,
//! see netcopy-ebpf/src/brackets.rs), so their sum is at most the on-CPU time. Rounding of
//! the clock reads aside; what is left is clamped at 0.

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
    /// Exactly timed stages: their ns over the on-CPU time.
    pub exact_share: Option<f64>,
    /// Exactly timed stages: `share - exact_share`, in percentage points.
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

/// Combine `table`'s samples with the `exact` stage times of calls that ran `oncpu` on a
/// CPU. Stages with neither samples nor exact time are left out.
pub fn combine(
    table: &StageTable,
    oncpu: OnCpu,
    exact: &[(Stage, u64, StageMethod)],
) -> Vec<Combined> {
    let oncpu_ns = match oncpu {
        OnCpu::Calls(ns) => ns,
        OnCpu::Period(period) => table.total().saturating_mul(period),
    };
    let timed = |s: Stage| exact.iter().find(|(e, _, _)| *e == s);
    let exact_ns: u64 = exact.iter().map(|(_, ns, _)| ns).sum();
    let rest = oncpu_ns.saturating_sub(exact_ns);
    let pool: u64 = Stage::ALL
        .into_iter()
        .filter(|s| timed(*s).is_none())
        .map(|s| table.get(s))
        .sum();
    let total = table.total();
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    Stage::ALL
        .into_iter()
        .filter_map(|stage| {
            let samples = table.get(stage);
            match timed(stage) {
                Some(&(_, ns, method)) if samples > 0 || ns > 0 => {
                    let exact_share = (oncpu_ns > 0).then(|| ns as f64 / oncpu_ns as f64);
                    Some(Combined {
                        stage,
                        samples,
                        share: share(samples),
                        est_ns: ns,
                        method,
                        exact_share,
                        skew_pts: exact_share
                            .filter(|_| total > 0)
                            .map(|e| 100.0 * (share(samples) - e)),
                    })
                }
                Some(_) => None,
                None if samples > 0 => Some(Combined {
                    stage,
                    samples,
                    share: share(samples),
                    est_ns: (u128::from(rest) * u128::from(samples) / u128::from(pool.max(1)))
                        as u64,
                    method: StageMethod::Sampled,
                    exact_share: None,
                    skew_pts: None,
                }),
                None => None,
            }
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

    #[test]
    fn sampled_stages_share_the_on_cpu_time_the_brackets_leave() {
        let t = table(&[
            (Stage::CopyUserToSkb, 60),
            (Stage::TcpTx, 20),
            (Stage::RxSoftirq, 20),
        ]);
        // 10 ms on CPU, 3 ms of it in NET_RX softirqs, 1 ms in transmits (no samples).
        let rows = combine(
            &t,
            OnCpu::Calls(10_000_000),
            &[
                (Stage::RxSoftirq, 3_000_000, StageMethod::Tracepoint),
                (Stage::DevXmit, 1_000_000, StageMethod::Tracepoint),
            ],
        );
        let at = |s| rows.iter().find(|r| r.stage == s).unwrap();
        // 6 ms left, split 60:20 between the two sampled stages.
        assert_eq!(at(Stage::CopyUserToSkb).est_ns, 4_500_000);
        assert_eq!(at(Stage::TcpTx).est_ns, 1_500_000);
        assert_eq!(at(Stage::CopyUserToSkb).method, StageMethod::Sampled);
        let rx = at(Stage::RxSoftirq);
        assert_eq!((rx.est_ns, rx.method), (3_000_000, StageMethod::Tracepoint));
        assert_eq!(rx.exact_share, Some(0.3));
        // Sampled at 20% against 30% exact: 10 points under.
        assert!((rx.skew_pts.unwrap() + 10.0).abs() < 1e-9);
        // A bracketed stage with no sample is still in the table, all its share missed.
        let xmit = at(Stage::DevXmit);
        assert_eq!((xmit.samples, xmit.est_ns), (0, 1_000_000));
        assert!((xmit.skew_pts.unwrap() + 10.0).abs() < 1e-9);
        let total: u64 = rows.iter().map(|r| r.est_ns).sum();
        assert_eq!(total, 10_000_000, "the stages add up to the on-CPU time");
    }

    #[test]
    fn without_exact_stages_the_samples_split_all_of_the_on_cpu_time() {
        let t = table(&[(Stage::CopySkbToUser, 3), (Stage::Wait, 1)]);
        let rows = combine(&t, OnCpu::Calls(8_000), &[]);
        // Without the calls' on-CPU time, each sample stands for one sampling period.
        let by_period = combine(&t, OnCpu::Period(1_000), &[]);
        assert_eq!((by_period[0].est_ns, by_period[1].est_ns), (3_000, 1_000));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].est_ns, 6_000);
        assert_eq!(rows[1].est_ns, 2_000);
        assert!(
            rows.iter()
                .all(|r| r.skew_pts.is_none() && r.exact_share.is_none())
        );
    }

    #[test]
    fn exact_time_beyond_the_on_cpu_time_leaves_the_sampled_stages_nothing() {
        let t = table(&[(Stage::TcpTx, 5), (Stage::RxSoftirq, 5)]);
        let rows = combine(
            &t,
            OnCpu::Calls(1_000),
            &[(Stage::RxSoftirq, 1_200, StageMethod::Tracepoint)],
        );
        assert_eq!(rows[0].stage, Stage::TcpTx);
        assert_eq!(rows[0].est_ns, 0);
        // No samples at all: shares are 0 and no skew can be said.
        let rows = combine(
            &StageTable::default(),
            OnCpu::Calls(1_000),
            &[(Stage::DevXmit, 10, StageMethod::Tracepoint)],
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].skew_pts, None);
    }
}
