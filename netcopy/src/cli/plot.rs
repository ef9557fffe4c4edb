//! `netcopy plot`: the command line around [`crate::plot`].

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;

use super::flamegraph::draw;
use super::{
    args::size_arg,
    error::{Error, Usage},
    report::load_groups,
};
use crate::{
    plot::{Options, default_out, plot, stage_rgb},
    report::sweep::Group,
    sink::stages::read_stacks,
};

/// PNG and SVG charts of a sweep (no Python needed).
///
/// Throughput vs size, latency vs connections, CPU per byte vs size, cycles per byte,
/// cache counters, context switches vs size, a summary grid, and what the seed report could
/// not draw: kernel time by copy stage, the zerocopy verdict, and the off-CPU share. A
/// metric this machine cannot measure is named on the chart instead of drawn as zero.
///
/// Examples:
///   netcopy plot sweep-1                  # into sweep-1/plots/
///   netcopy plot sweep-1 --threads 4 --size 1M --out figs
#[derive(Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct PlotArgs {
    /// A directory written by `netcopy sweep`.
    dir: PathBuf,
    /// Thread count of the charts against size [default: the smallest in the sweep].
    #[arg(long)]
    threads: Option<u32>,
    /// Message size of the chart against threads [default: the largest up to 64K].
    #[arg(long, value_parser = size_arg)]
    size: Option<u64>,
    /// Directory for the files [default: DIR/plots].
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn execute(args: PlotArgs) -> Result<ExitCode, Error> {
    let groups = load_groups(&args.dir)?;
    let opts = Options {
        threads: args.threads,
        size: args.size,
        out: args.out.clone().unwrap_or_else(|| default_out(&args.dir)),
    };
    if let Some(t) = opts.threads {
        if !groups.iter().any(|g| g.threads == t) {
            return Err(Usage(format!(
                "--threads {t}: the sweep has no cells with {t} connection(s)"
            ))
            .into());
        }
    }
    if let Some(s) = opts.size {
        if !groups.iter().any(|g| g.size == s) {
            return Err(Usage(format!("--size {s}: the sweep has no cells of that size")).into());
        }
    }
    let mut files = plot(&groups, &opts)?;
    files.extend(flames(&args.dir, &groups, &opts.out)?);
    eprintln!(
        "netcopy plot: wrote {} files into {}",
        files.len(),
        opts.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The default plots of the sweep in `dir`, into `dir/plots` (what `sweep` draws at its end).
pub fn plot_sweep(dir: &std::path::Path) -> Result<Vec<PathBuf>, Error> {
    let groups = load_groups(dir)?;
    let opts = Options {
        threads: None,
        size: None,
        out: default_out(dir),
    };
    let mut files = plot(&groups, &opts)?;
    files.extend(flames(dir, &groups, &opts.out)?);
    Ok(files)
}

/// One on-CPU flame graph per mode, of its first repeat at the sweep's largest size and
/// fewest connections (`flame_<mode>.svg`); a mode whose cell has no stacks (untraced, or
/// sampling off) gets none.
fn flames(dir: &Path, groups: &[Group], out: &Path) -> Result<Vec<PathBuf>, Error> {
    let (Some(size), Some(threads)) = (
        groups.iter().map(|g| g.size).max(),
        groups.iter().map(|g| g.threads).min(),
    ) else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for g in groups
        .iter()
        .filter(|g| g.size == size && g.threads == threads)
    {
        let cell = dir.join(format!(
            "mode={}/size={size}/threads={threads}/rep=1",
            g.mode
        ));
        let stacks = cell.join("stacks.parquet");
        if !stacks.is_file() {
            continue;
        }
        let rows = read_stacks(&stacks, "stage", "samples")?;
        if rows.iter().all(|r| r.weight == 0) {
            continue;
        }
        written.push(draw(
            &rows,
            format!(
                "{} {} x {threads}: on-CPU kernel stacks by copy stage",
                g.mode,
                crate::units::format_size(size)
            ),
            "samples",
            &out.join(format!("flame_{}.svg", g.mode)),
            &stage_rgb,
        )?);
    }
    Ok(written)
}
