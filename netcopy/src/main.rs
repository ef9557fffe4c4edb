//! The `netcopy` command line.

use std::{
    io::Write as _,
    net::{IpAddr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use netcopy::{
    probes::ProbeError,
    report::summary::RunSummary,
    sink::{RunDir, SinkError},
    testbed::netns::NetnsError,
    trace::{
        TraceError, TraceOptions,
        external::{self, Target},
        trace,
    },
    units::{MAX_SIZE, format_size, parse_duration, parse_size, utc_stamp},
    workload::{
        Mode,
        affinity::Affinity,
        client::{ClientConfig, run_client},
        conn::Stop,
        gate::Limits,
        receiver::Verify,
        run::{NetPath, RunOutcome, run},
        server::{Served, serve_forever},
    },
};

mod cli;

/// Default TCP port of `netcopy serve`.
const DEFAULT_PORT: u16 = 5301;
const MAX_THREADS: u32 = 1024;
const MAX_RUN: Duration = Duration::from_secs(24 * 3600);

/// What does moving bytes through a TCP socket cost in the kernel?
///
/// netcopy moves messages of 8 separately allocated fields through TCP in three copy modes
/// (twocopy: serialize + send; onecopy: sendmsg with an iovec; zerocopy: MSG_ZEROCOPY with
/// completions reaped) and traces both ends with eBPF.
///
/// Examples:
///   netcopy run --mode zerocopy --size 64K --duration 5s
///   netcopy run --mode onecopy --size 1M --threads 4 --netns --json
///   sudo netcopy trace --mode onecopy
///   netcopy serve                      # on one host, then on another:
///   netcopy client --server 192.0.2.10 --mode twocopy --size 4K
#[derive(Parser)]
#[command(version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run server and client in this process and print a summary.
    ///
    /// The server sends, the client receives (as in the seed report). Over loopback by
    /// default; --netns puts the two ends in two network namespaces joined by veth.
    Run(LocalArgs),
    /// Like `run`, with the eBPF probes attached to both ends (needs root).
    ///
    /// Checks the probes' per-thread syscall counts against the workload's own counts.
    Trace(TraceArgs),
    /// Check what this kernel and process allow, and print the attach plan. Traces nothing.
    ///
    /// Shows privileges, BTF, tracefs and PMU, and for each hook the methods netcopy would
    /// try (fentry/fexit > tp_btf > raw_tp > tracepoint > sampling) with the one it would use.
    /// NETCOPY_HIDE=btf,pmu,fentry,tracefs hides features to show the fallbacks.
    Doctor {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Every combination of modes, sizes and threads, repeated, into a Parquet dataset.
    Sweep(cli::sweep::SweepArgs),
    /// Tables of a sweep: medians over repeats, spreads, A/B comparison.
    Report(cli::report::ReportArgs),
    /// PNG and SVG charts of a sweep.
    Plot(cli::plot::PlotArgs),
    /// Wait for clients and send each what it asks for (mode, size, duration come from the client).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        bind: IpAddr,
        /// TCP port to listen on.
        #[arg(long, short, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// Exit after serving the first client run (all its connections).
        #[arg(long, short = '1')]
        one_off: bool,
        /// Connections served at once; a client asking for more is refused ("busy").
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
        max_conns: u32,
        /// Message buffers all connections may hold together (1K..): a hello that would
        /// exceed it is refused. [default: half of this machine's memory]
        #[arg(long, value_parser = size_arg_any)]
        max_memory: Option<u64>,
        /// Print one JSON object per connection (JSON lines) instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        traced: cli::hosts::HostTraceArgs,
    },
    /// Connect to a `netcopy serve`, receive for the given time and print a summary.
    Client {
        /// Address of the server.
        #[arg(long, short = 'c', default_value = "127.0.0.1")]
        server: IpAddr,
        /// Port of the server.
        #[arg(long, short, default_value_t = DEFAULT_PORT)]
        port: u16,
        #[command(flatten)]
        workload: WorkloadArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        traced: cli::hosts::HostTraceArgs,
    },
}

#[derive(Args, Clone)]
struct WorkloadArgs {
    /// Copy mode.
    #[arg(long, short, value_enum, default_value_t = Mode::Onecopy)]
    mode: Mode,
    /// Message size: bytes, or with K, M, G (binary): 1K, 64K, 1M, 16M. Split into 8 fields.
    #[arg(long, short, default_value = "64K", value_parser = size_arg)]
    size: u64,
    /// Connections, each with its own thread on both ends (1 to 1024).
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    threads: u32,
    /// Length of the measurement window: 10s, 500ms, 2m.
    #[arg(long, short, default_value = "10s", value_parser = window_arg)]
    duration: Duration,
    /// Time before the window starts, not measured.
    #[arg(long, short, default_value = "1s", value_parser = warmup_arg)]
    warmup: Duration,
    /// Do not check message content (for speed runs).
    #[arg(long)]
    no_verify: bool,
    /// Pin the connection threads: N puts both ends on CPU N, S,R the senders on CPU S and
    /// the receivers on CPU R (`client` pins its receivers to R). Unpinned, the two ends of
    /// a loopback connection share a CPU in some runs and not in others.
    #[arg(long, value_name = "N|S,R", value_parser = Affinity::parse)]
    cpu_affinity: Option<Affinity>,
}

/// The options of `run` and `trace`: both ends in this process.
#[derive(Args, Clone)]
struct LocalArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    net: NetnsArg,
    #[command(flatten)]
    output: OutputArgs,
}

