//! `stages.parquet` and `stacks.parquet`: where sampled kernel time went, by copy stage, and
//! the folded stacks behind it (for flame graphs).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use super::{RunDir, SinkError, TableWriter};
use crate::collect::samples::Sampled;

/// Write both tables. `period_ns` turns samples into estimated time.
pub fn write(dir: &RunDir, sampled: &Sampled, period_ns: u64) -> Result<(), SinkError> {
    let (mut role, mut syscall, mut stage) = (Vec::new(), Vec::new(), Vec::new());
    let (mut samples, mut est_ns, mut share) = (Vec::new(), Vec::new(), Vec::new());
    for b in &sampled.breakdowns {
        for (s, n) in b.table.iter() {
            role.push(b.role.name());
            syscall.push(b.kind.name());
            stage.push(s.name());
            samples.push(n);
            est_ns.push(b.table.est_ns(s, period_ns));
            share.push(b.table.share(s));
        }
    }
    let rows = role.len();
    let run_id = vec![dir.run_id.as_str(); rows];
    let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let stages = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("role", DataType::Utf8, false),
            Field::new("syscall", DataType::Utf8, false),
            Field::new("stage", DataType::Utf8, false),
            Field::new("samples", DataType::UInt64, false),
            Field::new("est_ns", DataType::UInt64, false),
            Field::new("share", DataType::Float64, false),
            // Per-call exact stage time where fentry/fexit run; null where they do not.
            Field::new("exact_ns", DataType::UInt64, true),
        ])),
        vec![
            text(run_id),
            text(role),
            text(syscall),
            text(stage),
            Arc::new(UInt64Array::from(samples)),
            Arc::new(UInt64Array::from(est_ns)),
            Arc::new(Float64Array::from(share)),
            Arc::new(UInt64Array::from(vec![None::<u64>; rows])),
        ],
    )?;
    write_one(dir, "stages", &stages)?;

    let s = &sampled.stacks;
    let stacks = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("role", DataType::Utf8, false),
            Field::new("syscall", DataType::Utf8, false),
            Field::new("stage", DataType::Utf8, false),
            Field::new("stack", DataType::Utf8, false),
            Field::new("samples", DataType::UInt64, false),
        ])),
        vec![
            text(vec![dir.run_id.as_str(); s.len()]),
            text(s.iter().map(|f| f.role.name()).collect()),
            text(s.iter().map(|f| f.kind.name()).collect()),
            text(s.iter().map(|f| f.stage.name()).collect()),
            text(s.iter().map(|f| f.folded.as_str()).collect()),
            Arc::new(UInt64Array::from(
                s.iter().map(|f| f.samples).collect::<Vec<_>>(),
            )),
        ],
    )?;
    write_one(dir, "stacks", &stacks)
}

fn write_one(dir: &RunDir, table: &str, batch: &RecordBatch) -> Result<(), SinkError> {
    let mut w = TableWriter::create(dir, table, batch.schema())?;
    w.write(batch)?;
    w.close()?;
    Ok(())
}
