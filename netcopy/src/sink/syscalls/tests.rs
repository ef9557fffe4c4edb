//! syscalls.parquet round trips: every column of every row, read back from the file, against
//! an expectation written here independently of the column table.

use std::{
    fs::File,
    sync::atomic::{AtomicU32, Ordering},
};

use arrow_array::{
    Array, BooleanArray, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt32Array, UInt64Array, types::Int32Type,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;

use super::*;
use crate::{collect::records::fold, sink::BATCH_ROWS};

/// A cell as it reads back, whatever its Arrow type.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Null,
    U(u64),
    I(i64),
    B(bool),
    S(String),
}

fn cell(column: &dyn Array, i: usize) -> Cell {
    if column.is_null(i) {
        return Cell::Null;
    }
    let any = column.as_any();
    if let Some(a) = any.downcast_ref::<UInt32Array>() {
        Cell::U(a.value(i).into())
    } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
        Cell::U(a.value(i))
    } else if let Some(a) = any.downcast_ref::<Int32Array>() {
        Cell::I(a.value(i).into())
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        Cell::I(a.value(i))
    } else if let Some(a) = any.downcast_ref::<TimestampNanosecondArray>() {
        Cell::I(a.value(i))
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        Cell::B(a.value(i))
    } else if let Some(d) = any.downcast_ref::<DictionaryArray<Int32Type>>() {
        let values = d.values().as_any().downcast_ref::<StringArray>().unwrap();
        Cell::S(values.value(d.keys().value(i) as usize).to_owned())
    } else {
        panic!(
            "a column of type {} the test cannot read",
            column.data_type()
        )
    }
}

/// What column `name` must hold for record `r` of `role`, with start times shifted by
/// `offset`: written from the record's meaning, not from the column table.
fn expected(name: &str, r: &SyscallRecord, role: Role, run_id: &str, offset: i64) -> Cell {
    let u = |v: u64| Cell::U(v);
    let counted = |v: u64| if r.counters == 1 { u(v) } else { Cell::Null };
    let bracketed = |v: u32| {
        if r.brackets == 1 {
            u(v.into())
        } else {
            Cell::Null
        }
    };
    if let Some(i) = exact_columns().position(|c| c == name) {
        return if r.exact == 1 {
            u(r.exact_ns[i].into())
        } else {
            Cell::Null
        };
    }
    match name {
        "run_id" => Cell::S(run_id.into()),
        "role" => Cell::S(role.name().into()),
        "syscall" => Cell::S(SyscallKind::from_u8(r.kind).unwrap().name().into()),
        "tgid" => u(r.tgid.into()),
        // The name /proc gives the tgid now (`?` for the made-up ones no process has).
        "comm" => Cell::S(crate::collect::procs::comm_of(r.tgid)),
        "tid" => u(r.tid.into()),
        "fd" => Cell::I(r.fd.into()),
        "flags" => u(r.flags.into()),
        "zerocopy" => Cell::B(r.flags & MSG_ZEROCOPY != 0),
        "errqueue" => Cell::B(r.flags & MSG_ERRQUEUE != 0),
        "start" => Cell::I(r.start_ns as i64 + offset),
        "ret" => Cell::I(r.ret),
        "bytes" if r.ret >= 0 => u(r.bytes()),
        "errno" if r.ret < 0 => Cell::I(r.ret.unsigned_abs().min(i32::MAX as u64) as i64),
        "bytes" | "errno" => Cell::Null,
        "wall_ns" => u(r.wall_ns),
        "oncpu_ns" => u(r.wall_ns.saturating_sub(r.offcpu_ns)),
        "offcpu_ns" => u(r.offcpu_ns),
        "voluntary_cs" => u(r.voluntary_cs.into()),
        "involuntary_cs" => u(r.involuntary_cs.into()),
        "skbs_built" => u(r.skbs_built.into()),
        "skbs_tx" => u(r.skbs_tx.into()),
        "skbs_rx" => u(r.skbs_rx.into()),
        "bytes_to_user" => u(r.bytes_to_user),
        "cpu" => u(r.cpu.into()),
        "cycles" => counted(r.cycles),
        "instructions" => counted(r.instructions),
        "rx_softirq_ns" => bracketed(r.rx_softirq_ns),
        "tx_softirq_ns" => bracketed(r.tx_softirq_ns),
        "dev_xmit_ns" => bracketed(r.dev_xmit_ns),
        "offcpu_wmem_ns" => u(r.offcpu_reason_ns[0]),
        "offcpu_data_ns" => u(r.offcpu_reason_ns[1]),
        "offcpu_lock_ns" => u(r.offcpu_reason_ns[2]),
        "offcpu_preempt_ns" => u(r.offcpu_reason_ns[3]),
        "offcpu_other_ns" => u(r.offcpu_ns - r.offcpu_reason_ns.iter().sum::<u64>()),
        other => panic!("column {other} has no expectation in this test: add one"),
    }
}