/// `trace`: the workload's options, or targets of other programs, and where tables go.
#[derive(Args, Clone)]
struct TraceArgs {
    #[command(flatten)]
    local: LocalArgs,
    /// Directory for the Parquet tables [default: ./netcopy-runs/<UTC time>-<mode>]
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace the tables of an earlier run in --out.
    #[arg(long)]
    force: bool,
    /// Kernel stack samples per second per CPU for the stage breakdown (0: none).
    #[arg(long, default_value_t = netcopy::probes::sample::DEFAULT_HZ, value_parser = clap::value_parser!(u64).range(0..=50_000))]
    sample_hz: u64,
    /// Add calls up per thread in the kernel instead of one record per call (for very high
    /// call rates; no syscalls.parquet, latency percentiles from log2 buckets).
    #[arg(long)]
    aggregate: bool,
    /// Size of the ring buffer that carries one record per call to netcopy: a power of two
    /// from 4K to 1G. Records that find it full are counted as lost and reported.
    #[arg(long, default_value = "16M", value_parser = ring_arg)]
    ring_buffer: u32,
    /// Exit with status 3 when any record was lost (the run still completes and is saved).
    #[arg(long)]
    strict: bool,
    /// Trace this process instead of the built-in workload (repeatable).
    #[arg(long, short)]
    pid: Vec<u32>,
    /// Trace every process with this command name instead of the built-in workload.
    #[arg(long)]
    comm: Vec<String>,
    /// Trace a cgroup v2 (path, absolute or under /sys/fs/cgroup) instead of the workload.
    #[arg(long)]
    cgroup: Vec<PathBuf>,
}

#[derive(Args, Clone)]
struct NetnsArg {
    /// Put server and client in two network namespaces joined by a veth pair (needs root).
    #[arg(long)]
    netns: bool,
}

#[derive(Args, Clone)]
struct OutputArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

fn size_arg(s: &str) -> Result<u64, String> {
    let size = parse_size(s).map_err(|e| e.to_string())?;
    if !(8..=MAX_SIZE).contains(&size) {
        return Err(format!("size {s} is outside 8 B ..= 1G"));
    }
    Ok(size)
}

fn size_arg_any(s: &str) -> Result<u64, String> {
    let bytes = parse_size(s).map_err(|e| e.to_string())?;
    if bytes < 1024 {
        return Err(format!("{s} is less than 1K"));
    }
    Ok(bytes)
}

fn ring_arg(s: &str) -> Result<u32, String> {
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

fn window_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, Duration::from_millis(1))
}

fn warmup_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, Duration::ZERO)
}

impl WorkloadArgs {
    fn client_config(&self, server: SocketAddr) -> ClientConfig {
        ClientConfig {
            server,
            mode: self.mode,
            size: self.size,
            threads: self.threads,
            warmup: self.warmup,
            duration: self.duration,
            verify: if self.no_verify {
                Verify::No
            } else {
                Verify::Yes
            },
            affinity: self.cpu_affinity.unwrap_or_default(),
        }
    }
}

/// Exit status for bad input and missing privileges (as clap uses for bad arguments).
const EXIT_USAGE: u8 = 2;
/// Exit status of `trace --strict` when records were lost.
const EXIT_LOST: u8 = 3;

