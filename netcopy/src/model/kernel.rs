//! What the probes saw: per role and syscall kind, the kernel's totals and latency
//! (`collect::records` builds them from the records), and the sampled kernel time per role
//! and copy stage (`collect::samples`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::role::Role;

/// A traced program's process: its pid (the kernel's tgid) and command name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Process {
    pub pid: u32,
    /// From /proc/PID/comm when netcopy first saw the process; `?` when it had gone.
    pub comm: String,
}

/// Per role and syscall kind (and per process, for `trace --pid/--comm/--cgroup`), what the
/// kernel saw.
#[derive(Clone, Debug, Serialize)]
pub struct SyscallSummary {
    pub role: Role,
    /// The process these calls were made by; null for the built-in workload's ends, which
    /// the role names.
    pub process: Option<Process>,
    pub syscall: &'static str,
    pub calls: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Kernel time per call (entry to exit), from the records.
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    /// On-CPU ns (wall minus switched-out time) per KiB moved; null when no bytes moved.
    pub oncpu_ns_per_kib: Option<f64>,
    /// Wall minus switched-out time, summed over the calls.
    pub oncpu_ns: u64,
    pub offcpu_ns: u64,
    /// `offcpu_ns` by why the threads left the CPU (wmem, data, lock, preempt, other); the
    /// five add up to it.
    pub offcpu_by_reason: BTreeMap<&'static str, u64>,
    /// Counter totals over the calls; null unless every call's counters were read.
    pub cycles: Option<u64>,
    pub instructions: Option<u64>,
    /// Cycles per byte moved; null without counters or bytes.
    pub cycles_per_byte: Option<f64>,
    /// Exact tier: ns inside each timed kernel function, summed over the calls; null unless
    /// fentry/fexit timed every call.
    pub exact_ns: Option<BTreeMap<&'static str, u64>>,
    /// Bracket tracepoints: ns of each stage they time (rx_softirq, tx_softirq, dev_xmit),
    /// summed over the calls; null unless the brackets timed every call.
    pub bracket_ns: Option<BTreeMap<&'static str, u64>>,
    /// Voluntary + involuntary switches out of these calls per 1000 calls.
    pub cs_per_1000_calls: f64,
    pub voluntary_cs: u64,
    pub involuntary_cs: u64,
    pub skbs_built: u64,
    pub skbs_tx: u64,
    pub skbs_rx: u64,
    pub bytes_to_user: u64,
    pub zerocopy_calls: u64,
    pub errqueue_calls: u64,
}

/// One role's time in one stage, summed over syscall kinds (docs/methodology.md, "Stage
/// times": how exact and sampled times combine).
#[derive(Clone, Debug, Serialize)]
pub struct StageRow {
    pub role: Role,
    pub stage: &'static str,
    pub samples: u64,
    /// The stage's share, by samples, of each bracket's exact time it was sampled inside
    /// and of the on-CPU time outside them (fentry stages: their function's time).
    pub est_ns: u64,
    /// Of the role's samples inside traced calls.
    pub share: f64,
    /// `tracepoint`, `fentry` (exact) or `sampled`.
    pub method: &'static str,
    /// A bracket's own stage (or an fentry stage): the exact stretch over the role's
    /// on-CPU ns.
    pub exact_share: Option<f64>,
    /// Where `exact_share` is: the share of samples inside the stretch minus it, in
    /// points, how far sampling is off here.
    pub skew_pts: Option<f64>,
}

impl StageRow {
    /// How far sampling put `role`'s exactly timed stages from their exact shares, e.g.
    /// `sampled - exact: rx_softirq +3.1 pts, dev_xmit -0.4 pts`; None without exact stages.
    pub fn skew_line(rows: &[StageRow], role: Role) -> Option<String> {
        let cells: Vec<String> = rows
            .iter()
            .filter(|r| r.role == role)
            .filter_map(|r| Some(format!("{} {:+.1} pts", r.stage, r.skew_pts?)))
            .collect();
        (!cells.is_empty()).then(|| format!("sampled - exact share: {}", cells.join(", ")))
    }
}

/// One io_uring send request of a traced thread, from its submit to its result and, for
/// SEND_ZC, its notification (uring.parquet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub tid: u32,
    pub role: Role,
    /// send, send_zc, sendmsg or sendmsg_zc.
    pub opcode: &'static str,
    pub user_data: u64,
    /// CLOCK_MONOTONIC ns of io_uring_submit_req and of the result's io_uring_complete.
    pub submit_ns: u64,
    pub complete_ns: u64,
    /// Bytes sent, or -errno.
    pub res: i32,
    /// The result promised a notification (IORING_CQE_F_MORE).
    pub more: bool,
    /// When the notification came (null: none promised, or none seen before the end).
    pub notif_ns: Option<u64>,
    /// The notification said the kernel copied (null without a notification).
    pub copied: Option<bool>,
}

/// One row of stacks.parquet: a folded kernel stack sampled inside a traced call (on-CPU),
/// or the stack a call was switched out at (off-CPU), and how much it weighs.
#[derive(Clone, Debug, PartialEq)]
pub struct StackRow {
    pub role: String,
    pub syscall: String,
    pub stage: String,
    /// `outermost;...;innermost`.
    pub stack: String,
    /// On-CPU: samples. Off-CPU: ns switched out.
    pub weight: u64,
}
