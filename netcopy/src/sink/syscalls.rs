//! `syscalls.parquet`: one row per traced call, streamed in batches as records arrive.
//!
//! [`columns!`] below is the one table of the file's columns: each line names a column, its
//! Rust type (which says its Arrow type, nullability and encoding, see `columns`) and its
//! value from the row. The schema, the batches' arrays and the encodings are all
//! made from it, so no two lists can drift apart.

mod columns;
mod spooled;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use arrow_array::ArrayRef;
use arrow_schema::{Field, Schema};
use netcopy_common::{
    aggregate::Finished,
    exact::EXACT_FNS,
    offcpu::Reason,
    syscalls::{MSG_ERRQUEUE, MSG_ZEROCOPY, SyscallKind, SyscallRecord},
};

pub use self::columns::exact_columns;
use self::{
    columns::{Batch, Column, Exact, Key, Utc, Values},
    spooled::{Batches, CommKeys},
};
use super::{
    BackgroundTable, ColumnSettings, RunDir, SinkError, TableWriter,
    behind::{Behind, Level},
    spool::Spool,
};
use crate::{
    collect::records::{ByThread, RecordWriter, WriterError},
    model::Role,
};

pub const TABLE: &str = "syscalls";

/// What one row is made from.
pub struct Row<'a> {
    pub r: &'a SyscallRecord,
    pub kind: SyscallKind,
    pub role: Role,
    /// The key of the process's command name in the `comm` column's values.
    pub comm: i32,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, to turn bpf_ktime_get_ns() into wall time.
    pub realtime_offset_ns: i64,
}

/// One call kept for the batch being gathered.
struct Staged {
    r: SyscallRecord,
    kind: SyscallKind,
    role: Role,
    comm: i32,
}

impl Staged {
    #[inline(always)]
    fn row(&self, realtime_offset_ns: i64) -> Row<'_> {
        Row {
            r: &self.r,
            kind: self.kind,
            role: self.role,
            comm: self.comm,
            realtime_offset_ns,
        }
    }
}

/// The run id: one value per file.
pub struct RunIds;
impl Values for RunIds {
    fn values(batch: &Batch<'_>) -> Vec<String> {
        vec![batch.run_id.to_owned()]
    }
}

/// Command names of the processes seen, keyed in order of first sight.
pub struct Comms;
impl Values for Comms {
    fn values(batch: &Batch<'_>) -> Vec<String> {
        batch.comms.to_vec()
    }
}

/// `server`, `client`, `other`, keyed by [`Role`] in [`Role::ALL`] order.
pub struct Roles;
impl Values for Roles {
    fn values(_: &Batch<'_>) -> Vec<String> {
        Role::ALL.map(|r| r.name().to_owned()).to_vec()
    }
}

/// The syscall names, keyed by [`SyscallKind`].
pub struct Kinds;
impl Values for Kinds {
    fn values(_: &Batch<'_>) -> Vec<String> {
        SyscallKind::ALL.map(|k| k.name().to_owned()).to_vec()
    }
}

/// The fields of every column and how a batch's rows fill them.
macro_rules! columns {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = |$row:ident| $value:expr;)+) => {
        /// Every field in file order, and whether it is dictionary-encoded.
        fn fields() -> Vec<(Field, bool)> {
            let mut v = Vec::new();
            $(v.extend(
                <$ty as Column>::fields(stringify!($name))
                    .into_iter()
                    .map(|f| (f, <$ty as Column>::DICTIONARY)),
            );)+
            v
        }

        /// The arrays of a batch, a column at a time.
        fn arrays(
            staged: &[Staged],
            realtime_offset_ns: i64,
            batch: &Batch<'_>,
        ) -> Result<Vec<ArrayRef>, SinkError> {
            let mut out = Vec::new();
            $(<$ty as Column>::arrays(
                staged.len(),
                #[inline(always)]
                |i| {
                    let $row = staged[i].row(realtime_offset_ns);
                    $value
                },
                batch,
                &mut out,
            )?;)+
            Ok(out)
        }
    };
}