/// Set by SIGINT, SIGTERM or SIGHUP from the very start of the process: a signal that comes
/// while the arguments are checked and the run is set up stops the run as soon as it starts,
/// instead of killing the process halfway through its setup.
static EARLY_STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn early_stop(_: libc::c_int) {
    // A second signal before the run listens: the user means it.
    if EARLY_STOP.swap(true, std::sync::atomic::Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// The default dispositions back, for commands that run no workload (report, plot, doctor):
/// Ctrl-C simply ends them.
fn default_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: restoring the default disposition.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

fn catch_signals_early() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, early_stop as *const () as libc::sighandler_t);
        }
    }
}

fn main() -> ExitCode {
    catch_signals_early();
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netcopy: {}", one_line(&e));
            let usage = e.chain().any(|cause| {
                matches!(cause.downcast_ref(), Some(ProbeError::Privileges { .. }))
                    || matches!(cause.downcast_ref(), Some(NetnsError::NotPrivileged))
                    || matches!(
                        cause.downcast_ref(),
                        Some(SinkError::NotEmpty(_) | SinkError::Unwritable { .. })
                    )
                    || matches!(cause.downcast_ref(), Some(TraceError::Target(_)))
                    || cause.downcast_ref::<cli::Usage>().is_some()
            });
            ExitCode::from(if usage { EXIT_USAGE } else { 1 })
        }
    }
}

/// The error and its causes on one line, each cause once: our error types already show
/// their source in their own message, anyhow's contexts do not.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

