//! `netcopy top`'s rows: what a process (or one of its threads) did in its socket calls
//! over the last interval.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopRow {
    pub pid: u32,
    /// None: the row adds up the process's threads.
    pub tid: Option<u32>,
    pub comm: String,
    pub calls_per_s: f64,
    pub bytes_per_s: f64,
    /// Kernel time per call from log2 buckets (good to a factor of sqrt 2).
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    /// On-CPU ns (wall minus switched-out) per KiB moved; null when no bytes moved.
    pub oncpu_ns_per_kib: Option<f64>,
    pub switches_per_1000: Option<f64>,
    /// The two stages with the most stack samples, with their share of the samples.
    pub top_stages: Vec<(&'static str, f64)>,
}
