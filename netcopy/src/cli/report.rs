//! `netcopy report`: the command line around [`crate::report::sweep`].

use std::{path::PathBuf, process::ExitCode};

use clap::Args;

use super::error::{Error, Usage};
use crate::{
    report::sweep::{Group, compare, groups, render, render_comparison},
    sweep::load_cells,
};

/// Tables of a sweep: throughput, latency, on-CPU ns per byte, context switches, stage
/// shares and the zerocopy verdict per (mode, size, threads), as medians over the repeats
/// with their min-max spread.
///
/// Examples:
///   netcopy report sweep-1
///   netcopy report sweep-1 --compare sweep-2      # A/B with B/A ratios
///   netcopy report sweep-1 --json | jq '.[0]'
#[derive(Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct ReportArgs {
    /// A directory written by `netcopy sweep`.
    dir: PathBuf,
    /// A second sweep to compare with (B; DIR is A).
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// The groups of the sweep in `dir`, or a one-line error saying why there are none.
pub fn load_groups(dir: &std::path::Path) -> Result<Vec<Group>, Error> {
    if !dir.is_dir() {
        return Err(Usage(format!("{}: no such directory", dir.display())).into());
    }
    let cells = load_cells(dir)?;
    if cells.is_empty() {
        return Err(Usage(format!(
            "{}: no finished cells (mode=*/size=*/threads=*/rep=*/cell.json); is it a `netcopy sweep --out` directory?",
            dir.display()
        ))
        .into());
    }
    Ok(groups(&cells))
}

pub fn execute(args: ReportArgs) -> Result<ExitCode, Error> {
    let a = load_groups(&args.dir)?;
    match &args.compare {
        None if args.json => println!("{}", serde_json::to_string_pretty(&a)?),
        None => print!("{}", render(&a)),
        Some(other) => {
            let b = load_groups(other)?;
            let rows = compare(&a, &b);
            if rows.is_empty() {
                return Err(Usage(format!(
                    "{} and {} have no (mode, size, threads) in common",
                    args.dir.display(),
                    other.display()
                ))
                .into());
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", render_comparison(&rows));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
