//! `netcopy flamegraph`: interactive SVG flame graphs of a traced run's kernel stacks, on-CPU
//! (stacks.parquet, coloured by copy stage) and off-CPU (offcpu_stacks.parquet, coloured
//! by why the call waited), with `--role`/`--syscall` to narrow them. `netcopy plot` draws
//! one per mode of a sweep through [`draw`].

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;

use super::error::{Error, Usage};
use crate::{
    model::StackRow,
    plot::{flame, stage_rgb},
    sink::stages::read_stacks,
};

/// Flame graphs of a traced run's kernel stacks: where the calls ran, and where they waited.
///
/// On-CPU: the stacks the stage sampler caught inside traced calls (stacks.parquet), each
/// standing on a bottom frame that names its copy stage and coloured like that stage in
/// `netcopy plot`. Off-CPU: the stacks calls were switched out at (offcpu_stacks.parquet),
/// weighted by the time they stayed out and coloured by why (waiting for data, for send
/// buffer memory, for the socket lock, preempted). Click a frame to zoom, Ctrl-F to search.
///
/// RUN_DIR is a `netcopy trace --out` directory, a sweep cell
/// (SWEEP/mode=M/size=S/threads=T/rep=R) or a `serve --trace`/`client --trace` shard.
///
/// Examples:
///   netcopy flamegraph run1                           # run1/flamegraph.svg (+ -offcpu.svg)
///   netcopy flamegraph run1 --role client --syscall recvmsg --out recv.svg
///   netcopy flamegraph run1 --out flame.png           # rendered to PNG
#[derive(Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct FlamegraphArgs {
    /// A directory holding stacks.parquet (a traced run, a sweep cell, a shard).
    run_dir: PathBuf,
    /// Only the stacks of this role (server, client, other).
    #[arg(long)]
    role: Option<String>,
    /// Only the stacks of this syscall (sendmsg, recvmsg, io_uring_enter, ...).
    #[arg(long)]
    syscall: Option<String>,
    /// The on-CPU graph's file, .svg or .png; the off-CPU one goes beside it with -offcpu
    /// added to its name [default: RUN_DIR/flamegraph.svg].
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// The two tables: file, group column, weight column, what the weights count.
const ONCPU: (&str, &str, &str, &str) = ("stacks.parquet", "stage", "samples", "samples");
const OFFCPU: (&str, &str, &str, &str) = ("offcpu_stacks.parquet", "reason", "offcpu_ns", "ns");

pub fn execute(args: FlamegraphArgs) -> Result<ExitCode, Error> {
    let dir = &args.run_dir;
    if !dir.is_dir() {
        return Err(Usage(format!("{}: no such directory", dir.display())).into());
    }
    let oncpu = dir.join(ONCPU.0);
    if !oncpu.is_file() {
        return Err(Usage(format!(
            "{}: no {} here; it is written by `netcopy trace` (and sweep cells) when the stack sampler ran (--sample-hz above 0)",
            dir.display(),
            ONCPU.0
        ))
        .into());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join("flamegraph.svg"));
    check_out(&out)?;
    let rows = read_stacks(&oncpu, ONCPU.1, ONCPU.2)?;
    let rows = narrow(rows, &args)?;
    let what = scope(&args);
    let mut written = vec![draw(
        &rows,
        format!("On-CPU kernel stacks{what}, by copy stage"),
        ONCPU.3,
        &out,
        &stage_rgb,
    )?];
    let offcpu = dir.join(OFFCPU.0);
    if offcpu.is_file() {
        let rows = narrow(read_stacks(&offcpu, OFFCPU.1, OFFCPU.2)?, &args)?;
        if rows.iter().any(|r| r.weight > 0) {
            written.push(draw(
                &rows,
                format!("Off-CPU stacks{what}: where traced calls waited, by reason"),
                OFFCPU.3,
                &offcpu_path(&out),
                &flame::reason_rgb,
            )?);
        }
    }
    for f in &written {
        eprintln!("netcopy flamegraph: wrote {}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// " of the client's recvmsg calls" and the like, for titles.
fn scope(args: &FlamegraphArgs) -> String {
    match (&args.role, &args.syscall) {
        (None, None) => String::new(),
        (Some(r), None) => format!(" of the {r}'s calls"),
        (None, Some(s)) => format!(" of {s} calls"),
        (Some(r), Some(s)) => format!(" of the {r}'s {s} calls"),
    }
}

/// The rows `--role` and `--syscall` ask for; a value the run does not have is bad input
/// that names the ones it has.
fn narrow(rows: Vec<StackRow>, args: &FlamegraphArgs) -> Result<Vec<StackRow>, Error> {
    let pick = |rows: Vec<StackRow>,
                want: &Option<String>,
                flag: &str,
                field: fn(&StackRow) -> &str|
     -> Result<Vec<StackRow>, Error> {
        let Some(want) = want else {
            return Ok(rows);
        };
        let mut have: Vec<&str> = rows.iter().map(field).collect();
        have.sort_unstable();
        have.dedup();
        if !have.contains(&want.as_str()) {
            return Err(Usage(format!(
                "{flag} {want}: no stacks of that {}; this run has: {}",
                &flag[2..],
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ))
            .into());
        }
        Ok(rows.into_iter().filter(|r| field(r) == want).collect())
    };
    let rows = pick(rows, &args.role, "--role", |r| &r.role)?;
    pick(rows, &args.syscall, "--syscall", |r| &r.syscall)
}

/// `x.svg` -> `x-offcpu.svg`.
pub fn offcpu_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    let ext = out.extension().unwrap_or_default().to_string_lossy();
    out.with_file_name(format!("{stem}-offcpu.{ext}"))
}

fn check_out(out: &Path) -> Result<(), Error> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("svg" | "png") => Ok(()),
        _ => Err(Usage(format!(
            "--out {}: give a file ending in .svg or .png",
            out.display()
        ))
        .into()),
    }
}

/// Draw `rows` into `out` (SVG, or PNG rendered from it), coloured by `color`.
pub fn draw(
    rows: &[StackRow],
    title: String,
    unit: &'static str,
    out: &Path,
    color: &dyn Fn(&str) -> flame::Rgb,
) -> Result<PathBuf, Error> {
    let svg = flame::svg(&flame::Graph {
        title,
        subtitle: None,
        unit,
        rows,
        color,
    })?;
    let bytes = if out.extension().is_some_and(|e| e == "png") {
        flame::png(&svg)?
    } else {
        svg.into_bytes()
    };
    std::fs::write(out, bytes).map_err(Error::io("write the flame graph"))?;
    Ok(out.to_owned())
}
