//! `cargo xtask`: the chores around netcopy (`cargo xtask` is an alias in .cargo/config.toml
//! for `cargo run --quiet --package xtask --`).

mod bench;
mod cmd;
mod fuzz;
mod install;
mod layers;
mod run;
mod setup;
mod test;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// netcopy's chores: set the machine up, run netcopy as root, run every test, install.
///
/// Each command first installs what it needs and this machine lacks (see `setup`), so on a
/// fresh Debian machine with rustup's stable and nightly toolchains the two commands of the
/// README are enough:
///
///   cargo xtask run -- trace --mode onecopy
///   cargo xtask test
///
/// Each command prints the commands it runs (`$ cargo build --release -p netcopy`), so any
/// step can be repeated by hand.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about,
    long_about,
    verbatim_doc_comment,
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what this machine lacks for netcopy; does nothing when all is there.
    ///
    /// One line per item, `ok` or what gets installed. The items, in order:
    ///
    /// rust-src for the nightly toolchain: the eBPF programs are built with
    /// `cargo +nightly build -Z build-std=core --target bpfel-unknown-none`, which compiles
    /// `core` from source.
    ///
    /// bpf-linker 0.13.0: links the eBPF object. There is no system LLVM of the version it
    /// needs, so it is built (about a minute) against the nightly toolchain's own libLLVM,
    /// linked into ~/.cache/netcopy/rust-llvm. Skipped when `bpf-linker --version` runs.
    ///
    /// Debian packages iproute2 (ip netns and veth for --netns), iperf3 (a reference peer),
    /// bpftool (inspecting loaded programs and maps), bpftrace (the benchmark's peer),
    /// linux-perf (perf stat), fonts-dejavu-core
    /// (the plots' font) and python3-venv; installed with
    /// apt-get, through sudo when not root.
    ///
    /// The Python venv analysis/.venv: the packages pinned in analysis/requirements.lock,
    /// hash-checked, then netcopy_analysis itself (analysis/pyproject.toml, editable). Made
    /// anew when either file changes (a copy of both is kept in
    /// analysis/.venv/.netcopy-installed-from).
    ///
    /// cargo-fuzz 0.13.2, for the fuzz targets in fuzz/ (`cargo xtask fuzz`).
    Setup {
        /// Only report what is missing, install nothing; exit 1 if anything is missing.
        #[arg(long)]
        check: bool,
    },

    #[command(verbatim_doc_comment)]
    /// Set up, build netcopy and run it as root (through `sudo -E` when not root).
    ///
    /// netcopy loads eBPF programs and creates network namespaces, which needs root. xtask
    /// is replaced by netcopy, so the exit code and Ctrl-C are netcopy's own.
    ///
    /// Examples:
    ///   cargo xtask run -- trace --mode onecopy
    ///   cargo xtask run -- run --mode zerocopy --size 64K --netns
    ///   cargo xtask run -- help trace
    Run {
        /// Build with the release profile, which the measurements need (the default).
        #[arg(long, conflicts_with = "debug")]
        release: bool,
        /// Build with the dev profile (faster to build; slow data path, for debugging only).
        #[arg(long)]
        debug: bool,
        /// netcopy's own arguments, after `--`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },

    #[command(verbatim_doc_comment)]
    /// Set up, then run every test: the Rust tests as root, then the analysis tests.
    ///
    /// Step 1, setup (see `cargo xtask setup --help`), then the shape of the code
    /// (`cargo xtask layers`).
    ///
    /// Step 2, `cargo test --workspace --release`: release, so the build is shared with
    /// `run` and `install` and the workload tests move real amounts of data quickly. When
    /// not root, the test binaries run through `sudo -E` (a cargo target runner), since the
    /// eBPF and netns tests load programs and create namespaces.
    ///
    /// Step 3, when analysis/tests exists: `analysis/.venv/bin/python -m pytest -q
    /// analysis/tests`, with NETCOPY_BIN naming the release binary. Collecting no tests
    /// counts as a failure.
    ///
    /// Step 4, the benchmark suite once on its reduced setting (`cargo xtask bench --quick`,
    /// into target/bench-smoke.md): a smoke test that every bench runs; nothing is judged.
    ///
    /// Step 5, every fuzz target for 10 s (`cargo xtask fuzz --smoke`).
    ///
    /// Stops at the first failing step and names it. The last line adds up both runners:
    /// `tests: N passed, N failed, N skipped`.
    ///
    /// Example, one test file with its output:
    ///   cargo xtask test -- --test cli -- --nocapture
    Test {
        /// Extra arguments for `cargo test`, after `--` (a name filter, `-- --nocapture`).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CARGO_TEST_ARGS"
        )]
        args: Vec<String>,
    },

    #[command(verbatim_doc_comment)]
    /// Run the benchmark suite and write BENCHMARKS.md (as root: it traces).
    ///
    /// Side by side in one sitting, medians of 3 alternating runs of 5 s: netcopy onecopy
    /// 64K against iperf3; netcopy 1K against minimal send/recv loops; traced against
    /// untraced throughput per mode at 64K and 1K; the probes' added ns per 1-byte send and
    /// the traced call rate (with lost records); Parquet encode speed and bytes per row
    /// (criterion bench `sink`); peak RSS of a 60 s trace at the highest call rate.
    ///
    /// --quick runs each once for 1 s (3 s RSS) into target/bench-smoke.md: the CI smoke
    /// test that the benches run. Nothing is judged there.
    ///
    /// --against OLD adds a section comparing this build with another netcopy binary (an
    /// earlier commit's, e.g. built in a clone), the two alternated run by run: untraced and
    /// traced throughput, the traced 1-byte send and each program's ns per run (bpf_stats).
    ///
    /// The copy modes side by side (uring / onecopy, uringzc / zerocopy, --rx zerocopy /
    /// copy at 1K, 64K, 1M, with each end's CPU per KiB) close the table; --modes-only runs
    /// just them and rewrites their section.
    Bench {
        /// The reduced CI setting.
        #[arg(long)]
        quick: bool,
        /// Another netcopy binary to compare this build with.
        #[arg(long, value_name = "NETCOPY")]
        against: Option<PathBuf>,
        /// Only the copy-mode comparison (uring, uringzc, --rx zerocopy, their trace
        /// overhead), rewriting its section of BENCHMARKS.md and leaving the rest.
        #[arg(long, conflicts_with = "against")]
        modes_only: bool,
        /// Only the 10-minute trace at the highest call rate, its RSS every 10 s (not part
        /// of the full bench or CI), rewriting its section of BENCHMARKS.md.
        #[arg(long, conflicts_with_all = ["against", "modes_only", "quick"])]
        soak: bool,
    },

    #[command(verbatim_doc_comment)]
    /// Fuzz netcopy's parsers with cargo-fuzz (nightly), each target for a fixed time.
    ///
    /// Targets (fuzz/fuzz_targets): units (sizes, durations), wire (the hello and ack),
    /// records (ring-buffer items), kallsyms, folded (stacks + classifier), btf.
    /// Seeds come from fuzz/seeds; findings stay in fuzz/corpus; a crash fails the command
    /// and leaves its input in fuzz/artifacts.
    ///
    /// Examples:
    ///   cargo xtask fuzz                      # every target, 10 minutes each
    ///   cargo xtask fuzz --seconds 60 wire    # one target for a minute
    ///   cargo xtask fuzz --smoke              # every target for 10 s (CI)
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// CI's setting: 10 s per target.
        #[arg(long, conflicts_with = "seconds")]
        smoke: bool,
        /// Targets to run (all when none).
        targets: Vec<String>,
    },

    /// A reference loop for the benchmarks (see xtask/src/bench/loops.rs).
    #[command(hide = true)]
    BenchLoop {
        #[arg(long)]
        mode: String,
        #[arg(long, default_value = "1K")]
        size: String,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Print `ready PID` and wait for a line on stdin before measuring.
        #[arg(long)]
        wait_go: bool,
    },

    #[command(verbatim_doc_comment)]
    /// Check the code's shape: layers, import cycles, file sizes, headers (no build needed).
    ///
    /// Each crate's top-level modules are ranked bottom to top (the table is in
    /// xtask/src/layers.rs; for netcopy: units and privileges, model, testbed, workload,
    /// probes, collect, sink, report, trace, sweep and plot, cli). A module may import only
    /// from lower ones. Within any folder, modules may not import each other in a circle.
    /// No source file may have more than 450 lines outside its tests, and each starts with
    /// a `//!` header. Every problem is named with its file and line; any fails the command.
    /// `cargo xtask test` runs this first.
    Layers,

    #[command(verbatim_doc_comment)]
    /// Build netcopy (release) and install it as PREFIX/bin/netcopy, mode 0755.
    ///
    /// Runs the Rust part of setup first (nightly rust-src and bpf-linker). Uses sudo when not
    /// root and PREFIX is not writable.
    ///
    /// Why /usr/local: netcopy runs as root, and `sudo netcopy` searches only sudo's
    /// secure_path (on Debian /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin),
    /// not your PATH, so `cargo install`'s ~/.cargo/bin would not be found. After installing:
    ///
    ///   sudo netcopy trace --mode onecopy
    Install {
        /// Where to install: the binary goes to PREFIX/bin/netcopy.
        #[arg(long, default_value = "/usr/local", value_name = "PREFIX")]
        prefix: PathBuf,
    },
}

