//! `uring.parquet`: one row per io_uring send request of a traced thread, from submit to
//! result and, for SEND_ZC, to its notification (what `collect::requests` pairs up).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, RecordBatch,
    builder::{
        BooleanBuilder, Int32Builder, StringDictionaryBuilder, UInt32Builder, UInt64Builder,
    },
    types::Int32Type,
};
use arrow_schema::{DataType, Field, Schema};

use super::{BATCH_ROWS, RunDir, SinkError, TableWriter};
use crate::{
    collect::{records::WriterError, requests::RequestWriter},
    model::RequestRow,
};

pub const TABLE: &str = "uring";

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

pub fn schema() -> Arc<Schema> {
    let u64_ = |name: &str, nullable| Field::new(name, DataType::UInt64, nullable);
    Arc::new(Schema::new(vec![
        Field::new("run_id", dict(), false),
        Field::new("tid", DataType::UInt32, false),
        Field::new("role", dict(), false),
        Field::new("opcode", dict(), false),
        u64_("user_data", false),
        u64_("submit_ns", false),
        u64_("complete_ns", false),
        u64_("latency_ns", false),
        Field::new("res", DataType::Int32, false),
        u64_("bytes", true),
        Field::new("notified", DataType::Boolean, false),
        u64_("notif_ns", true),
        u64_("notif_after_ns", true),
        Field::new("copied", DataType::Boolean, true),
    ]))
}

#[derive(Default)]
struct Builders {
    run_id: StringDictionaryBuilder<Int32Type>,
    tid: UInt32Builder,
    role: StringDictionaryBuilder<Int32Type>,
    opcode: StringDictionaryBuilder<Int32Type>,
    user_data: UInt64Builder,
    submit_ns: UInt64Builder,
    complete_ns: UInt64Builder,
    latency_ns: UInt64Builder,
    res: Int32Builder,
    bytes: UInt64Builder,
    notified: BooleanBuilder,
    notif_ns: UInt64Builder,
    notif_after_ns: UInt64Builder,
    copied: BooleanBuilder,
}

/// Writes the rows in batches of [`BATCH_ROWS`].
pub struct UringWriter {
    table: TableWriter,
    run_id: String,
    b: Builders,
    pending: usize,
}

impl UringWriter {
    pub fn create(dir: &RunDir) -> Result<Self, SinkError> {
        Ok(Self {
            table: TableWriter::create(dir, TABLE, schema())?,
            run_id: dir.run_id.clone(),
            b: Builders::default(),
            pending: 0,
        })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.pending == 0 {
            return Ok(());
        }
        let b = &mut self.b;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(b.run_id.finish()),
            Arc::new(b.tid.finish()),
            Arc::new(b.role.finish()),
            Arc::new(b.opcode.finish()),
            Arc::new(b.user_data.finish()),
            Arc::new(b.submit_ns.finish()),
            Arc::new(b.complete_ns.finish()),
            Arc::new(b.latency_ns.finish()),
            Arc::new(b.res.finish()),
            Arc::new(b.bytes.finish()),
            Arc::new(b.notified.finish()),
            Arc::new(b.notif_ns.finish()),
            Arc::new(b.notif_after_ns.finish()),
            Arc::new(b.copied.finish()),
        ];
        self.table
            .write(&RecordBatch::try_new(schema(), columns)?)?;
        self.pending = 0;
        Ok(())
    }
}

impl RequestWriter for UringWriter {
    fn push(&mut self, r: &RequestRow) -> Result<(), WriterError> {
        let b = &mut self.b;
        b.run_id.append_value(&self.run_id);
        b.tid.append_value(r.tid);
        b.role.append_value(r.role.name());
        b.opcode.append_value(r.opcode);
        b.user_data.append_value(r.user_data);
        b.submit_ns.append_value(r.submit_ns);
        b.complete_ns.append_value(r.complete_ns);
        b.latency_ns
            .append_value(r.complete_ns.saturating_sub(r.submit_ns));
        b.res.append_value(r.res);
        b.bytes.append_option((r.res >= 0).then_some(r.res as u64));
        b.notified.append_value(r.notif_ns.is_some());
        b.notif_ns.append_option(r.notif_ns);
        b.notif_after_ns
            .append_option(r.notif_ns.map(|n| n.saturating_sub(r.complete_ns)));
        b.copied.append_option(r.copied);
        self.pending += 1;
        if self.pending == BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn close(mut self: Box<Self>) -> Result<(), WriterError> {
        self.flush()?;
        self.table.close()?;
        Ok(())
    }
}
