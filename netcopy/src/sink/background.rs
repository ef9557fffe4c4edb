//! Encoding a table on a thread of its own, so that building the next batch (the
//! collector's work) overlaps with compressing the last one.

use std::{
    path::PathBuf,
    sync::Arc,
    sync::mpsc::{Receiver, SyncSender, sync_channel},
    thread::JoinHandle,
};

use arrow_array::RecordBatch;

use super::{SinkError, TableWriter, behind::Behind};

/// Batches in the channel at most: with the one being encoded and the one being built, a
/// table holds three batches in memory.
const QUEUED: usize = 1;

enum Message {
    Batch(RecordBatch),
    /// Write the footer. Without it (the owner dropped without `close`), the file is left
    /// as `NAME.parquet.partial`, as an unclosed [`TableWriter`] would be.
    Close,
}

/// A [`TableWriter`] whose `write` hands the batch to an encoder thread.
pub struct BackgroundTable {
    name: String,
    tx: SyncSender<Message>,
    thread: Option<JoinHandle<Result<Option<PathBuf>, SinkError>>>,
}

impl BackgroundTable {
    pub fn spawn(name: &str, table: TableWriter) -> Result<Self, SinkError> {
        Self::spawn_behind(name, table, None)
    }

    /// [`Self::spawn`], with the encoder thread in the group `behind` (see [`Behind`]).
    pub fn spawn_behind(
        name: &str,
        table: TableWriter,
        behind: Option<Arc<Behind>>,
    ) -> Result<Self, SinkError> {
        let (tx, rx) = sync_channel(QUEUED);
        let thread = std::thread::Builder::new()
            .name(format!("encode-{name}"))
            .spawn(move || {
                let _member = behind.as_ref().map(Behind::join);
                encode(table, rx)
            })
            .map_err(|source| SinkError::Io {
                path: PathBuf::from(name),
                source,
            })?;
        Ok(Self {
            name: name.to_owned(),
            tx,
            thread: Some(thread),
        })
    }

    /// Queue a batch; waits while the encoder is [`QUEUED`] batches behind. An error of the
    /// encoder (a full disk, say) is returned here, by the first write after it.
    pub fn write(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        if self.tx.send(Message::Batch(batch)).is_ok() {
            return Ok(());
        }
        Err(self.join().err().unwrap_or_else(|| self.gone()))
    }

    /// Wait for every queued batch, write the footer, and move the file to its final name.
    pub fn close(mut self) -> Result<PathBuf, SinkError> {
        let _ = self.tx.send(Message::Close);
        self.join()?.ok_or_else(|| self.gone())
    }

    fn join(&mut self) -> Result<Option<PathBuf>, SinkError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) | None => Err(self.gone()),
        }
    }

    fn gone(&self) -> SinkError {
        SinkError::EncoderGone(self.name.clone())
    }
}

fn encode(mut table: TableWriter, rx: Receiver<Message>) -> Result<Option<PathBuf>, SinkError> {
    for message in rx {
        match message {
            Message::Batch(batch) => table.write(&batch)?,
            Message::Close => return table.close().map(Some),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::sink::RunDir;

    fn dir(name: &str) -> RunDir {
        let path = std::env::temp_dir().join(format!("netcopy-bg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        RunDir::create(&path, "run".into(), false).unwrap()
    }

    fn table(dir: &RunDir) -> BackgroundTable {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        BackgroundTable::spawn("t", TableWriter::create(dir, "t", schema).unwrap()).unwrap()
    }

    #[test]
    fn batches_written_in_order_and_closed() {
        let dir = dir("ok");
        let mut t = table(&dir);
        for i in 0..5 {
            let n = Arc::new(Int64Array::from_iter_values(i * 10..i * 10 + 10));
            t.write(RecordBatch::try_from_iter([("n", n as _)]).unwrap())
                .unwrap();
        }
        let path = t.close().unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let values: Vec<i64> = reader
            .flat_map(|b| {
                let b = b.unwrap();
                let n = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                n.values().to_vec()
            })
            .collect();
        assert_eq!(values, (0..50).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir.path).unwrap();
    }

    #[test]
    fn an_encoder_error_comes_back_and_an_unclosed_table_stays_partial() {
        let dir = dir("err");
        let mut t = table(&dir);
        // A batch of the wrong schema fails in the encoder thread; the error must reach
        // the owner by a later write or by close.
        let wrong = Arc::new(StringArray::from(vec!["x"]));
        let first = t.write(RecordBatch::try_from_iter([("s", wrong as _)]).unwrap());
        let later = (0..3)
            .map(|_| {
                let n = Arc::new(Int64Array::from(vec![1]));
                t.write(RecordBatch::try_from_iter([("n", n as _)]).unwrap())
            })
            .find_map(Result::err);
        let error = first.err().or(later).or_else(|| t.close().err());
        assert!(error.is_some_and(|e| !e.to_string().is_empty()));
        assert!(!dir.table_path("t").exists());
        assert!(dir.path.join("t.parquet.partial").exists());
        std::fs::remove_dir_all(&dir.path).unwrap();
    }
}