columns! {
    run_id: Key<RunIds> = |_row| Key::of(0);
    role: Key<Roles> = |row| Key::of(row.role as i32);
    syscall: Key<Kinds> = |row| Key::of(row.kind as i32);
    tgid: u32 = |row| row.r.tgid;
    /// The process's command name (/proc/PID/comm when its first call was written; `?`
    /// when it had already gone).
    comm: Key<Comms> = |row| Key::of(row.comm);
    tid: u32 = |row| row.r.tid;
    fd: i32 = |row| row.r.fd;
    flags: u32 = |row| row.r.flags;
    zerocopy: bool = |row| row.r.flags & MSG_ZEROCOPY != 0;
    errqueue: bool = |row| row.r.flags & MSG_ERRQUEUE != 0;
    start: Utc = |row| Utc((row.r.start_ns as i64).saturating_add(row.realtime_offset_ns));
    ret: i64 = |row| row.r.ret;
    /// Bytes moved; null for a failed call.
    bytes: Option<u64> = |row| (row.r.ret >= 0).then(|| row.r.bytes());
    /// The error of a failed call; null for one that succeeded.
    errno: Option<i32> =
        |row| (row.r.ret < 0).then(|| i32::try_from(row.r.ret.unsigned_abs()).unwrap_or(i32::MAX));
    wall_ns: u64 = |row| row.r.wall_ns;
    oncpu_ns: u64 = |row| row.r.wall_ns.saturating_sub(row.r.offcpu_ns);
    offcpu_ns: u64 = |row| row.r.offcpu_ns;
    voluntary_cs: u32 = |row| row.r.voluntary_cs;
    involuntary_cs: u32 = |row| row.r.involuntary_cs;
    skbs_built: u32 = |row| row.r.skbs_built;
    skbs_tx: u32 = |row| row.r.skbs_tx;
    skbs_rx: u32 = |row| row.r.skbs_rx;
    bytes_to_user: u64 = |row| row.r.bytes_to_user;
    cpu: u32 = |row| row.r.cpu;
    /// Without counters (no PMU): unknown, null, never 0.
    cycles: Option<u64> = |row| (row.r.counters == 1).then_some(row.r.cycles);
    instructions: Option<u64> = |row| (row.r.counters == 1).then_some(row.r.instructions);
    /// Where fentry/fexit did not time the call: null.
    exact: Exact = |row| Exact(exact_ns(row.r));
    /// The bracketed stages, exact (softirq and device-transmit tracepoints); null where
    /// the bracket programs were missing or hidden.
    rx_softirq_ns: Option<u64> = |row| bracket(row.r, row.r.rx_softirq_ns);
    tx_softirq_ns: Option<u64> = |row| bracket(row.r, row.r.tx_softirq_ns);
    dev_xmit_ns: Option<u64> = |row| bracket(row.r, row.r.dev_xmit_ns);
    /// offcpu_ns by why the thread left the CPU (netcopy_common::offcpu); the five add up
    /// to offcpu_ns.
    offcpu_wmem_ns: u64 = |row| row.r.offcpu_reason_ns[Reason::Wmem as usize];
    offcpu_data_ns: u64 = |row| row.r.offcpu_reason_ns[Reason::Data as usize];
    offcpu_lock_ns: u64 = |row| row.r.offcpu_reason_ns[Reason::Lock as usize];
    offcpu_preempt_ns: u64 = |row| row.r.offcpu_reason_ns[Reason::Preempt as usize];
    offcpu_other_ns: u64 = |row| offcpu_other(row.r);
}

/// The off-CPU time no kept reason explains.
#[inline(always)]
pub fn offcpu_other(r: &SyscallRecord) -> u64 {
    r.offcpu_ns
        .saturating_sub(r.offcpu_reason_ns.iter().sum::<u64>())
}

#[inline(always)]
fn bracket(r: &SyscallRecord, ns: u32) -> Option<u64> {
    (r.brackets == 1).then_some(u64::from(ns))
}

fn exact_ns(r: &SyscallRecord) -> [Option<u64>; EXACT_FNS] {
    r.exact_ns.map(|ns| (r.exact == 1).then_some(u64::from(ns)))
}

pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        fields().into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
    ))
}

/// Parquet dictionary encoding is left on only for the string columns: on the integer
/// columns it costs a hash per value and ZSTD alone packs them about as tightly (measured
/// with the `sink` bench).
fn no_dictionary() -> Vec<String> {
    fields()
        .into_iter()
        .filter(|(_, dictionary)| !dictionary)
        .map(|(f, _)| f.name().clone())
        .collect()
}

