//! `syscalls.parquet`: one row per traced call, streamed in batches as records arrive.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray,
    builder::{
        BooleanBuilder, Int32Builder, Int64Builder, TimestampNanosecondBuilder, UInt32Builder,
        UInt64Builder,
    },
    types::Int32Type,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use netcopy_common::{
    exact::{EXACT_FNS, FUNCTIONS},
    syscalls::{MSG_ERRQUEUE, MSG_ZEROCOPY, SyscallKind, SyscallRecord},
};

use super::{BATCH_ROWS, BackgroundTable, RunDir, SinkError, TableWriter};

pub const TABLE: &str = "syscalls";

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

pub fn schema() -> Arc<Schema> {
    let u64_ = |name| Field::new(name, DataType::UInt64, false);
    let u32_ = |name| Field::new(name, DataType::UInt32, false);
    let mut fields = vec![
        Field::new("run_id", dict(), false),
        Field::new("role", dict(), false),
        Field::new("syscall", dict(), false),
        u32_("tgid"),
        u32_("tid"),
        Field::new("fd", DataType::Int32, false),
        u32_("flags"),
        Field::new("zerocopy", DataType::Boolean, false),
        Field::new("errqueue", DataType::Boolean, false),
        Field::new(
            "start",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("ret", DataType::Int64, false),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("errno", DataType::Int32, true),
        u64_("wall_ns"),
        u64_("oncpu_ns"),
        u64_("offcpu_ns"),
        u32_("voluntary_cs"),
        u32_("involuntary_cs"),
        u32_("skbs_built"),
        u32_("skbs_tx"),
        u32_("skbs_rx"),
        u64_("bytes_to_user"),
        u32_("cpu"),
        Field::new("cycles", DataType::UInt64, true),
        Field::new("instructions", DataType::UInt64, true),
    ];
    fields.extend(exact_columns().map(|name| Field::new(name, DataType::UInt64, true)));
    Arc::new(Schema::new(fields))
}

/// Names of the exact tier's columns, one per timed function.
pub fn exact_columns() -> impl Iterator<Item = String> {
    FUNCTIONS
        .iter()
        .map(|f| format!("exact_{}_ns", f.trim_start_matches('_')))
}

/// The values of the role dictionary.
const ROLES: [&str; 3] = ["server", "client", "other"];

/// A dictionary column from its keys and values.
fn dictionary(keys: Vec<i32>, values: &[&str]) -> Result<ArrayRef, SinkError> {
    let array = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(keys),
        Arc::new(StringArray::from(values.to_vec())),
    )?;
    Ok(Arc::new(array))
}

/// Parquet dictionary encoding is left on only for the string columns: on the integer
/// columns it costs a hash per value and ZSTD alone packs them about as tightly (measured
/// with the `sink` bench).
fn no_dictionary() -> Vec<String> {
    schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !matches!(n.as_str(), "run_id" | "role" | "syscall"))
        .collect()
}

/// Streams rows to `syscalls.parquet`, [`BATCH_ROWS`] at a time.
pub struct SyscallsWriter {
    /// Encoded on a thread of its own: building and encoding overlap.
    table: BackgroundTable,
    run_id: String,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, to turn bpf_ktime_get_ns() into wall time.
    realtime_offset_ns: i64,
    rows: usize,
    b: Builders,
}

#[derive(Default)]
struct Builders {
    /// Keys of the role and syscall dictionaries (their values are fixed: [`ROLES`] and
    /// the syscall names in [`SyscallKind::ALL`] order); run_id's is always 0. Building
    /// keys directly spares hashing three strings per row.
    role: Vec<i32>,
    syscall: Vec<i32>,
    tgid: UInt32Builder,
    tid: UInt32Builder,
    fd: Int32Builder,
    flags: UInt32Builder,
    zerocopy: BooleanBuilder,
    errqueue: BooleanBuilder,
    start: TimestampNanosecondBuilder,
    ret: Int64Builder,
    bytes: UInt64Builder,
    errno: Int32Builder,
    wall_ns: UInt64Builder,
    oncpu_ns: UInt64Builder,
    offcpu_ns: UInt64Builder,
    voluntary_cs: UInt32Builder,
    involuntary_cs: UInt32Builder,
    skbs_built: UInt32Builder,
    skbs_tx: UInt32Builder,
    skbs_rx: UInt32Builder,
    bytes_to_user: UInt64Builder,
    cpu: UInt32Builder,
    cycles: UInt64Builder,
    instructions: UInt64Builder,
    exact: [UInt64Builder; EXACT_FNS],
}

