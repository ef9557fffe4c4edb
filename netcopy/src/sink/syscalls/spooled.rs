//! syscalls.parquet's rows as the spool carries them (a record's words and one word of
//! role, kind and comm key), each process's key into the `comm` column, and the spool's
//! reading end: rows built into batches for the encoder and folded into their threads'
//! statistics.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use netcopy_common::syscalls::{SyscallKind, SyscallRecord};

use super::{Batch, Staged, arrays};
use crate::{
    collect::records::{ByThread, fold},
    model::Role,
    sink::{
        BATCH_ROWS, BackgroundTable, SinkError,
        spool::{Rows, WORDS},
    },
};

/// Each process's key into the `comm` column's values, looked up once per process (and
/// not at all while the same process's calls follow each other). Keys are never taken
/// back: the names only grow.
#[derive(Default)]
pub(super) struct CommKeys {
    last: Option<(u32, i32)>,
    keys: std::collections::HashMap<u32, i32>,
    pub(super) names: Vec<String>,
}

impl CommKeys {
    #[inline(always)]
    pub(super) fn key(&mut self, pid: u32) -> i32 {
        if let Some((p, k)) = self.last {
            if p == pid {
                return k;
            }
        }
        let names = &mut self.names;
        let k = *self.keys.entry(pid).or_insert_with(|| {
            let name = crate::collect::procs::comm_of(pid);
            match names.iter().position(|n| *n == name) {
                Some(i) => i as i32,
                None => {
                    names.push(name);
                    names.len() as i32 - 1
                }
            }
        });
        self.last = Some((pid, k));
        k
    }
}

/// Words of a [`SyscallRecord`]; the spool's rows carry one more, [`Staged::meta`].
const RECORD_WORDS: usize = std::mem::size_of::<SyscallRecord>() / 8;
const _: () =
    assert!(RECORD_WORDS * 8 == std::mem::size_of::<SyscallRecord>() && RECORD_WORDS + 1 == WORDS);

impl Staged {
    /// A row as the spool carries it: the record's words, then [`Self::meta`].
    #[inline(always)]
    pub(super) fn record_words(r: &SyscallRecord) -> &[u64; RECORD_WORDS] {
        // SAFETY: SyscallRecord is plain integers, 8-byte aligned and RECORD_WORDS words
        // long, so its bytes are that many aligned u64s.
        unsafe { &*std::ptr::from_ref(r).cast::<[u64; RECORD_WORDS]>() }
    }

    /// The row's last word: its role, kind and comm key.
    #[inline(always)]
    pub(super) fn meta(kind: SyscallKind, role: Role, comm: i32) -> u64 {
        role as u64 | (kind as u64) << 8 | u64::from(comm as u32) << 32
    }

    /// The row of [`Self::record_words`] and [`Self::meta`]; `None` for a kind or role that is none.
    #[inline(always)]
    fn from_words(words: &[u64; WORDS]) -> Option<Self> {
        let mut record = [0u64; RECORD_WORDS];
        record.copy_from_slice(&words[..RECORD_WORDS]);
        // SAFETY: as above; any bits are a valid SyscallRecord.
        let r: SyscallRecord = unsafe { std::mem::transmute(record) };
        let meta = words[RECORD_WORDS];
        Some(Self {
            r,
            role: *Role::ALL.get((meta & 0xff) as usize)?,
            kind: SyscallKind::from_u8((meta >> 8) as u8)?,
            comm: (meta >> 32) as u32 as i32,
        })
    }
}

/// The spool's reading end: rows gathered into batches of [`BATCH_ROWS`], their columns
/// built and handed to the encoder thread, and each row folded into its thread's
/// statistics, which go to `folded` at the end.
pub(super) struct Batches {
    by_thread: ByThread,
    folded: Arc<Mutex<Option<ByThread>>>,
    table: BackgroundTable,
    run_id: String,
    schema: Arc<Schema>,
    realtime_offset_ns: i64,
    staged: Vec<Staged>,
    comms: Vec<String>,
}

impl Batches {
    /// The reading end of `table` for run `run_id`, whose statistics go to `folded` when it
    /// closes.
    pub(super) fn new(
        table: BackgroundTable,
        run_id: String,
        schema: Arc<Schema>,
        realtime_offset_ns: i64,
        folded: Arc<Mutex<Option<ByThread>>>,
    ) -> Self {
        Self {
            by_thread: ByThread::new(),
            folded,
            table,
            run_id,
            schema,
            realtime_offset_ns,
            staged: Vec::with_capacity(BATCH_ROWS),
            comms: Vec::new(),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let columns = arrays(
            &self.staged,
            self.realtime_offset_ns,
            &Batch {
                run_id: &self.run_id,
                comms: &self.comms,
            },
        )?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.staged.clear();
        self.table.write(batch)
    }
}

impl Rows for Batches {
    fn row(&mut self, words: &[u64; WORDS], names: &[String]) -> Result<(), SinkError> {
        let row = Staged::from_words(words).ok_or(SinkError::Spool)?;
        fold(&mut self.by_thread, &row.r, row.kind);
        if names.len() != self.comms.len() {
            self.comms = names.to_vec();
        }
        self.staged.push(row);
        if self.staged.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn close(mut self) -> Result<std::path::PathBuf, SinkError> {
        self.flush()?;
        if let Ok(mut folded) = self.folded.lock() {
            *folded = Some(std::mem::take(&mut self.by_thread));
        }
        self.table.close()
    }
}
