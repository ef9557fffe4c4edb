//! The argument groups several commands share (the workload, where output goes, tracing one
//! end of a two-host run) and the value parsers that turn bad input into a one-line error.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use super::error::Error;
use crate::{
    model::{Mode, NetPath, Rx},
    probes::{check_privileges, sample::DEFAULT_HZ},
    sink::RunDir,
    trace::{TraceOptions, external::Target},
    units::{MAX_SIZE, parse_duration, parse_size},
    workload::{affinity, client::ClientConfig, receiver::Verify, timing::CallTiming},
};

/// Default TCP port of `netcopy serve`.
pub const DEFAULT_PORT: u16 = 5301;
/// Connections of one run at most.
pub const MAX_THREADS: u32 = 1024;
const MAX_RUN: Duration = Duration::from_secs(24 * 3600);

#[derive(Args, Clone)]
pub struct WorkloadArgs {
    /// Copy mode.
    #[arg(long, short, value_enum, default_value_t = Mode::Onecopy)]
    pub mode: Mode,
    /// Message size: bytes, or with K, M, G (binary): 1K, 64K, 1M, 16M. Split into 8 fields.
    #[arg(long, short, default_value = "64K", value_parser = size_arg)]
    pub size: u64,
    /// Connections, each with its own thread on both ends (1 to 1024).
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    pub threads: u32,
    /// Length of the measurement window: 10s, 500ms, 2m.
    #[arg(long, short, default_value = "10s", value_parser = window_arg)]
    pub duration: Duration,
    /// Time before the window starts, not measured.
    #[arg(long, short, default_value = "1s", value_parser = warmup_arg)]
    pub warmup: Duration,
    /// How receivers read: copy (recv/recvmsg) or zerocopy (getsockopt TCP_ZEROCOPY_RECEIVE
    /// maps whole pages of received data, read in place; recv copies the rest). Over
    /// loopback and veth the kernel may map nothing: the summary says how much was mapped.
    #[arg(long, value_enum, default_value_t = Rx::Copy)]
    pub rx: Rx,
    /// Do not check message content (for speed runs).
    #[arg(long)]
    pub no_verify: bool,
    /// Time one send or receive call in N, picked at random, into the latency rows (N a
    /// power of two up to 1024; 1: every call). Timing a call reads the CPU's time-stamp
    /// counter twice, about 2.5% of a 1K run's throughput on a 2-CPU EPYC VM, so messages
    /// under 16K time one call in 16 by default and larger ones every call. The JSON says
    /// which (`calls_timed_one_in`); `client` tells the server.
    #[arg(long, value_name = "N", value_parser = CallTiming::parse_one_in, conflicts_with = "no_latency")]
    pub latency_sample: Option<CallTiming>,
    /// Time no call: the latency rows are null. Calls, bytes and the window are counted as
    /// always.
    #[arg(long)]
    pub no_latency: bool,
    /// Pin the connection threads: N puts both ends on CPU N, S,R the senders on CPU S and
    /// the receivers on CPU R (`client` pins its receivers to R). Unpinned, the two ends of
    /// a loopback connection share a CPU in some runs and not in others.
    #[arg(long, value_name = "N|S,R", value_parser = affinity::parse)]
    pub cpu_affinity: Option<crate::model::Affinity>,
}

impl WorkloadArgs {
    /// The run these arguments ask for, against `server`.
    pub fn client_config(&self, server: SocketAddr) -> ClientConfig {
        ClientConfig {
            server,
            verify: if self.no_verify {
                Verify::No
            } else {
                Verify::Yes
            },
            affinity: self.cpu_affinity.unwrap_or_default(),
            rx: self.rx,
            timing: if self.no_latency {
                CallTiming::Off
            } else {
                self.latency_sample
                    .unwrap_or(CallTiming::default_for(self.size))
            },
            ..ClientConfig::new(
                self.mode,
                self.size,
                self.threads,
                self.warmup,
                self.duration,
            )
        }
    }
}

/// Other programs to trace (`trace`, `top`), by pid, command name or cgroup; repeatable.
#[derive(Args, Clone, Default)]
pub struct TargetArgs {
    /// A process, by pid.
    #[arg(long, short)]
    pub pid: Vec<u32>,
    /// Every process with this command name (the kernel keeps its first 15 bytes).
    #[arg(long)]
    pub comm: Vec<String>,
    /// A cgroup v2 (path, absolute or under /sys/fs/cgroup).
    #[arg(long)]
    pub cgroup: Vec<PathBuf>,
}

