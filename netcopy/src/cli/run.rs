//! `netcopy run`: both ends in this process, untraced.

use std::process::ExitCode;

use super::{args::LocalArgs, error::Error, output::print_summary, signals::with_signals};
use crate::workload::{conn::Stop, run::run};

pub fn execute(args: LocalArgs, stop: &Stop) -> Result<ExitCode, Error> {
    let (cfg, path) = args.local_run();
    let outcome = with_signals(stop, move |stop| run(&cfg, path, stop))?;
    print_summary(&outcome.summary(), args.output.json)
}