/// The columns whose row groups keep min/max statistics, for readers that skip row groups
/// by time, process, thread, call duration or size. Statistics on every column took about 15% of the
/// encoder's CPU in a twocopy 1K trace (its ticks, 3 alternated pairs: 62-71 without
/// against 76-81 with).
pub const STATISTICS: [&str; 5] = ["start", "tgid", "tid", "wall_ns", "bytes"];

/// Streams rows to `syscalls.parquet` through a [`Spool`]: the collector's thread only
/// writes each row's words, and the columns are built and encoded behind the workload.
pub struct SyscallsWriter {
    spool: Spool,
    comms: CommKeys,
    /// How many command names the spool's reader has been given.
    names_sent: usize,
    realtime_offset_ns: i64,
    /// The statistics the spool's reader folded, once it has closed.
    folded: Arc<Mutex<Option<ByThread>>>,
}

impl SyscallsWriter {
    /// A table in `dir` whose rows are encoded behind the workload, resting at `rest` while
    /// the trace runs (see [`Level`]).
    pub fn create(dir: &RunDir, rest: Level) -> Result<Self, SinkError> {
        let no_dictionary = no_dictionary();
        let no_dictionary: Vec<&str> = no_dictionary.iter().map(String::as_str).collect();
        let schema = schema();
        let behind = Behind::new(rest);
        let table = BackgroundTable::spawn_behind(
            TABLE,
            TableWriter::create_with(
                dir,
                TABLE,
                schema.clone(),
                ColumnSettings {
                    no_dictionary: &no_dictionary,
                    statistics_only: Some(&STATISTICS),
                },
            )?,
            Some(behind.clone()),
        )?;
        let realtime_offset_ns = realtime_offset_ns();
        let folded = Arc::new(Mutex::new(None));
        let batches = Batches::new(
            table,
            dir.run_id.clone(),
            schema,
            realtime_offset_ns,
            folded.clone(),
        );
        Ok(Self {
            spool: Spool::start(dir, TABLE, behind, batches)?,
            comms: CommKeys::default(),
            names_sent: 0,
            realtime_offset_ns,
            folded,
        })
    }

    /// What the `start` column adds to each record's monotonic start time.
    pub fn realtime_offset_ns(&self) -> i64 {
        self.realtime_offset_ns
    }

    /// Add one call of thread role `role`.
    #[inline(always)]
    pub fn push(
        &mut self,
        r: &SyscallRecord,
        kind: SyscallKind,
        role: Role,
    ) -> Result<(), SinkError> {
        let comm = self.comms.key(r.tgid);
        if self.comms.names.len() != self.names_sent {
            self.names_sent = self.comms.names.len();
            self.spool.names(self.comms.names.clone());
        }
        self.spool
            .put(Staged::record_words(r), Staged::meta(kind, role, comm))
    }

    /// Encode what is left (at normal priority) and write the footer.
    pub fn close(self) -> Result<std::path::PathBuf, SinkError> {
        self.finish().map(|(path, _)| path)
    }

    /// [`Self::close`], and the statistics of every row, folded as the rows were read back.
    pub fn finish(self) -> Result<(std::path::PathBuf, ByThread), SinkError> {
        let path = self.spool.close()?;
        let by_thread = self
            .folded
            .lock()
            .ok()
            .and_then(|mut f| f.take())
            .ok_or(SinkError::Spool)?;
        Ok((path, by_thread))
    }
}

impl RecordWriter for SyscallsWriter {
    fn push(
        &mut self,
        r: &SyscallRecord,
        kind: SyscallKind,
        role: Role,
    ) -> Result<(), WriterError> {
        SyscallsWriter::push(self, r, kind, role).map_err(Into::into)
    }

    /// The rows are folded where the spool's reader reads them back: behind the workload,
    /// and after the trace where it leaves no CPU spare (see [`Level`]).
    fn folds(&self) -> bool {
        true
    }

    fn close(self: Box<Self>) -> Result<Option<ByThread>, WriterError> {
        let (_, by_thread) = SyscallsWriter::finish(*self)?;
        Ok(Some(by_thread))
    }
}

/// CLOCK_REALTIME - CLOCK_MONOTONIC now, in ns.
fn realtime_offset_ns() -> i64 {
    let now = |clock| {
        nix::time::clock_gettime(clock)
            .map(|t| t.tv_sec() * 1_000_000_000 + t.tv_nsec())
            .unwrap_or(0)
    };
    now(nix::time::ClockId::CLOCK_REALTIME) - now(nix::time::ClockId::CLOCK_MONOTONIC)
}
