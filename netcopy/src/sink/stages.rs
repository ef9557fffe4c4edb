//! `stages.parquet` and `stacks.parquet`: where sampled kernel time went, by copy stage, and
//! the folded stacks behind it (for flame graphs).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use netcopy_common::{exact, stage::Stage};

use super::{RunDir, SinkError, TableWriter};
use crate::{
    collect::samples::Sampled,
    model::{Role, SyscallSummary},
};

/// The exact tier's time for one role, syscall and stage: the summed ns of the timed function
/// that is that stage, where fentry/fexit timed the calls.
fn exact_ns(rows: &[SyscallSummary], role: Role, syscall: &str, stage: Stage) -> Option<u64> {
    let function = exact::of_stage(stage)?.function;
    let row = rows
        .iter()
        .find(|r| r.role == role && r.syscall == syscall)?;
    row.exact_ns.as_ref()?.get(function).copied()
}

/// Write both tables. `period_ns` turns samples into estimated time; `syscalls` carries the
/// exact tier's times where it ran.
pub fn write(
    dir: &RunDir,
    sampled: &Sampled,
    period_ns: u64,
    syscalls: &[SyscallSummary],
) -> Result<(), SinkError> {
    let (mut role, mut syscall, mut stage) = (Vec::new(), Vec::new(), Vec::new());
    let (mut samples, mut est_ns, mut share) = (Vec::new(), Vec::new(), Vec::new());
    let mut exact = Vec::new();
    for b in &sampled.breakdowns {
        for (s, n) in b.table.iter() {
            exact.push(exact_ns(syscalls, b.role, b.kind.name(), s));
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
            Arc::new(UInt64Array::from(exact)),
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

#[cfg(test)]
mod tests {
    use netcopy_common::syscalls::SyscallKind;

    use super::*;
    use crate::collect::records::CallStats;

    #[test]
    fn exact_times_go_to_the_stage_their_function_is() {
        let mut stats = CallStats::default();
        stats.totals.calls = 2;
        stats.totals.exact_calls = 2;
        stats.totals.exact_ns = [9_000, 0, 500, 70, 0];
        let rows = [stats.summary(Role::Server, SyscallKind::Sendmsg)];
        let at = |role, stage| exact_ns(&rows, role, "sendmsg", stage);
        assert_eq!(at(Role::Server, Stage::DeferredCopy), Some(500));
        assert_eq!(at(Role::Server, Stage::ZcCompletion), Some(70));
        // tcp_sendmsg_locked spans several stages, so no stage gets its time.
        assert_eq!(at(Role::Server, Stage::CopyUserToSkb), None);
        assert_eq!(at(Role::Client, Stage::DeferredCopy), None);
        // A call the exact tier missed makes the whole row unknown, not smaller.
        stats.totals.exact_calls = 1;
        let rows = [stats.summary(Role::Server, SyscallKind::Sendmsg)];
        assert_eq!(
            exact_ns(&rows, Role::Server, "sendmsg", Stage::DeferredCopy),
            None
        );
    }
}
