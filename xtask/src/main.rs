//! `cargo xtask`: the chores around netcopy. Every command installs what it needs first.

mod cmd;
mod install;
mod setup;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// netcopy's chores. Each command first installs what this machine lacks (see `setup`).
#[derive(Parser)]
#[command(about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what a fresh machine lacks; does nothing when all is there.
    ///
    /// Nightly rust-src (for -Z build-std), bpf-linker 0.13 linked against the nightly
    /// toolchain's own LLVM, the Debian packages iproute2, iperf3, bpftool and python3-venv,
    /// and the Python venv analysis/.venv with analysis/requirements.txt.
    Setup {
        /// Only report what is missing; exit 1 if anything is.
        #[arg(long)]
        check: bool,
    },
    /// Set up, build netcopy (release) and run it as root with ARGS.
    ///
    /// Example: cargo xtask run -- trace --mode onecopy
    Run {
        /// Arguments for netcopy.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then run every test: the Rust tests as root (the eBPF and netns tests load
    /// programs and create namespaces) and the analysis/ tests in the venv.
    Test {
        /// Extra arguments for `cargo test`, e.g. a test name filter.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build netcopy (release) and install it as PREFIX/bin/netcopy.
    ///
    /// The default prefix is /usr/local because sudo's secure_path contains /usr/local/bin but
    /// not ~/.cargo/bin, so `sudo netcopy trace --mode onecopy` finds it there.
    Install {
        #[arg(long, default_value = "/usr/local")]
        prefix: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Setup { check } => setup::setup(if check {
            setup::Mode::Check
        } else {
            setup::Mode::Install
        }),
        Command::Run { args } => install::run(&args),
        Command::Test { args } => test::test(&args),
        Command::Install { prefix } => install::install(&prefix),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
