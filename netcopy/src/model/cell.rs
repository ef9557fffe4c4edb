//! One finished cell of a sweep, as `cell.json` beside its Parquet tables: the numbers
//! `report`, `plot` and `summary.csv` are made from, taken from the run's summary.

use netcopy_common::offcpu::Reason;
use serde::{Deserialize, Serialize};

use super::{kernel::SyscallSummary, role::Role, run::RunSummary};

/// Where the sampled kernel time of one role went, for one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageShare {
    pub role: String,
    pub stage: String,
    pub share: f64,
    pub est_ns: u64,
}

/// Why the data calls of both ends left the CPU, for one reason (`netcopy_common::offcpu`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReasonShare {
    pub reason: String,
    /// Of the data calls' off-CPU time.
    pub share: f64,
}

/// What one cell measured. Fields that this machine or this run could not measure are
/// null (for example cycles without a PMU, or every kernel number with `--no-trace`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub mode: String,
    pub size: u64,
    pub threads: u32,
    pub rep: u32,
    pub run_id: String,
    pub path: String,
    /// Measured window length.
    pub window_s: f64,
    pub throughput_gbps: f64,
    /// Bytes received in the window.
    pub window_bytes: u64,
    /// Bytes received over the whole run.
    pub total_bytes: u64,
    /// Receive-call latency: mean, p50 and p99 in µs (the seed's Latency_us is a mean).
    pub recv_mean_us: Option<f64>,
    pub recv_p50_us: Option<f64>,
    pub recv_p99_us: Option<f64>,
    pub send_p50_us: Option<f64>,
    pub send_p99_us: Option<f64>,
    /// Context switches of every workload thread over its life (getrusage), both ends.
    pub context_switches: u64,
    /// The kernel probes ran for this cell.
    pub traced: bool,
    /// On-CPU kernel ns per byte in the data calls (sendto/sendmsg of the sender,
    /// recvfrom/recvmsg of the receiver).
    pub send_oncpu_ns_per_byte: Option<f64>,
    pub recv_oncpu_ns_per_byte: Option<f64>,
    /// Switches out of the data calls per 1000 calls.
    pub send_cs_per_1000: Option<f64>,
    pub recv_cs_per_1000: Option<f64>,
    /// Off-CPU share of the data calls' kernel time, both ends.
    pub offcpu_share: Option<f64>,
    /// Counters over the data calls of both ends; null without a PMU.
    pub cycles: Option<u64>,
    pub cycles_per_byte: Option<f64>,
    /// Never measured by netcopy (the seed had them from perf stat): kept for its columns.
    pub cache_misses: Option<u64>,
    pub cache_refs: Option<u64>,
    pub stages: Vec<StageShare>,
    /// The data calls' off-CPU time by reason; empty untraced, without off-CPU time, or in
    /// cells written before netcopy split it.
    #[serde(default)]
    pub offcpu_by_reason: Vec<ReasonShare>,
    pub zc_sends: Option<u64>,
    pub zc_completed: Option<u64>,
    pub zc_copied: Option<u64>,
    /// Zerocopy verdict shares of the sends: copied inside sendmsg, copied later
    /// (deferred), or not copied. The split of the copied ones needs the stage samples.
    pub zc_in_call_share: Option<f64>,
    pub zc_deferred_share: Option<f64>,
    pub zc_avoided_share: Option<f64>,
    pub lost_records: Option<u64>,
    pub verified: bool,
    pub interrupted: bool,
    pub attach_methods: Option<String>,
}

/// The data calls of `role`: what `kinds` add up to.
struct DataCalls {
    bytes: u64,
    calls: u64,
    oncpu_ns: u64,
    offcpu_ns: u64,
    switches: u64,
    cycles: Option<u64>,
    /// Off-CPU ns per reason, in `Reason::ALL` order.
    reasons: [u64; Reason::ALL.len()],
}

