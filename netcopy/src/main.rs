//! The `netcopy` command line: parse, dispatch to the command's module in `netcopy::cli`,
//! exit with its status.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use netcopy::{
    cli::{self, error::Error, signals},
    workload::conn::Stop,
};

/// What does moving bytes through a TCP socket cost in the kernel?
///
/// netcopy moves messages of 8 separately allocated fields through TCP in five copy modes
/// (twocopy: serialize + send; onecopy: sendmsg with an iovec; zerocopy: MSG_ZEROCOPY with
/// completions reaped; uring: serialize + io_uring SEND; uringzc: serialize + io_uring
/// SEND_ZC with notifications reaped) and traces both ends with eBPF.
///
/// Examples:
///   netcopy run --mode zerocopy --size 64K --duration 5s
///   netcopy run --mode uringzc --size 1M
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
    Run(cli::args::LocalArgs),
    /// Like `run`, with the eBPF probes attached to both ends (needs root).
    ///
    /// Checks the probes' per-thread syscall counts against the workload's own counts.
    Trace(cli::trace::TraceArgs),
    /// Check what this kernel and process allow, and print the attach plan. Traces nothing.
    ///
    /// Shows privileges, BTF, tracefs and PMU, and for each hook the methods netcopy would
    /// try (fentry/fexit > tp_btf > raw_tp > tracepoint > sampling) with the one it would use.
    /// NETCOPY_HIDE=btf,pmu,fentry,rawtp hides features to show the fallbacks.
    Doctor(cli::doctor::DoctorArgs),
    /// Every combination of modes, sizes and threads, repeated, into a Parquet dataset.
    Sweep(cli::sweep::SweepArgs),
    /// Tables of a sweep: medians over repeats, spreads, A/B comparison.
    Report(cli::report::ReportArgs),
    /// PNG and SVG charts of a sweep.
    Plot(cli::plot::PlotArgs),
    /// Wait for clients and send each what it asks for (mode, size, duration come from the client).
    Serve(cli::serve::ServeArgs),
    /// Connect to a `netcopy serve`, receive for the given time and print a summary.
    Client(cli::client::ClientArgs),
    /// A live view of socket calls per process and thread (needs root).
    Top(cli::top::TopArgs),
    /// Flame graphs (SVG or PNG) of a traced run's kernel stacks, on-CPU and off-CPU.
    Flamegraph(cli::flamegraph::FlamegraphArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    ///
    /// `cargo xtask install` puts them where the shells look. By hand:
    ///   netcopy completions bash > /usr/local/share/bash-completion/completions/netcopy
    ///   netcopy completions zsh > /usr/local/share/zsh/site-functions/_netcopy
    ///   netcopy completions fish > /usr/local/share/fish/vendor_completions.d/netcopy.fish
    #[command(verbatim_doc_comment)]
    Completions { shell: clap_complete::Shell },
    /// Write man pages (netcopy.1 and one per command) into DIR.
    ///
    /// `cargo xtask install` puts them in PREFIX/share/man/man1.
    Manpages { dir: std::path::PathBuf },
}

fn main() -> ExitCode {
    signals::catch_early();
    let command = Cli::parse().command;
    if matches!(
        command,
        Command::Report(_)
            | Command::Plot(_)
            | Command::Doctor(_)
            | Command::Flamegraph(_)
            | Command::Completions { .. }
            | Command::Manpages { .. }
    ) {
        signals::default_signals();
    }
    let stop = Stop::default();
    let result: Result<ExitCode, Error> = match command {
        Command::Run(args) => cli::run::execute(args, &stop),
        Command::Trace(args) => cli::trace::execute(args, &stop),
        Command::Doctor(args) => cli::doctor::execute(args),
        Command::Sweep(args) => cli::sweep::execute(args, &stop),
        Command::Report(args) => cli::report::execute(args),
        Command::Plot(args) => cli::plot::execute(args),
        Command::Serve(args) => cli::serve::execute(args, &stop),
        Command::Client(args) => cli::client::execute(args, &stop),
        Command::Flamegraph(args) => cli::flamegraph::execute(args),
        Command::Top(args) => cli::top::execute(args, &stop),
        Command::Completions { shell } => {
            cli::docs::completions(shell, &mut Cli::command(), &mut std::io::stdout())
        }
        Command::Manpages { dir } => cli::docs::manpages(&Cli::command(), &dir),
    };
    result.unwrap_or_else(|e| {
        eprintln!("netcopy: {}", e.one_line());
        ExitCode::from(e.exit_code())
    })
}
