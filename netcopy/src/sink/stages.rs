//! `stages.parquet` and `stacks.parquet`: where sampled kernel time went, by copy stage, and
//! the folded stacks behind it (for flame graphs).

use std::{fs::File, path::Path, sync::Arc};

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{RunDir, SinkError, TableWriter};
use crate::{
    collect::{
        combine::{OnCpu, combine, exact_of},
        offcpu::OffcpuStack,
        samples::Sampled,
    },
    model::{StackRow, SyscallSummary},
};

/// Write both tables. `syscalls` gives each role's and syscall's on-CPU time and the exact
/// stage times (brackets, fentry) that the samples are combined with (see `combine`;
/// `period_ns` for threads of no role, whose calls have no summary).
pub fn write(
    dir: &RunDir,
    sampled: &Sampled,
    syscalls: &[SyscallSummary],
    period_ns: u64,
) -> Result<(), SinkError> {
    let (mut role, mut syscall, mut stage) = (Vec::new(), Vec::new(), Vec::new());
    let (mut samples, mut est_ns, mut share) = (Vec::new(), Vec::new(), Vec::new());
    let (mut exact, mut method, mut exact_share, mut skew) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for b in &sampled.breakdowns {
        let calls: Vec<&SyscallSummary> = syscalls
            .iter()
            .filter(|r| r.role == b.role && r.syscall == b.kind.name())
            .collect();
        for c in combine(
            &b.table,
            &b.scopes,
            OnCpu::of(&calls, period_ns),
            &exact_of(&calls),
        ) {
            role.push(b.role.name());
            syscall.push(b.kind.name());
            stage.push(c.stage.name());
            samples.push(c.samples);
            est_ns.push(c.est_ns);
            share.push(c.share);
            exact.push(c.exact_ns);
            method.push(c.method.name());
            exact_share.push(c.exact_share);
            skew.push(c.skew_pts);
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
            // Exact for `tracepoint` and `fentry`; for `sampled`, the stage's share of the
            // on-CPU time the exact stages leave.
            Field::new("est_ns", DataType::UInt64, false),
            Field::new("share", DataType::Float64, false),
            // The exact time where a bracket or fentry timed the stage; null for sampled.
            Field::new("exact_ns", DataType::UInt64, true),
            Field::new("method", DataType::Utf8, false),
            Field::new("exact_share", DataType::Float64, true),
            Field::new("skew_pts", DataType::Float64, true),
        ])),
        vec![
            text(run_id),
            text(role),
            text(syscall),
            text(stage),
            Arc::new(UInt64Array::from(samples)),
            Arc::new(UInt64Array::from(est_ns)),
            Arc::new(Float64Array::from(share)),
            Arc::new(UInt64Array::from(exact)),
            text(method),
            Arc::new(Float64Array::from(exact_share)),
            Arc::new(Float64Array::from(skew)),
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

/// offcpu_stacks.parquet: the stacks traced calls were switched out at (voluntary
/// switches; the sched family reads `STACK_DEPTH` frames), with the time out at each, by
/// role, syscall and reason. Not written when there are none.
pub fn write_offcpu(dir: &RunDir, stacks: &[OffcpuStack]) -> Result<(), SinkError> {
    if stacks.is_empty() {
        return Ok(());
    }
    let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("role", DataType::Utf8, false),
            Field::new("syscall", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("stack", DataType::Utf8, false),
            Field::new("offcpu_ns", DataType::UInt64, false),
        ])),
        vec![
            text(vec![dir.run_id.as_str(); stacks.len()]),
            text(stacks.iter().map(|s| s.role.name()).collect()),
            text(stacks.iter().map(|s| s.kind.name()).collect()),
            text(stacks.iter().map(|s| s.reason.name()).collect()),
            text(stacks.iter().map(|s| s.folded.as_str()).collect()),
            Arc::new(UInt64Array::from(
                stacks.iter().map(|s| s.ns).collect::<Vec<_>>(),
            )),
        ],
    )?;
    write_one(dir, OFFCPU_TABLE, &batch)
}

/// The off-CPU stacks' table.
pub const OFFCPU_TABLE: &str = "offcpu_stacks";

/// The rows of a stacks table, as the flame graphs read them: stacks.parquet (grouped by
/// `stage`, weighed by `samples`) or offcpu_stacks.parquet (`reason`, `offcpu_ns`).
pub fn read_stacks(path: &Path, group: &str, weight: &str) -> Result<Vec<StackRow>, SinkError> {
    let file = File::open(path).map_err(|source| SinkError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut rows = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)?.build()? {
        let batch = batch?;
        let text = |name: &str| -> Result<&StringArray, SinkError> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| missing(path, name))
        };
        let (role, syscall, stage, stack) = (
            text("role")?,
            text("syscall")?,
            text(group)?,
            text("stack")?,
        );
        let weights = batch
            .column_by_name(weight)
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| missing(path, weight))?;
        for i in 0..batch.num_rows() {
            rows.push(StackRow {
                role: role.value(i).to_owned(),
                syscall: syscall.value(i).to_owned(),
                stage: stage.value(i).to_owned(),
                stack: stack.value(i).to_owned(),
                weight: weights.value(i),
            });
        }
    }
    Ok(rows)
}

fn missing(path: &Path, column: &str) -> SinkError {
    SinkError::Arrow(ArrowError::SchemaError(format!(
        "{}: no column {column} of the expected type",
        path.display()
    )))
}

fn write_one(dir: &RunDir, table: &str, batch: &RecordBatch) -> Result<(), SinkError> {
    let mut w = TableWriter::create(dir, table, batch.schema())?;
    w.write(batch)?;
    w.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use netcopy_common::{stage::Stage, syscalls::SyscallKind};

    use super::*;
    use crate::{
        collect::{combine::StageMethod, records::CallStats},
        model::Role,
    };

    #[test]
    fn exact_times_go_to_the_stage_their_function_or_bracket_times() {
        let mut stats = CallStats::default();
        stats.totals.calls = 2;
        stats.totals.exact_calls = 2;
        stats.totals.exact_ns = [9_000, 0, 500, 70, 0];
        stats.totals.bracket_calls = 2;
        stats.totals.rx_softirq_ns = 1_000;
        stats.totals.dev_xmit_ns = 300;
        let row = stats.summary(Role::Server, SyscallKind::Sendmsg);
        let exact = exact_of(&[&row]);
        let at = |stage| exact.iter().find(|(s, _, _)| *s == stage).copied();
        assert_eq!(
            at(Stage::RxSoftirq),
            Some((Stage::RxSoftirq, 1_000, StageMethod::Tracepoint))
        );
        assert_eq!(
            at(Stage::TxSoftirq),
            Some((Stage::TxSoftirq, 0, StageMethod::Tracepoint))
        );
        assert_eq!(
            at(Stage::DeferredCopy),
            Some((Stage::DeferredCopy, 500, StageMethod::Fentry))
        );
        assert_eq!(at(Stage::ZcCompletion).map(|e| e.1), Some(70));
        // tcp_sendmsg_locked spans several stages, so no stage gets its time.
        assert_eq!(at(Stage::CopyUserToSkb), None);
        // A call a tier missed makes its stages unknown, not smaller.
        stats.totals.exact_calls = 1;
        stats.totals.bracket_calls = 1;
        let row = stats.summary(Role::Server, SyscallKind::Sendmsg);
        assert!(exact_of(&[&row]).is_empty());
    }
}
