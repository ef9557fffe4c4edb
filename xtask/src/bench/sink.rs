//! The in-process data path rows: `cargo bench -p netcopy --bench sink -- --quick-summary`
//! (netcopy/benches/sink.rs) run once, and its lines read into the Parquet encode rate and
//! size rows and the collector's CPU per record.

use std::{path::Path, process::Command};

use anyhow::Context;

use super::{table::Row, targets};

/// Parquet encode of the syscalls table (criterion bench; it prints its rows/s and size).
pub fn encode(root: &Path, push: &mut impl FnMut(Row)) -> anyhow::Result<()> {
    let enc = Command::new("cargo")
        .current_dir(root)
        .args([
            "bench",
            "-p",
            "netcopy",
            "--bench",
            "sink",
            "--",
            "--quick-summary",
        ])
        .output()
        .context("cargo bench --bench sink")?;
    let text = String::from_utf8_lossy(&enc.stdout).into_owned();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let (rows_s, bytes_row) = (field("rows_per_second:"), field("bytes_per_row:"));
    let per_cpu = field("rows_per_cpu_second:").map_or("-".into(), |v| format!("{:.2} M", v / 1e6));
    push(Row {
        measure: "Parquet encode of the syscalls table".into(),
        target: format!(">= {:.0} rows/s", targets::ENCODE_ROWS_PER_S),
        detail: format!(
            "SyscallsWriter: records to Arrow to ZSTD Parquet, each row also folded into its thread's statistics, 1M realistic rows; building and encoding overlap on two threads, {per_cpu} rows per CPU-second"
        ),
        value: rows_s,
        unit: "/s",
        met: rows_s.map(|v| v >= targets::ENCODE_ROWS_PER_S),
    });
    push(Row::at_most(
        "Parquet size of the syscalls table".into(),
        targets::BYTES_PER_ROW,
        " B/row",
        "file size / rows of the same 1M rows".into(),
        bytes_row,
        "B",
    ));
    push(Row {
        measure: "the collector's CPU per record".into(),
        target: "-".into(),
        detail: "the same 1M rows as the kernel sends them (batches of heads, tails where they have one) read out and spooled, as the collector does while a trace runs; CPU time of its thread, the least of five passes".into(),
        value: field("collector_ns_per_row:"),
        unit: "ns",
        met: None,
    });
    Ok(())
}