impl SyscallsWriter {
    pub fn create(dir: &RunDir) -> Result<Self, SinkError> {
        Ok(Self {
            table: BackgroundTable::spawn(
                TABLE,
                TableWriter::create_with(
                    dir,
                    TABLE,
                    schema(),
                    &no_dictionary()
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                )?,
            )?,
            run_id: dir.run_id.clone(),
            realtime_offset_ns: realtime_offset_ns(),
            rows: 0,
            b: Builders::default(),
        })
    }

    /// Add one call; `role` is `server`, `client` or `other`.
    pub fn push(
        &mut self,
        r: &SyscallRecord,
        kind: SyscallKind,
        role: &str,
    ) -> Result<(), SinkError> {
        let b = &mut self.b;
        b.role
            .push(ROLES.iter().position(|r| *r == role).unwrap_or(2) as i32);
        b.syscall.push(kind as i32);
        b.tgid.append_value(r.tgid);
        b.tid.append_value(r.tid);
        b.fd.append_value(r.fd);
        b.flags.append_value(r.flags);
        b.zerocopy.append_value(r.flags & MSG_ZEROCOPY != 0);
        b.errqueue.append_value(r.flags & MSG_ERRQUEUE != 0);
        b.start
            .append_value((r.start_ns as i64).saturating_add(self.realtime_offset_ns));
        b.ret.append_value(r.ret);
        b.bytes.append_option((r.ret >= 0).then_some(r.ret as u64));
        b.errno
            .append_option((r.ret < 0).then(|| i32::try_from(-r.ret).unwrap_or(i32::MAX)));
        b.wall_ns.append_value(r.wall_ns);
        b.oncpu_ns
            .append_value(r.wall_ns.saturating_sub(r.offcpu_ns));
        b.offcpu_ns.append_value(r.offcpu_ns);
        b.voluntary_cs.append_value(r.voluntary_cs);
        b.involuntary_cs.append_value(r.involuntary_cs);
        b.skbs_built.append_value(r.skbs_built);
        b.skbs_tx.append_value(r.skbs_tx);
        b.skbs_rx.append_value(r.skbs_rx);
        b.bytes_to_user.append_value(r.bytes_to_user);
        b.cpu.append_value(r.cpu);
        // Without counters (no PMU), unknown, not zero.
        let counted = r.counters == 1;
        b.cycles.append_option(counted.then_some(r.cycles));
        b.instructions
            .append_option(counted.then_some(r.instructions));
        for (column, ns) in b.exact.iter_mut().zip(r.exact_ns) {
            column.append_option((r.exact == 1).then_some(u64::from(ns)));
        }
        self.rows += 1;
        if self.rows >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.rows == 0 {
            return Ok(());
        }
        let b = &mut self.b;
        let mut columns: Vec<ArrayRef> = vec![
            dictionary(vec![0; self.rows], &[self.run_id.as_str()])?,
            dictionary(std::mem::take(&mut b.role), &ROLES)?,
            dictionary(
                std::mem::take(&mut b.syscall),
                &SyscallKind::ALL.map(SyscallKind::name),
            )?,
            Arc::new(b.tgid.finish()),
            Arc::new(b.tid.finish()),
            Arc::new(b.fd.finish()),
            Arc::new(b.flags.finish()),
            Arc::new(b.zerocopy.finish()),
            Arc::new(b.errqueue.finish()),
            Arc::new(b.start.finish().with_timezone("UTC")),
            Arc::new(b.ret.finish()),
            Arc::new(b.bytes.finish()),
            Arc::new(b.errno.finish()),
            Arc::new(b.wall_ns.finish()),
            Arc::new(b.oncpu_ns.finish()),
            Arc::new(b.offcpu_ns.finish()),
            Arc::new(b.voluntary_cs.finish()),
            Arc::new(b.involuntary_cs.finish()),
            Arc::new(b.skbs_built.finish()),
            Arc::new(b.skbs_tx.finish()),
            Arc::new(b.skbs_rx.finish()),
            Arc::new(b.bytes_to_user.finish()),
            Arc::new(b.cpu.finish()),
            Arc::new(b.cycles.finish()),
            Arc::new(b.instructions.finish()),
        ];
        for column in &mut b.exact {
            columns.push(Arc::new(column.finish()));
        }
        let batch = RecordBatch::try_new(schema(), columns)?;
        self.rows = 0;
        self.table.write(batch)?;
        Ok(())
    }

