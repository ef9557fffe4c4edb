//! The targets the benches are judged against, in one place: BENCHMARKS.md shows each one
//! beside its measure and says whether it was met.

/// `netcopy run` onecopy 64K over `iperf3 -l 64K`, both pinned.
pub const IPERF3_RATIO: f64 = 1.00;
/// `netcopy run --no-verify` 1K over a minimal send/recv loop of the same mode.
pub const LOOP_RATIO: f64 = 0.95;
/// `netcopy run --no-verify` 1K over a C program making the same calls per message.
pub const C_LOOP_RATIO: f64 = 1.00;
/// Where 1.00 is inside what the C loop reads at once against itself: the most points the
/// at-once C/netcopy may fall below that parity (about the 95% interval of its median).
pub const C_LOOP_POINTS: f64 = 1.0;
/// Traced over untraced throughput at 64K.
pub const TRACE_64K_RATIO: f64 = 0.97;
/// Where even empty programs on a trace's hooks fall below [`TRACE_64K_RATIO`]: the most
/// points traced / untraced may fall below that floor's ratio (the issues' next-best target).
pub const FLOOR_POINTS: f64 = 5.0;
/// Traced over untraced throughput at 1K, default trace (per-call records and sampling).
pub const TRACE_1K_RATIO: f64 = 0.77;
/// netcopy's 1K overhead (1 - traced/untraced) over bpftrace's latency one-liner's.
pub const PEER_OVERHEAD_SHARE: f64 = 0.5;
/// `trace --aggregate` over untraced throughput at 1K.
pub const TRACE_1K_AGGREGATE_RATIO: f64 = 0.85;
/// Kernel program time per traced call: syscall entry + exit, ns (bpf_stats).
pub const SYSCALL_PROGRAMS_NS: f64 = 250.0;
/// The same, over bpftrace's latency one-liner's entry + exit programs per call (same loop).
pub const PEER_PROGRAMS_SHARE: f64 = 0.5;
/// The stack sampler's program, ns per sample (bpf_stats).
pub const SAMPLE_NS: f64 = 1000.0;
/// Where a kernel stack walk alone costs more than [`SAMPLE_NS`]: netcopy's sampler over
/// bpftrace's kernel-stack sampler on the same threads, loop and rate.
pub const PEER_SAMPLE_SHARE: f64 = 1.0;
/// The stack sampler's share of the 1K trace overhead, points of untraced throughput (the
/// default trace against `--sample-hz 0`, same alternation).
pub const SAMPLER_POINTS: f64 = 3.0;
/// Added ns per traced 1-byte send.
pub const PROBE_NS: f64 = 150.0;
/// Traced calls per second with per-call records, none lost.
pub const CALLS_PER_S: f64 = 1e6;
/// syscalls.parquet rows encoded per second.
pub const ENCODE_ROWS_PER_S: f64 = 5e6;
/// syscalls.parquet bytes per row.
pub const BYTES_PER_ROW: f64 = 16.0;
/// Peak RSS of a 60 s trace at the highest call rate, MiB.
pub const PEAK_RSS_MIB: f64 = 200.0;
/// RSS growth of a 10-minute trace at the highest call rate, after its first minute.
pub const SOAK_GROWTH: f64 = 0.05;
