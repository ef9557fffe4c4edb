//! `zerocopy.parquet`: every completion notification the zerocopy senders reaped, written
//! by a thread of its own as the senders hand rows over in batches. The thread polls its
//! channel every [`POLL`] instead of waiting on it, so a sender handing a batch over never
//! meets a waiting reader (see [`CompletionLog`]).

use std::{
    sync::{Arc, mpsc},
    thread,
    time::Duration,
};

use arrow_array::{
    ArrayRef, RecordBatch,
    builder::{
        BooleanBuilder, StringDictionaryBuilder, TimestampNanosecondBuilder, UInt32Builder,
        UInt64Builder,
    },
    types::Int32Type,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use super::{BATCH_ROWS, RunDir, SinkError, TableWriter};
use crate::workload::zerocopy::{CompletionLog, CompletionRow};

pub const TABLE: &str = "zerocopy";

/// How often the writer looks for batches.
const POLL: Duration = Duration::from_millis(20);

pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "run_id",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("tid", DataType::UInt32, false),
        Field::new("first_id", DataType::UInt32, false),
        Field::new("last_id", DataType::UInt32, false),
        Field::new("newly_completed", DataType::UInt64, false),
        Field::new("copied", DataType::Boolean, false),
        Field::new(
            "reaped",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("first_send_to_reap_ns", DataType::UInt64, true),
        Field::new("last_send_to_reap_ns", DataType::UInt64, true),
    ]))
}

/// The thread that writes the table; [`ZerocopyRecorder::finish`] once the senders are done.
pub struct ZerocopyRecorder {
    handle: thread::JoinHandle<Result<u64, SinkError>>,
}

impl ZerocopyRecorder {
    /// Start writing `zerocopy.parquet`; senders hand rows to the returned log.
    pub fn start(dir: &RunDir) -> Result<(CompletionLog, Self), SinkError> {
        let (tx, rx) = mpsc::channel();
        let table = TableWriter::create(dir, TABLE, schema())?;
        let run_id = dir.run_id.clone();
        let handle = thread::Builder::new()
            .name("nc-zc-writer".into())
            .spawn(move || write_all(table, &run_id, rx))
            .map_err(|source| SinkError::Io {
                path: dir.table_path(TABLE),
                source,
            })?;
        Ok((tx, Self { handle }))
    }

    /// Wait until every log handle is dropped and the file is closed; returns the row count.
    pub fn finish(self) -> Result<u64, SinkError> {
        self.handle.join().unwrap_or_else(|_| {
            Err(SinkError::Arrow(arrow_schema::ArrowError::ComputeError(
                "the zerocopy writer thread panicked".into(),
            )))
        })
    }
}

#[derive(Default)]
struct Builders {
    run_id: StringDictionaryBuilder<Int32Type>,
    tid: UInt32Builder,
    first_id: UInt32Builder,
    last_id: UInt32Builder,
    newly: UInt64Builder,
    copied: BooleanBuilder,
    reaped: TimestampNanosecondBuilder,
    first_ns: UInt64Builder,
    last_ns: UInt64Builder,
}

impl Builders {
    fn push(&mut self, run_id: &str, r: &CompletionRow) {
        self.run_id.append_value(run_id);
        self.tid.append_value(r.tid);
        self.first_id.append_value(r.first_id);
        self.last_id.append_value(r.last_id);
        self.newly.append_value(r.newly_completed);
        self.copied.append_value(r.copied);
        let ns = r
            .reaped
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or_default();
        self.reaped.append_value(ns);
        self.first_ns.append_option(r.first_send_to_reap_ns);
        self.last_ns.append_option(r.last_send_to_reap_ns);
    }

    fn batch(&mut self) -> Result<RecordBatch, SinkError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.run_id.finish()),
            Arc::new(self.tid.finish()),
            Arc::new(self.first_id.finish()),
            Arc::new(self.last_id.finish()),
            Arc::new(self.newly.finish()),
            Arc::new(self.copied.finish()),
            Arc::new(self.reaped.finish().with_timezone("UTC")),
            Arc::new(self.first_ns.finish()),
            Arc::new(self.last_ns.finish()),
        ];
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

fn write_all(
    mut table: TableWriter,
    run_id: &str,
    rx: mpsc::Receiver<Vec<CompletionRow>>,
) -> Result<u64, SinkError> {
    let mut b = Builders::default();
    let (mut pending, mut total) = (0, 0u64);
    loop {
        let rows = match rx.try_recv() {
            Ok(rows) => rows,
            Err(mpsc::TryRecvError::Empty) => {
                thread::sleep(POLL);
                continue;
            }
            // Every sender has dropped its log.
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        for row in &rows {
            b.push(run_id, row);
            pending += 1;
            total += 1;
            if pending == BATCH_ROWS {
                table.write(&b.batch()?)?;
                pending = 0;
            }
        }
    }
    if pending > 0 {
        table.write(&b.batch()?)?;
    }
    table.close()?;
    Ok(total)
}