    /// Write what is buffered and the footer.
    pub fn close(mut self) -> Result<std::path::PathBuf, SinkError> {
        self.flush()?;
        self.table.close()
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

#[cfg(test)]
mod tests {
    use std::fs::File;

    use arrow_array::{Array, cast::AsArray, types::UInt64Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    #[test]
    fn rows_round_trip_with_nulls_where_unmeasured() {
        let tmp = std::env::temp_dir().join(format!("netcopy-sink-{}", std::process::id()));
        let dir = RunDir::create(&tmp, "run-1".into(), true).unwrap();
        let mut w = SyscallsWriter::create(&dir).unwrap();
        let ok = SyscallRecord {
            start_ns: 1_000,
            wall_ns: 5_000,
            offcpu_ns: 1_500,
            ret: 65_536,
            tgid: 10,
            tid: 11,
            fd: 3,
            flags: MSG_ZEROCOPY,
            kind: SyscallKind::Sendmsg as u8,
            counters: 1,
            cycles: 7_000,
            instructions: 9_000,
            exact: 1,
            exact_ns: [4_000, 0, 0, 300, 900],
            ..Default::default()
        };
        // Measured nothing with counters or the exact tier: those columns must be null.
        let failed = SyscallRecord {
            ret: -105,
            flags: MSG_ERRQUEUE,
            kind: SyscallKind::Recvmsg as u8,
            counters: 0,
            exact: 0,
            ..ok
        };
        // More rows than one batch, so several batches are written.
        for i in 0..BATCH_ROWS + 10 {
            let (r, k) = if i % 2 == 0 {
                (&ok, SyscallKind::Sendmsg)
            } else {
                (&failed, SyscallKind::Recvmsg)
            };
            w.push(r, k, "server").unwrap();
        }
        let path = w.close().unwrap();
        assert!(!path.with_extension("parquet.partial").exists());

        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut rows = 0;
        for batch in reader {
            let batch = batch.unwrap();
            assert_eq!(batch.schema().fields().len(), schema().fields().len());
            let bytes = batch
                .column_by_name("bytes")
                .unwrap()
                .as_primitive::<UInt64Type>();
            let oncpu = batch
                .column_by_name("oncpu_ns")
                .unwrap()
                .as_primitive::<UInt64Type>();
            let u64s = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_primitive::<UInt64Type>()
                    .clone()
            };
            let cycles = u64s("cycles");
            let pin = u64s("exact_skb_zerocopy_iter_stream_ns");
            let callback = u64s("exact_msg_zerocopy_callback_ns");
            for i in 0..batch.num_rows() {
                let global = rows + i;
                if global % 2 == 0 {
                    assert_eq!(bytes.value(i), 65_536);
                    assert_eq!(oncpu.value(i), 3_500);
                    assert_eq!(cycles.value(i), 7_000);
                    assert_eq!((pin.value(i), callback.value(i)), (900, 300));
                } else {
                    assert!(bytes.is_null(i), "a failed call moved no bytes");
                    assert!(cycles.is_null(i), "cycles are null, never 0");
                    assert!(pin.is_null(i) && callback.is_null(i));
                }
            }
            rows += batch.num_rows();
        }
        assert_eq!(rows, BATCH_ROWS + 10);
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn a_directory_with_tables_is_refused_without_force() {
        let tmp = std::env::temp_dir().join(format!("netcopy-sink-force-{}", std::process::id()));
        let dir = RunDir::create(&tmp, "r".into(), false).unwrap();
        SyscallsWriter::create(&dir).unwrap().close().unwrap();
        assert!(matches!(
            RunDir::create(&tmp, "r".into(), false),
            Err(SinkError::NotEmpty(_))
        ));
        assert!(RunDir::create(&tmp, "r".into(), true).is_ok());
        let _ = std::fs::remove_dir_all(&tmp);
    }

    mod properties {
        use std::sync::atomic::{AtomicU32, Ordering};

        use arrow_array::{
            Array, DictionaryArray, StringArray,
            cast::AsArray,
            types::{Int32Type, Int64Type, UInt32Type, UInt64Type},
        };
        use proptest::prelude::*;

        use super::*;

        fn record() -> impl Strategy<Value = (SyscallRecord, usize)> {
            (
                (any::<u64>(), any::<u64>(), any::<u64>(), any::<i64>()),
                (any::<u32>(), any::<u32>(), any::<i32>(), any::<u32>()),
                (0..SyscallKind::ALL.len(), 0u8..3, any::<u64>(), 0u8..3),
                (any::<[u32; EXACT_FNS]>(), 0usize..3),
            )
                .prop_map(
                    |(
                        (start, wall, off, ret),
                        (tgid, tid, fd, flags),
                        (kind, counters, cycles, exact),
                        (exact_ns, role),
                    )| {
                        let r = SyscallRecord {
                            start_ns: start >> 2,
                            wall_ns: wall,
                            offcpu_ns: off,
                            ret,
                            tgid,
                            tid,
                            fd,
                            flags,
                            kind: kind as u8,
                            counters,
                            cycles,
                            instructions: cycles / 3,
                            exact,
                            exact_ns,
                            ..Default::default()
                        };
                        (r, role)
                    },
                )
        }

        static CASE: AtomicU32 = AtomicU32::new(0);

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            /// Whatever the records hold, the file holds the same: every column, with null
            /// exactly where a value was not measured.
            #[test]
            fn records_survive_arrow_and_parquet(rows in prop::collection::vec(record(), 1..400)) {
                let case = CASE.fetch_add(1, Ordering::SeqCst);
                let tmp = std::env::temp_dir()
                    .join(format!("netcopy-sink-prop-{}-{case}", std::process::id()));
                let dir = RunDir::create(&tmp, "prop".into(), true).unwrap();
                let mut w = SyscallsWriter::create(&dir).unwrap();
                for (r, role) in &rows {
                    w.push(r, SyscallKind::ALL[r.kind as usize], ROLES[*role]).unwrap();
                }
                let path = w.close().unwrap();
                let batches: Vec<RecordBatch> =
                    ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
                        .unwrap()
                        .build()
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                let mut i = 0;
                for b in &batches {
                    let col = |n: &str| b.column_by_name(n).unwrap().clone();
                    let dict = |n: &str, row: usize| {
                        let c = col(n);
                        let d = c.as_any().downcast_ref::<DictionaryArray<Int32Type>>().unwrap();
                        let values = d.values().as_any().downcast_ref::<StringArray>().unwrap();
                        values.value(d.keys().value(row) as usize).to_owned()
                    };
                    let (tid, ret) = (col("tid"), col("ret"));
                    let (bytes, errno, cycles, oncpu) =
                        (col("bytes"), col("errno"), col("cycles"), col("oncpu_ns"));
                    let exact = col("exact_tcp_sendmsg_locked_ns");
                    for row in 0..b.num_rows() {
                        let (r, role) = &rows[i];
                        prop_assert_eq!(dict("syscall", row), SyscallKind::ALL[r.kind as usize].name());
                        prop_assert_eq!(dict("role", row), ROLES[*role]);
                        prop_assert_eq!(dict("run_id", row), "prop");
                        prop_assert_eq!(tid.as_primitive::<UInt32Type>().value(row), r.tid);
                        prop_assert_eq!(ret.as_primitive::<Int64Type>().value(row), r.ret);
                        let bytes = bytes.as_primitive::<UInt64Type>();
                        prop_assert_eq!(bytes.is_null(row), r.ret < 0);
                        prop_assert_eq!(errno.as_primitive::<Int32Type>().is_null(row), r.ret >= 0);
                        prop_assert_eq!(
                            oncpu.as_primitive::<UInt64Type>().value(row),
                            r.wall_ns.saturating_sub(r.offcpu_ns)
                        );
                        let cycles = cycles.as_primitive::<UInt64Type>();
                        prop_assert_eq!(cycles.is_valid(row), r.counters == 1);
                        if r.counters == 1 {
                            prop_assert_eq!(cycles.value(row), r.cycles);
                        }
                        let exact = exact.as_primitive::<UInt64Type>();
                        prop_assert_eq!(exact.is_valid(row), r.exact == 1);
                        if r.exact == 1 {
                            prop_assert_eq!(exact.value(row), u64::from(r.exact_ns[0]));
                        }
                        i += 1;
                    }
                }
                prop_assert_eq!(i, rows.len());
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
    }
}