impl TargetArgs {
    pub fn targets(&self) -> Vec<Target> {
        let pids = self.pid.iter().map(|p| Target::Pid(*p));
        let comms = self.comm.iter().map(|c| Target::Comm(c.clone()));
        let cgroups = self.cgroup.iter().map(|c| Target::Cgroup(c.clone()));
        pids.chain(comms).chain(cgroups).collect()
    }
}

/// The options of `run` and `trace`: both ends in this process.
#[derive(Args, Clone)]
pub struct LocalArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Put server and client in two network namespaces joined by a veth pair (needs root).
    #[arg(long)]
    pub netns: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl LocalArgs {
    /// The run's configuration (the server's address is chosen when it listens) and path.
    pub fn local_run(&self) -> (ClientConfig, NetPath) {
        let cfg = self
            .workload
            .client_config(SocketAddr::from(([127, 0, 0, 1], 0)));
        let path = if self.netns {
            NetPath::Netns
        } else {
            NetPath::Loopback
        };
        (cfg, path)
    }
}

#[derive(Args, Clone)]
pub struct OutputArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Tracing one end of a run between two hosts.
#[derive(Args, Clone)]
pub struct HostTraceArgs {
    /// Trace this end with the eBPF probes and write its tables (needs root). `serve
    /// --trace` serves one client run and exits.
    #[arg(long)]
    pub trace: bool,
    /// Directory of this end's tables [default: ./netcopy-runs/<run id>-<end>].
    #[arg(long, short, requires = "trace")]
    pub out: Option<PathBuf>,
    /// Run id both ends write, so that their shards join (give both the same) [default: a
    /// new one, printed].
    #[arg(long, requires = "trace", value_parser = run_id_arg)]
    pub run_id: Option<String>,
    /// Replace the tables of an earlier run in --out.
    #[arg(long, requires = "trace")]
    pub force: bool,
    /// Kernel stack samples per second per CPU (0: none).
    #[arg(long, requires = "trace", default_value_t = DEFAULT_HZ, value_parser = clap::value_parser!(u64).range(0..=50_000))]
    pub sample_hz: u64,
}

impl HostTraceArgs {
    /// Check the privileges tracing needs, then make this end's run directory (`end`:
    /// server or client) and its trace options.
    pub fn start(&self, end: &str) -> Result<(RunDir, TraceOptions), Error> {
        check_privileges()?;
        let dir = RunDir::for_run(self.out.as_deref(), end, self.run_id.clone(), self.force)?;
        let opts = TraceOptions {
            out: Some(dir.clone()),
            sample_hz: (self.sample_hz > 0).then_some(self.sample_hz),
            // The summary shows the fallbacks.
            quiet: true,
            ..TraceOptions::default()
        };
        Ok((dir, opts))
    }
}

/// A message size: 8 B to 1 GiB.
pub fn size_arg(s: &str) -> Result<u64, String> {
    let size = parse_size(s).map_err(|e| e.to_string())?;
    if !(8..=MAX_SIZE).contains(&size) {
        return Err(format!("size {s} is outside 8 B ..= 1G"));
    }
    Ok(size)
}

/// A memory limit: 1K or more.
pub fn size_arg_any(s: &str) -> Result<u64, String> {
    let bytes = parse_size(s).map_err(|e| e.to_string())?;
    if bytes < 1024 {
        return Err(format!("{s} is less than 1K"));
    }
    Ok(bytes)
}

/// A ring buffer size: a power of two from 4K to 1G.
pub fn ring_arg(s: &str) -> Result<u32, String> {
    let bytes = parse_size(s).map_err(|e| e.to_string())?;
    if !(4096..=1 << 30).contains(&bytes) || !bytes.is_power_of_two() {
        return Err(format!(
            "ring buffer {s} must be a power of two from 4K to 1G"
        ));
    }
    Ok(bytes as u32)
}

fn duration_arg(s: &str, min: Duration) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    if d < min || d > MAX_RUN {
        return Err(format!("{s} is outside {}ms ..= 24h", min.as_millis()));
    }
    Ok(d)
}

/// A measurement window: 1 ms to 24 h.
pub fn window_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, Duration::from_millis(1))
}

/// A warmup: 0 to 24 h.
pub fn warmup_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, Duration::ZERO)
}

/// Run ids go into file metadata and paths: letters, digits, `-`, `_`, `.`; 1 to 64.
pub fn run_id_arg(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "run id {s:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}