fn data_calls(rows: &[SyscallSummary], role: Role, kinds: [&str; 2]) -> DataCalls {
    let mine = rows
        .iter()
        .filter(|r| r.role == role && kinds.contains(&r.syscall));
    let mut d = DataCalls {
        bytes: 0,
        calls: 0,
        oncpu_ns: 0,
        offcpu_ns: 0,
        switches: 0,
        cycles: Some(0),
        reasons: [0; Reason::ALL.len()],
    };
    for r in mine {
        d.bytes += r.bytes;
        d.calls += r.calls;
        d.oncpu_ns += r.oncpu_ns;
        d.offcpu_ns += r.offcpu_ns;
        d.switches += r.voluntary_cs + r.involuntary_cs;
        d.cycles = d.cycles.zip(r.cycles).map(|(a, b)| a + b);
        for (sum, reason) in d.reasons.iter_mut().zip(Reason::ALL) {
            *sum += r.offcpu_by_reason.get(reason.name()).copied().unwrap_or(0);
        }
    }
    d
}

fn per(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn us(ns: Option<u64>) -> Option<f64> {
    ns.map(|v| v as f64 / 1e3)
}

impl CellRecord {
    pub fn new(s: &RunSummary, rep: u32, run_id: &str, attach_methods: Option<&str>) -> Self {
        let rows = s.syscalls.as_deref().unwrap_or_default();
        let traced = s.syscalls.is_some();
        let send = data_calls(rows, Role::Server, ["sendto", "sendmsg"]);
        let recv = data_calls(rows, Role::Client, ["recvfrom", "recvmsg"]);
        let wall = send.oncpu_ns + send.offcpu_ns + recv.oncpu_ns + recv.offcpu_ns;
        let cycles = if traced {
            send.cycles.zip(recv.cycles).map(|(a, b)| a + b)
        } else {
            None
        };
        let stages: Vec<StageShare> = s
            .stages
            .iter()
            .flatten()
            .map(|r| StageShare {
                role: r.role.name().to_owned(),
                stage: r.stage.to_owned(),
                share: r.share,
                est_ns: r.est_ns,
            })
            .collect();
        let z = s.zerocopy.as_ref();
        let (in_call, deferred, avoided) = z.map_or((None, None, None), |z| {
            zerocopy_split(z.sends, z.completed, z.copied, &stages)
        });
        let context_switches = s
            .connections
            .iter()
            .map(|c| c.sender.switches.total() + c.receiver.switches.total())
            .sum();
        // Null where the calls were not timed (`--no-latency`).
        let (send_l, recv_l) = (s.send_latency_ns.as_ref(), s.recv_latency_ns.as_ref());
        Self {
            mode: s.mode.name().to_owned(),
            size: s.size,
            threads: s.threads,
            rep,
            run_id: run_id.to_owned(),
            path: s.path.name().to_owned(),
            window_s: s.window.seconds,
            throughput_gbps: s.throughput_gbps,
            window_bytes: s.window.bytes,
            total_bytes: s.bytes,
            recv_mean_us: recv_l.and_then(|l| l.mean).map(|v| v / 1e3),
            recv_p50_us: us(recv_l.and_then(|l| l.p50)),
            recv_p99_us: us(recv_l.and_then(|l| l.p99)),
            send_p50_us: us(send_l.and_then(|l| l.p50)),
            send_p99_us: us(send_l.and_then(|l| l.p99)),
            context_switches,
            traced,
            send_oncpu_ns_per_byte: traced.then(|| per(send.oncpu_ns, send.bytes)).flatten(),
            recv_oncpu_ns_per_byte: traced.then(|| per(recv.oncpu_ns, recv.bytes)).flatten(),
            send_cs_per_1000: traced
                .then(|| per(send.switches * 1000, send.calls))
                .flatten(),
            recv_cs_per_1000: traced
                .then(|| per(recv.switches * 1000, recv.calls))
                .flatten(),
            offcpu_share: traced
                .then(|| per(send.offcpu_ns + recv.offcpu_ns, wall))
                .flatten(),
            cycles,
            cycles_per_byte: cycles.and_then(|c| per(c, send.bytes)),
            cache_misses: None,
            cache_refs: None,
            stages,
            offcpu_by_reason: Reason::ALL
                .iter()
                .zip(send.reasons.iter().zip(recv.reasons))
                .filter_map(|(reason, (s, r))| {
                    Some(ReasonShare {
                        reason: reason.name().to_owned(),
                        share: per(s + r, send.offcpu_ns + recv.offcpu_ns)?,
                    })
                })
                .collect(),
            zc_sends: z.map(|z| z.sends),
            zc_completed: z.map(|z| z.completed),
            zc_copied: z.map(|z| z.copied),
            zc_in_call_share: in_call,
            zc_deferred_share: deferred,
            zc_avoided_share: avoided,
            lost_records: s.probe.as_ref().map(|p| p.lost),
            verified: s.verified,
            interrupted: s.interrupted,
            attach_methods: attach_methods.map(str::to_owned),
        }
    }

    /// The sender's sampled share of `stage`, if sampled.
    pub fn stage_share(&self, role: &str, stage: &str) -> Option<f64> {
        let mine: Vec<&StageShare> = self.stages.iter().filter(|s| s.role == role).collect();
        if mine.is_empty() {
            return None;
        }
        // fold from +0.0: an empty f64 sum is -0.0.
        Some(
            mine.iter()
                .filter(|s| s.stage == stage)
                .map(|s| s.share)
                .fold(0.0, |a, b| a + b),
        )
    }
}

/// Shares of the sends that were copied in the call, copied later, or not copied.
///
/// A completion with SO_EE_CODE_ZEROCOPY_COPIED does not say when the kernel copied: inside
/// sendmsg (the route cannot take user pages) or later (skb_copy_ubufs when a packet with
/// pinned pages is looped to a local socket). The sender's samples do: pinning
/// (`zerocopy_pin`) means the pages were taken and any copy was deferred; `copy_user_to_skb`
/// in a MSG_ZEROCOPY sender means the call copied. The copied sends are split in that ratio;
/// without samples the split is null and only the avoided share is known.
fn zerocopy_split(
    sends: u64,
    completed: u64,
    copied: u64,
    stages: &[StageShare],
) -> (Option<f64>, Option<f64>, Option<f64>) {
    if sends == 0 {
        return (None, None, None);
    }
    let avoided = completed.saturating_sub(copied) as f64 / sends as f64;
    let copied = copied as f64 / sends as f64;
    let share = |stage: &str| {
        stages
            .iter()
            .filter(|s| s.role == "server" && s.stage == stage)
            .map(|s| s.share)
            .fold(0.0, |a, b| a + b)
    };
    let (pin, in_call) = (share("zerocopy_pin"), share("copy_user_to_skb"));
    if pin + in_call <= 0.0 {
        return (None, None, Some(avoided));
    }
    let in_call_part = in_call / (pin + in_call);
    (
        Some(copied * in_call_part),
        Some(copied * (1.0 - in_call_part)),
        Some(avoided),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(stage: &str, share: f64) -> StageShare {
        StageShare {
            role: "server".into(),
            stage: stage.into(),
            share,
            est_ns: 0,
        }
    }

    #[test]
    fn copied_sends_are_split_by_what_the_sender_did() {
        // Pinned, never copied in the call: every copy was deferred.
        let (in_call, deferred, avoided) =
            zerocopy_split(100, 100, 100, &[stage("zerocopy_pin", 0.06)]);
        assert_eq!(
            (in_call, deferred, avoided),
            (Some(0.0), Some(1.0), Some(0.0))
        );
        // Half the copy-or-pin time copying: half the copied sends copied in the call.
        let (in_call, deferred, avoided) = zerocopy_split(
            100,
            100,
            40,
            &[stage("zerocopy_pin", 0.1), stage("copy_user_to_skb", 0.1)],
        );
        assert_eq!(in_call, Some(0.2));
        assert_eq!(deferred, Some(0.2));
        assert_eq!(avoided, Some(0.6));
        // No samples: only what the completions say.
        assert_eq!(zerocopy_split(10, 10, 10, &[]), (None, None, Some(0.0)));
        assert_eq!(zerocopy_split(0, 0, 0, &[]), (None, None, None));
    }
}
