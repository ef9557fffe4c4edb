//! `summary.csv`: one row per finished cell, rewritten after every cell.
//!
//! The first columns are the seed report's (Mode added in front, since the seed kept one
//! file per mode), so spreadsheets made for it keep working; what netcopy cannot measure on
//! a machine (cycles without a PMU; cache misses and references, which it never measures)
//! is an empty field, not 0. The columns after them are netcopy's own.

use std::{fmt::Write as _, path::Path};

use super::{SweepError, io, load_cells};
use crate::model::CellRecord;

pub const FILE: &str = "summary.csv";

/// The header, in order.
pub const COLUMNS: [&str; 32] = [
    "Mode",
    "MessageSize",
    "Threads",
    "Rep",
    "Throughput_Gbps",
    "Latency_us",
    "TotalBytes",
    "CPUcycles",
    "CyclesPerByte",
    "CacheMisses",
    "CacheRefs",
    "ContextSwitches",
    "Latency_p50_us",
    "Latency_p99_us",
    "SendLatency_p50_us",
    "SendLatency_p99_us",
    "Window_s",
    "RunBytes",
    "SendOnCpuNsPerByte",
    "RecvOnCpuNsPerByte",
    "SendCsPer1000Calls",
    "RecvCsPer1000Calls",
    "OffCpuShare",
    "ZcSends",
    "ZcInCallShare",
    "ZcDeferredShare",
    "ZcAvoidedShare",
    "LostRecords",
    "Verified",
    "Traced",
    "Path",
    "RunId",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// One CSV line for a cell (no field holds a comma or a quote).
pub fn row(c: &CellRecord) -> String {
    let fields = [
        c.mode.clone(),
        c.size.to_string(),
        c.threads.to_string(),
        c.rep.to_string(),
        format!("{:.4}", c.throughput_gbps),
        opt(c.recv_mean_us.map(|v| format!("{v:.2}"))),
        c.window_bytes.to_string(),
        opt(c.cycles),
        opt(c.cycles_per_byte.map(|v| format!("{v:.4}"))),
        opt(c.cache_misses),
        opt(c.cache_refs),
        c.context_switches.to_string(),
        opt(c.recv_p50_us.map(|v| format!("{v:.2}"))),
        opt(c.recv_p99_us.map(|v| format!("{v:.2}"))),
        opt(c.send_p50_us.map(|v| format!("{v:.2}"))),
        opt(c.send_p99_us.map(|v| format!("{v:.2}"))),
        format!("{:.3}", c.window_s),
        c.total_bytes.to_string(),
        opt(c.send_oncpu_ns_per_byte.map(|v| format!("{v:.4}"))),
        opt(c.recv_oncpu_ns_per_byte.map(|v| format!("{v:.4}"))),
        opt(c.send_cs_per_1000.map(|v| format!("{v:.2}"))),
        opt(c.recv_cs_per_1000.map(|v| format!("{v:.2}"))),
        opt(c.offcpu_share.map(|v| format!("{v:.4}"))),
        opt(c.zc_sends),
        opt(c.zc_in_call_share.map(|v| format!("{v:.4}"))),
        opt(c.zc_deferred_share.map(|v| format!("{v:.4}"))),
        opt(c.zc_avoided_share.map(|v| format!("{v:.4}"))),
        opt(c.lost_records),
        c.verified.to_string(),
        c.traced.to_string(),
        c.path.clone(),
        c.run_id.clone(),
    ];
    fields.join(",")
}

/// Rewrite `dir/summary.csv` from every finished cell (atomically: a reader never sees half
/// a file).
pub fn write(dir: &Path) -> Result<(), SweepError> {
    let mut text = COLUMNS.join(",");
    text.push('\n');
    for c in load_cells(dir)? {
        let _ = writeln!(text, "{}", row(&c));
    }
    let path = dir.join(FILE);
    let tmp = dir.join(format!(".{FILE}.tmp"));
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))
}
