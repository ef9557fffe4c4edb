//! `netcopy sweep`: every combination of modes, sizes and thread counts, repeated, each run
//! written as a cell of a hive-partitioned Parquet dataset:
//!
//! ```text
//! DIR/mode=onecopy/size=65536/threads=2/rep=1/{runs,syscalls,stages,stacks,zerocopy}.parquet
//!                                            /cell.json
//! DIR/summary.csv
//! ```
//!
//! A cell is run in `DIR/.incomplete/` and moved into place only when it finished, so a
//! cell directory always holds complete tables, and running the same sweep again skips the
//! cells that are there (resumable). An interrupted cell leaves nothing under `mode=…`.

pub mod csv;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use thiserror::Error;

use crate::{
    model::{CellRecord, Mode, NetPath, RunSummary},
    sink::{RunDir, SinkError, runs, zerocopy::ZerocopyRecorder},
    trace::{TraceError, TraceOptions, trace},
    workload::{
        client::ClientConfig,
        conn::Stop,
        run::{RunError, run_watched},
        watch::Watch,
    },
};

/// The file that marks a finished cell and holds its numbers.
pub const CELL_FILE: &str = "cell.json";
/// Where cells run before they are moved into place.
const INCOMPLETE: &str = ".incomplete";

#[derive(Debug, Error)]
pub enum SweepError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl SweepError {
    /// Bad input the user can fix (an `--out` that cannot be written).
    pub fn is_usage(&self) -> bool {
        matches!(self, SweepError::Sink(e) if e.is_usage())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What to sweep.
#[derive(Clone, Debug)]
pub struct Spec {
    pub modes: Vec<Mode>,
    pub sizes: Vec<u64>,
    pub threads: Vec<u32>,
    pub duration: Duration,
    pub warmup: Duration,
    pub repeat: u32,
    pub path: NetPath,
    /// Stack sampling frequency when traced; `None`: no stage breakdown.
    pub sample_hz: Option<u64>,
    /// Attach the probes (needs root).
    pub trace: bool,
    pub out: PathBuf,
}

/// One run of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub mode: Mode,
    pub size: u64,
    pub threads: u32,
    /// 1-based repeat number.
    pub rep: u32,
}

impl Cell {
    /// `mode=…/size=…/threads=…/rep=…`, the hive partition path.
    pub fn partition(&self) -> PathBuf {
        PathBuf::from(format!("mode={}", self.mode.name()))
            .join(format!("size={}", self.size))
            .join(format!("threads={}", self.threads))
            .join(format!("rep={}", self.rep))
    }

    fn flat_name(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.mode.name(),
            self.size,
            self.threads,
            self.rep
        )
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} x{} rep {}",
            self.mode.name(),
            crate::units::format_size(self.size),
            self.threads,
            self.rep
        )
    }
}

impl Spec {
    /// Every cell, repeats innermost-last: all cells of repeat 1 before any of repeat 2, so
    /// a sweep cut short still covers the whole matrix once.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for rep in 1..=self.repeat {
            for &mode in &self.modes {
                for &size in &self.sizes {
                    for &threads in &self.threads {
                        cells.push(Cell {
                            mode,
                            size,
                            threads,
                            rep,
                        });
                    }
                }
            }
        }
        cells
    }

    /// Seconds one cell takes at least: warmup, window and the tail.
    pub fn cell_seconds(&self) -> f64 {
        self.warmup.as_secs_f64() + self.duration.as_secs_f64() + 0.5
    }
}

/// What happened to one cell, told as the sweep goes.
pub enum Event<'a> {
    /// The cell is about to run; `index` counts from 0 over the cells that run.
    Start {
        cell: Cell,
        index: usize,
        total: usize,
    },
    /// Finished earlier: not run again.
    Skipped {
        cell: Cell,
    },
    Done {
        cell: Cell,
        record: &'a CellRecord,
    },
    Failed {
        cell: Cell,
        error: String,
    },
}

/// How the sweep ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    pub interrupted: bool,
}

/// Whether `dir` holds a finished cell.
pub fn finished(dir: &Path) -> bool {
    dir.join(CELL_FILE).is_file()
}

