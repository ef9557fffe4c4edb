//! `netcopy plot DIR`: PNG and SVG charts of a sweep, drawn in Rust (plotters).
//!
//! The seed report's plots (throughput vs size, latency vs threads, CPU cost per byte vs
//! size, context switches vs size, a summary grid), and what it could not draw: kernel time
//! by copy stage, the zerocopy verdict, and the off-CPU share. A metric this machine cannot
//! measure (cycles and cache counters without a PMU) gets a chart that says so on its face.

mod chart;
mod charts;
mod draw;
pub mod flame;
mod font;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use draw::stage_rgb;

use crate::report::sweep::Group;

#[derive(Debug, Error)]
pub enum PlotError {
    #[error("{0}")]
    Font(String),
    #[error("draw {path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Empty(String),
}

/// Which slice of the sweep the 2-D charts show.
#[derive(Clone, Debug)]
pub struct Options {
    /// Thread count of the "vs size" charts (default: the smallest in the sweep).
    pub threads: Option<u32>,
    /// Message size of the "vs threads" chart (default: the largest up to 64K).
    pub size: Option<u64>,
    /// Where the files go (default: DIR/plots).
    pub out: PathBuf,
}

/// Draw every chart of the sweep `groups`; returns the files written.
pub fn plot(groups: &[Group], opts: &Options) -> Result<Vec<PathBuf>, PlotError> {
    if groups.is_empty() {
        return Err(PlotError::Empty("no finished cells to plot".into()));
    }
    font::register()?;
    std::fs::create_dir_all(&opts.out).map_err(|source| PlotError::Io {
        path: opts.out.clone(),
        source,
    })?;
    let threads = opts
        .threads
        .or_else(|| groups.iter().map(|g| g.threads).min())
        .unwrap_or(1);
    let size = opts.size.unwrap_or_else(|| default_size(groups));
    let mut written = Vec::new();
    for chart in charts::all(groups, threads, size) {
        written.extend(draw::write(&opts.out, &chart)?);
    }
    written.extend(draw::write_grid(
        &opts.out,
        "summary",
        &charts::summary(groups, threads, size),
    )?);
    Ok(written)
}

/// The largest size up to 64K, else the smallest: where the thread scaling is most telling
/// without the large-message memory effects.
fn default_size(groups: &[Group]) -> u64 {
    let mut sizes: Vec<u64> = groups.iter().map(|g| g.size).collect();
    sizes.sort_unstable();
    sizes
        .iter()
        .rev()
        .find(|s| **s <= 64 * 1024)
        .or(sizes.first())
        .copied()
        .unwrap_or(0)
}

/// `DIR/plots`.
pub fn default_out(dir: &Path) -> PathBuf {
    dir.join("plots")
}