/// Write `rows` and check every column of every row read back; returns the rows read.
fn round_trip(name: &str, rows: &[(SyscallRecord, Role)]) -> usize {
    let tmp = std::env::temp_dir().join(format!("netcopy-sink-{name}-{}", std::process::id()));
    let dir = RunDir::create(&tmp, format!("run-{name}"), true).unwrap();
    let mut w = SyscallsWriter::create(&dir, Level::Idle).unwrap();
    let offset = w.realtime_offset_ns();
    for (r, role) in rows {
        let kind = SyscallKind::from_u8(r.kind).unwrap();
        w.push(r, kind, *role).unwrap();
    }
    let (path, folded) = w.finish().unwrap();
    assert!(!path.with_extension("parquet.partial").exists());
    // The statistics folded as the spool was read back are those of the rows pushed, each
    // row once.
    let mut direct = ByThread::new();
    for (r, _) in rows {
        fold(&mut direct, r, SyscallKind::from_u8(r.kind).unwrap());
    }
    assert_eq!(
        folded.keys().collect::<Vec<_>>(),
        direct.keys().collect::<Vec<_>>()
    );
    for (key, want) in &direct {
        let got = &folded[key];
        assert_eq!(got.totals, want.totals, "{key:?}");
        let (g, w) = (got.latency.summary(), want.latency.summary());
        assert_eq!(
            (g.count, g.p50, g.p99, g.max),
            (w.count, w.p50, w.p99, w.max),
            "{key:?}"
        );
    }
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let mut i = 0;
    for b in &batches {
        assert_eq!(b.schema().fields(), schema().fields());
        for row in 0..b.num_rows() {
            let (r, role) = &rows[i];
            for (field, column) in b.schema().fields().iter().zip(b.columns()) {
                assert_eq!(
                    cell(column.as_ref(), row),
                    expected(field.name(), r, *role, &dir.run_id, offset),
                    "row {i}, column {}",
                    field.name()
                );
            }
            i += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    i
}

#[test]
fn every_column_round_trips_with_nulls_where_unmeasured() {
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
        voluntary_cs: 2,
        involuntary_cs: 3,
        skbs_built: 4,
        skbs_tx: 5,
        skbs_rx: 6,
        bytes_to_user: 7,
        cpu: 1,
        brackets: 1,
        offcpu_reason_ns: [100, 700, 0, 200],
        rx_softirq_ns: 800,
        tx_softirq_ns: 90,
        dev_xmit_ns: 1_100,
        ..Default::default()
    };
    // Measured nothing with counters, the exact tier or the brackets: those columns must be
    // null.
    let failed = SyscallRecord {
        ret: -105,
        flags: MSG_ERRQUEUE,
        kind: SyscallKind::Recvmsg as u8,
        counters: 0,
        exact: 0,
        brackets: 0,
        ..ok
    };
    // More rows than one batch, so several batches are written.
    let rows: Vec<(SyscallRecord, Role)> = (0..BATCH_ROWS + 10)
        .map(|i| {
            if i % 2 == 0 {
                (ok, Role::Server)
            } else {
                (failed, Role::Client)
            }
        })
        .collect();
    assert_eq!(round_trip("fixed", &rows), BATCH_ROWS + 10);
}

#[test]
fn only_the_columns_readers_filter_on_keep_statistics() {
    let tmp = std::env::temp_dir().join(format!("netcopy-sink-stats-{}", std::process::id()));
    let dir = RunDir::create(&tmp, "run-stats".into(), true).unwrap();
    let mut w = SyscallsWriter::create(&dir, Level::Idle).unwrap();
    for i in 0..100u64 {
        let r = SyscallRecord {
            start_ns: 1_000 + i,
            wall_ns: 50 + i,
            ret: 10,
            tgid: 7,
            tid: 8,
            fd: 3 + i as i32,
            kind: SyscallKind::Sendto as u8,
            ..Default::default()
        };
        w.push(&r, SyscallKind::Sendto, Role::Client).unwrap();
    }
    let path = w.close().unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    let group = reader.metadata().row_group(0);
    for column in group.columns() {
        let name = column.column_path().string();
        let kept = STATISTICS.contains(&name.as_str());
        assert_eq!(column.statistics().is_some(), kept, "{name}");
    }
    let wall = group
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "wall_ns")
        .and_then(|c| c.statistics())
        .unwrap();
    assert_eq!(
        (wall.min_bytes_opt(), wall.max_bytes_opt()),
        (
            Some(&50u64.to_le_bytes()[..]),
            Some(&149u64.to_le_bytes()[..])
        )
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn roles_are_keyed_in_their_declared_order() {
    for (i, role) in Role::ALL.iter().enumerate() {
        assert_eq!(*role as usize, i);
    }
    for (i, kind) in SyscallKind::ALL.iter().enumerate() {
        assert_eq!(*kind as usize, i);
    }
}

#[test]
fn a_directory_with_tables_is_refused_without_force() {
    let tmp = std::env::temp_dir().join(format!("netcopy-sink-force-{}", std::process::id()));
    let dir = RunDir::create(&tmp, "r".into(), false).unwrap();
    SyscallsWriter::create(&dir, Level::Idle)
        .unwrap()
        .close()
        .unwrap();
    assert!(matches!(
        RunDir::create(&tmp, "r".into(), false),
        Err(SinkError::NotEmpty(_))
    ));
    assert!(RunDir::create(&tmp, "r".into(), true).is_ok());
    let _ = std::fs::remove_dir_all(&tmp);
}

fn record() -> impl Strategy<Value = (SyscallRecord, Role)> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<i64>()),
        (any::<u32>(), any::<u32>(), any::<i32>(), any::<u32>()),
        (0..SyscallKind::ALL.len(), 0u8..3, any::<u64>(), 0u8..3),
        (any::<[u32; EXACT_FNS]>(), 0usize..3, any::<[u32; 6]>()),
        (0u8..3, any::<[u32; 3]>(), any::<[u32; 4]>()),
    )
        .prop_map(
            |(
                (start, wall, off, ret),
                (tgid, tid, fd, flags),
                (kind, counters, cycles, exact),
                (exact_ns, role, small),
                (brackets, bracket_ns, reasons),
            )| {
                // The kept reasons are parts of the off-CPU time, as the kernel adds them.
                let reasons = reasons.map(u64::from);
                let off = off.max(reasons.iter().sum());
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
                    voluntary_cs: small[0],
                    involuntary_cs: small[1],
                    skbs_built: small[2],
                    skbs_tx: small[3],
                    skbs_rx: small[4],
                    cpu: small[5],
                    bytes_to_user: wall / 7,
                    brackets,
                    rx_softirq_ns: bracket_ns[0],
                    tx_softirq_ns: bracket_ns[1],
                    dev_xmit_ns: bracket_ns[2],
                    offcpu_reason_ns: reasons,
                    ..Default::default()
                };
                (r, Role::ALL[role])
            },
        )
}

static CASE: AtomicU32 = AtomicU32::new(0);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the records hold, the file holds the same: every column, with null exactly
    /// where a value was not measured.
    #[test]
    fn records_survive_arrow_and_parquet(rows in prop::collection::vec(record(), 1..400)) {
        let case = CASE.fetch_add(1, Ordering::SeqCst);
        prop_assert_eq!(round_trip(&format!("prop-{case}"), &rows), rows.len());
    }
}