/// Run every cell that is not finished yet, telling `on` about each.
pub fn run(spec: &Spec, stop: &Stop, mut on: impl FnMut(Event<'_>)) -> Result<Outcome, SweepError> {
    std::fs::create_dir_all(&spec.out).map_err(io(&spec.out))?;
    let incomplete = spec.out.join(INCOMPLETE);
    // Whatever an earlier, interrupted sweep left half-done goes.
    if incomplete.exists() {
        std::fs::remove_dir_all(&incomplete).map_err(io(&incomplete))?;
    }
    let mut outcome = Outcome::default();
    let (todo, done): (Vec<Cell>, Vec<Cell>) = spec
        .cells()
        .into_iter()
        .partition(|c| !finished(&spec.out.join(c.partition())));
    for cell in done {
        outcome.skipped += 1;
        on(Event::Skipped { cell });
    }
    let total = todo.len();
    for (index, cell) in todo.into_iter().enumerate() {
        if stop.requested() {
            outcome.interrupted = true;
            break;
        }
        on(Event::Start { cell, index, total });
        // The first cell says which probes fell back; the others would repeat it.
        match run_cell(spec, cell, stop, index > 0) {
            Ok(Some(record)) => {
                outcome.done += 1;
                on(Event::Done {
                    cell,
                    record: &record,
                });
                csv::write(&spec.out)?;
            }
            Ok(None) => {
                outcome.interrupted = true;
                break;
            }
            Err(e) => {
                outcome.failed += 1;
                on(Event::Failed {
                    cell,
                    error: e.to_string(),
                });
            }
        }
    }
    if incomplete.exists() {
        std::fs::remove_dir_all(&incomplete).map_err(io(&incomplete))?;
    }
    csv::write(&spec.out)?;
    Ok(outcome)
}

/// Why one cell failed (the sweep goes on with the next).
#[derive(Debug, Error)]
enum CellError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Run one cell into `.incomplete/`, then move it into place. `None` when it was
/// interrupted (and thrown away).
fn run_cell(
    spec: &Spec,
    cell: Cell,
    stop: &Stop,
    quiet: bool,
) -> Result<Option<CellRecord>, CellError> {
    let tmp = spec.out.join(INCOMPLETE).join(cell.flat_name());
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let dir = RunDir::for_run(Some(&tmp), &cell.flat_name(), None, false)?;
    let cfg = ClientConfig::new(
        cell.mode,
        cell.size,
        cell.threads,
        spec.warmup,
        spec.duration,
    );
    let (summary, methods) = if spec.trace {
        let opts = TraceOptions {
            out: Some(dir.clone()),
            sample_hz: spec.sample_hz,
            quiet,
            ..TraceOptions::default()
        };
        let s = trace(&cfg, spec.path, &opts, stop)?;
        let methods = s.probe.as_ref().map(|p| p.method.clone());
        (s, methods)
    } else {
        (untraced(&cfg, spec.path, &dir, stop)?, None)
    };
    if summary.interrupted || stop.requested() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        return Ok(None);
    }
    let record = CellRecord::new(&summary, cell.rep, &dir.run_id, methods.as_deref());
    let json = tmp.join(CELL_FILE);
    let text = serde_json::to_vec_pretty(&record).map_err(|source| SweepError::Json {
        path: json.clone(),
        source,
    })?;
    std::fs::write(&json, text).map_err(io(&json))?;
    let target = spec.out.join(cell.partition());
    if target.exists() {
        // A directory without cell.json: left by something else than a finished cell.
        std::fs::remove_dir_all(&target).map_err(io(&target))?;
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(&tmp, &target).map_err(io(&target))?;
    Ok(Some(record))
}

/// A run without probes: the workload's own numbers, runs.parquet and zerocopy.parquet.
fn untraced(
    cfg: &ClientConfig,
    path: NetPath,
    dir: &RunDir,
    stop: &Stop,
) -> Result<RunSummary, CellError> {
    let mut watch = Watch::default();
    let recorder = if cfg.mode == Mode::Zerocopy {
        let (log, recorder) = ZerocopyRecorder::start(dir)?;
        watch.completions = Some(log);
        Some(recorder)
    } else {
        None
    };
    let outcome = run_watched(cfg, path, stop, &watch);
    // The recorder ends when the last sender of the log is gone.
    drop(watch);
    if let Some(recorder) = recorder {
        recorder.finish()?;
    }
    let summary = outcome?.summary();
    runs::write(dir, &summary, &runs::meta_here("none".into(), None), None)?;
    Ok(summary)
}

/// Every finished cell under `dir`, in a stable order.
pub fn load_cells(dir: &Path) -> Result<Vec<CellRecord>, SweepError> {
    let mut files = Vec::new();
    collect_cell_files(dir, 0, &mut files)?;
    files.sort();
    let mut cells = Vec::with_capacity(files.len());
    for path in files {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let record: CellRecord =
            serde_json::from_slice(&bytes).map_err(|source| SweepError::Json {
                path: path.clone(),
                source,
            })?;
        cells.push(record);
    }
    Ok(cells)
}

/// `cell.json` files in the four partition levels below `dir` (hidden directories, such as
/// `.incomplete`, are not cells).
fn collect_cell_files(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> Result<(), SweepError> {
    if depth == 4 {
        let file = dir.join(CELL_FILE);
        if file.is_file() {
            out.push(file);
        }
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && name.contains('=') && entry.path().is_dir() {
            collect_cell_files(&entry.path(), depth + 1, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            modes: vec![Mode::Twocopy, Mode::Onecopy],
            sizes: vec![1024, 65536],
            threads: vec![1],
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            repeat: 2,
            path: NetPath::Loopback,
            sample_hz: None,
            trace: false,
            out: PathBuf::from("x"),
        }
    }

    #[test]
    fn cells_cover_the_matrix_once_per_repeat_in_order() {
        let cells = spec().cells();
        assert_eq!(cells.len(), 8);
        assert!(cells[..4].iter().all(|c| c.rep == 1));
        assert_eq!(
            cells[1].partition(),
            PathBuf::from("mode=twocopy/size=65536/threads=1/rep=1")
        );
    }
}