fn execute(command: Command) -> anyhow::Result<ExitCode> {
    let stop = Stop::default();
    if matches!(
        command,
        Command::Report(_) | Command::Plot(_) | Command::Doctor { .. }
    ) {
        default_signals();
    }
    match command {
        Command::Sweep(args) => cli::sweep::execute(args, &stop),
        Command::Report(args) => cli::report::execute(args),
        Command::Plot(args) => cli::plot::execute(args),
        Command::Run(args) => {
            let (cfg, path) = args.local_run();
            let outcome = with_signals(&stop, move |stop| run(&cfg, path, stop))?;
            print_summary(&RunSummary::new(&outcome), args.output.json)
        }
        Command::Trace(args) => {
            let (cfg, path) = args.local.local_run();
            let targets = args.targets();
            // Say what is missing before anything is created.
            netcopy::probes::check_privileges()?;
            external::validate(&targets)?;
            if !targets.is_empty() {
                let dir = args.run_dir("targets")?;
                let opts = args.options(&dir);
                let duration = cfg.duration;
                let summary = with_signals(&stop, move |stop| {
                    external::trace_targets(&targets, duration, &opts, stop, || {
                        // Scripts (and the benchmarks) wait for this line before they start.
                        eprintln!("netcopy: tracing (Ctrl-C to stop)");
                    })
                })?;
                eprintln!("netcopy: wrote {}", dir.path.display());
                let code =
                    print_json_or_text(&summary, &summary.to_text(), args.local.output.json)?;
                return Ok(args.strict_code(summary.lost).unwrap_or(code));
            }
            let dir = args.run_dir(cfg.mode.name())?;
            let opts = args.options(&dir);
            let summary = with_signals(&stop, move |stop| trace(&cfg, path, &opts, stop))?;
            eprintln!("netcopy: wrote {}", dir.path.display());
            let agrees = summary.probe.as_ref().is_some_and(|p| p.agrees());
            let code = print_summary(&summary, args.local.output.json)?;
            if let Some(strict) = args.strict_code(summary.probe.as_ref().map_or(0, |p| p.lost)) {
                return Ok(strict);
            }
            if !agrees {
                eprintln!("netcopy: the probes' counts differ from the workload's (see `probe`)");
                return Ok(ExitCode::FAILURE);
            }
            Ok(code)
        }
        Command::Client {
            server,
            port,
            workload,
            output,
            traced,
        } => {
            let cfg = workload.client_config(SocketAddr::new(server, port));
            netcopy::workload::client::routable(cfg.server)
                .map_err(|e| cli::Usage(format!("--server {server}: {e}")))?;
            if traced.trace {
                let summary = cli::hosts::client(cfg, &traced, &stop)?;
                print_summary(&summary, output.json)?;
                return Ok(cli::hosts::exit_code(&summary));
            }
            let client = with_signals(&stop, {
                let cfg = cfg.clone();
                move |stop| run_client(&cfg, stop, None)
            })?;
            let outcome = RunOutcome {
                config: cfg,
                path: NetPath::Network,
                client,
                served: Vec::new(),
            };
            print_summary(&RunSummary::new(&outcome), output.json)
        }
        Command::Doctor { json } => doctor(json),
        Command::Serve {
            bind,
            port,
            one_off,
            max_conns,
            max_memory,
            json,
            traced,
        } => {
            let limits = Limits {
                max_conns: max_conns as usize,
                max_memory: max_memory.unwrap_or_else(netcopy::workload::gate::default_max_memory),
            };
            let addr = SocketAddr::new(bind, port);
            let listener = TcpListener::bind(addr).map_err(|e| {
                let hint = match e.kind() {
                    std::io::ErrorKind::AddrInUse => ": choose another --port",
                    std::io::ErrorKind::AddrNotAvailable => {
                        ": --bind must be an address of this host"
                    }
                    _ => "",
                };
                cli::Usage(format!("listen on {addr}: {e}{hint}"))
            })?;
            if traced.trace {
                let summary = cli::hosts::serve(listener, &traced, &stop)?;
                print_summary(&summary, json)?;
                return Ok(cli::hosts::exit_code(&summary));
            }
            eprintln!("netcopy: serving on {addr} (Ctrl-C to stop)");
            with_signals(&stop, move |stop| {
                serve_forever(listener, one_off, limits, stop, None, |served| {
                    print_served(served, json)
                })
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

impl TraceArgs {
    /// The run directory of a traced run, created (and checked) before anything is traced.
    fn run_dir(&self, what: &str) -> anyhow::Result<RunDir> {
        let stamp = utc_stamp(std::time::SystemTime::now());
        let run_id = format!("{stamp}-{what}-{}", std::process::id());
        Ok(match &self.out {
            Some(path) => RunDir::create(path, run_id, self.force)?,
            None => RunDir::create_new(
                Path::new("netcopy-runs"),
                &format!("{stamp}-{what}"),
                run_id,
            )?,
        })
    }

    fn targets(&self) -> Vec<Target> {
        let pids = self.pid.iter().map(|p| Target::Pid(*p));
        let comms = self.comm.iter().map(|c| Target::Comm(c.clone()));
        let cgroups = self.cgroup.iter().map(|c| Target::Cgroup(c.clone()));
        pids.chain(comms).chain(cgroups).collect()
    }

    fn options(&self, dir: &RunDir) -> TraceOptions {
        TraceOptions {
            out: Some(dir.clone()),
            sample_hz: (self.sample_hz > 0).then_some(self.sample_hz),
            aggregate: self.aggregate,
            quiet: true,
            ring_bytes: Some(self.ring_buffer),
        }
    }

    /// With `--strict`, the exit status when records were lost.
    fn strict_code(&self, lost: u64) -> Option<ExitCode> {
        (self.strict && lost > 0).then(|| {
            eprintln!("netcopy: {lost} records lost (--strict); a larger --ring-buffer or --aggregate keeps them");
            ExitCode::from(EXIT_LOST)
        })
    }
}

impl LocalArgs {
    /// The run's configuration (the server's address is chosen when it listens) and path.
    fn local_run(&self) -> (ClientConfig, NetPath) {
        let cfg = self
            .workload
            .client_config(SocketAddr::from(([127, 0, 0, 1], 0)));
        let path = if self.net.netns {
            NetPath::Netns
        } else {
            NetPath::Loopback
        };
        (cfg, path)
    }
}

fn doctor(json: bool) -> anyhow::Result<ExitCode> {
    use netcopy::probes::{Probes, plan};
    let features = plan::Features::detect();
    let probed = match Probes::load() {
        Ok(mut p) => plan::Probed {
            raw_syscalls: p.try_raw_syscalls_loaded(),
            fentry: p.try_fentry(),
            sched_btf: p.try_sched_btf(false),
            counters: p
                .attach_counters(netcopy::probes::counters::Source::wanted())
                .unwrap_or_else(|e| Err(e.to_string())),
        },
        Err(e) => {
            let why = if features.missing_caps.is_empty() {
                e.to_string()
            } else {
                format!("cannot try without {}", features.missing_caps.join(" and "))
            };
            plan::Probed {
                raw_syscalls: Err(why.clone()),
                fentry: Err(why.clone()),
                sched_btf: Err(why.clone()),
                counters: Err(why),
            }
        }
    };
    let hooks = plan::plan(&features, &probed);
    if json {
        let v = serde_json::json!({ "features": features, "plan": hooks });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let yes_no = |b: bool, yes: &str, no: &str| if b { yes.to_owned() } else { no.to_owned() };
    println!("netcopy doctor");
    let privileges = if features.missing_caps.is_empty() {
        "ok (CAP_BPF and CAP_PERFMON)".to_owned()
    } else {
        format!(
            "missing {}: run as root (sudo) or setcap the binary",
            features.missing_caps.join(" and ")
        )
    };
    println!("  privileges  {privileges}");
    println!(
        "  BTF         {}",
        yes_no(
            features.btf,
            "/sys/kernel/btf/vmlinux present",
            "absent: no tp_btf or fentry"
        )
    );
    println!(
        "  tracefs     {}",
        yes_no(
            features.tracefs_mounted,
            "mounted at /sys/kernel/tracing",
            "not mounted: netcopy mounts it when it traces (mount -t tracefs tracefs /sys/kernel/tracing)"
        )
    );
    println!(
        "  PMU         {}",
        yes_no(
            features.pmu,
            "present",
            "none: cycles and instructions are null"
        )
    );
    if !features.hidden.is_empty() {
        println!(
            "  hidden      {} (NETCOPY_HIDE)",
            features.hidden.join(", ")
        );
    }
    println!("  plan        hook          method used          tried");
    for h in &hooks {
        let tried: Vec<String> = h
            .steps
            .iter()
            .map(|s| format!("{}: {}", s.method.name(), s.outcome))
            .collect();
        println!(
            "              {:<13} {:<20} {}",
            h.hook,
            h.chosen.map_or("none (null)", |m| m.name()),
            tried.join("; ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(summary: &RunSummary, json: bool) -> anyhow::Result<ExitCode> {
    let code = print_json_or_text(summary, &summary.to_text(), json)?;
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else {
        code
    })
}

fn print_json_or_text(
    value: &impl serde::Serialize,
    text: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
    } else {
        write!(out, "{text}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_served(served: Result<Served, netcopy::workload::WorkloadError>, json: bool) {
    match served {
        Ok(s) => {
            let h = &s.hello;
            let r = &s.report;
            let latency = r.latency.summary();
            if json {
                let line = serde_json::json!({
                    "session": h.session, "connection": h.index, "mode": h.mode, "size": h.size,
                    "bytes": r.bytes, "messages": r.messages, "calls": r.calls,
                    "send_latency_ns": latency, "zerocopy": r.zerocopy,
                });
                println!("{line}");
            } else {
                let zc = r.zerocopy.as_ref().map_or(String::new(), |z| {
                    format!(
                        ", zerocopy {} sends / {} completed / {} copied",
                        z.sends, z.completed, z.copied
                    )
                });
                println!(
                    "served {} {} connection {}/{}: {} messages, {} bytes, send p50 {} ns p99 {} ns{zc}",
                    h.mode,
                    format_size(h.size),
                    h.index + 1,
                    h.conns,
                    r.messages,
                    r.bytes,
                    latency.p50.map_or("-".into(), |v| v.to_string()),
                    latency.p99.map_or("-".into(), |v| v.to_string()),
                );
            }
        }
        Err(e @ netcopy::workload::WorkloadError::Turned(_)) => eprintln!("netcopy: {e}"),
        Err(e) => eprintln!("netcopy: a connection failed: {e}"),
    }
}

/// Run blocking `work` while Ctrl-C, SIGTERM or SIGHUP only request a stop: the work winds down,
/// cleans up (namespaces, programs) and still reports what it measured.
fn with_signals<T: Send + 'static, E: std::error::Error + Send + Sync + 'static>(
    stop: &Stop,
    work: impl FnOnce(&Stop) -> Result<T, E> + Send + 'static,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the signal handler")?;
    let stop = stop.clone();
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
        let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
        let mut hup = signal(SignalKind::hangup()).context("install SIGHUP handler")?;
        // From here on tokio sees every signal (its handlers also call the early one); one
        // that came before is in the flag.
        if EARLY_STOP.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("netcopy: interrupted while starting, stopping at once");
            stop.request();
        }
        let worker_stop = stop.clone();
        let mut handle = tokio::task::spawn_blocking(move || work(&worker_stop));
        loop {
            tokio::select! {
                done = &mut handle => return done.context("workload thread")?.map_err(anyhow::Error::from),
                _ = int.recv() => {
                    eprintln!("netcopy: interrupted, stopping (the summary covers the part that ran)");
                    stop.request();
                }
                _ = term.recv() => {
                    eprintln!("netcopy: terminated, stopping");
                    stop.request();
                }
                _ = hup.recv() => {
                    eprintln!("netcopy: hangup, stopping");
                    stop.request();
                }
            }
        }
    })
}