/// `1K`, `64K`, `1M` or bytes.
fn parse_size(s: &str) -> anyhow::Result<usize> {
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1024),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    let n: usize = num
        .parse()
        .map_err(|_| anyhow::anyhow!("size {s:?}: use bytes, or 1K, 64K, 1M"))?;
    Ok(n * mult)
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Setup { check } => setup::setup(if check {
            setup::Mode::Check
        } else {
            setup::Mode::Install
        }),
        Command::Run { debug, args, .. } => run::run(!debug, &args),
        Command::Test { args } => test::test(&args),
        Command::Layers => layers::check(&cmd::workspace_root()).map(|()| ExitCode::SUCCESS),
        Command::Install { prefix } => install::install(&prefix),
        Command::Bench {
            quick,
            against,
            modes_only,
            soak,
        } => {
            let root = cmd::workspace_root();
            let opts = if quick {
                bench::Opts::quick(&root)
            } else {
                Ok(bench::Opts::full(&root))
            };
            let opts = opts.map(|o| bench::Opts {
                against,
                modes_only,
                soak,
                ..o
            });
            opts.and_then(|o| {
                setup::setup(setup::Mode::Install)?;
                bench::bench(&o)
            })
        }
        Command::Fuzz {
            seconds,
            smoke,
            targets,
        } => setup::setup(setup::Mode::Install).and_then(|_| {
            let seconds = if smoke { fuzz::SMOKE_SECONDS } else { seconds };
            fuzz::fuzz(&targets, seconds).map(|()| ExitCode::SUCCESS)
        }),
        Command::BenchLoop {
            mode,
            size,
            seconds,
            wait_go,
        } => parse_size(&size).and_then(|size| {
            bench::loops::run(
                &mode,
                size,
                std::time::Duration::from_millis(500),
                std::time::Duration::from_secs_f64(seconds),
                wait_go,
            )
            .map(|()| ExitCode::SUCCESS)
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: error: {e:#}");
        ExitCode::FAILURE
    })
}
