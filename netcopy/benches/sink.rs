//! In-process benches of netcopy's data path: the collector's work per record (ring
//! buffer batches read and spooled), Parquet encoding of the syscalls table (with Arrow
//! batch building), the stage classifier on real stacks, and message (de)serialization and
//! verification.
//!
//! `cargo bench -p netcopy --bench sink -- --quick-summary` skips criterion and prints the
//! numbers `cargo xtask bench` puts in BENCHMARKS.md, for 1M realistic rows: rows encoded
//! per second (and per CPU-second), bytes per row on disk, and the collector's CPU per row.

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use netcopy::{
    collect::stages::{classify, parse_folded},
    model::Role,
    sink::{RunDir, behind::Level, syscalls::SyscallsWriter},
    workload::message::{Layout, Message, Verifier},
};
use netcopy_common::{
    batch::{StagedRecords, batch_records},
    syscalls::{MSG_ERRQUEUE, MSG_ZEROCOPY, SyscallKind, SyscallRecord},
};

/// `n` records like a 2-thread onecopy trace's: alternating sends and receives, start times
/// a few µs apart, varied durations, a few switches and errors.
fn records(n: usize) -> Vec<(SyscallRecord, SyscallKind, Role)> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut t = 1_000_000_000u64;
    (0..n)
        .map(|i| {
            let r = next();
            t += 500 + r % 3000;
            let send = i % 2 == 0;
            let kind = if send {
                SyscallKind::Sendmsg
            } else {
                SyscallKind::Recvmsg
            };
            let wall = 2_000 + r % 40_000;
            let cs = u32::from(r % 10 == 0);
            let rec = SyscallRecord {
                start_ns: t,
                wall_ns: wall,
                offcpu_ns: if cs == 1 { wall / 2 } else { 0 },
                ret: if r % 1000 == 0 { -11 } else { 65_536 },
                bytes_to_user: if send { 0 } else { 65_536 },
                tgid: 4242,
                tid: 4243 + (i % 4) as u32,
                fd: 5 + (i % 4) as i32,
                flags: if r % 50 == 0 {
                    MSG_ZEROCOPY
                } else if r % 77 == 0 {
                    MSG_ERRQUEUE
                } else {
                    0
                },
                voluntary_cs: cs,
                involuntary_cs: 0,
                skbs_built: if send { 2 } else { 0 },
                skbs_tx: if send { 2 } else { 0 },
                skbs_rx: 2,
                cpu: (i % 2) as u32,
                kind: kind as u8,
                ..Default::default()
            };
            (rec, kind, if send { Role::Server } else { Role::Client })
        })
        .collect()
}

fn encode(rows: &[(SyscallRecord, SyscallKind, Role)], dir: &RunDir) -> std::path::PathBuf {
    let mut w = SyscallsWriter::create(dir, Level::Idle).unwrap_or_else(|e| panic!("{e}"));
    for (r, k, role) in rows {
        w.push(r, *k, *role).unwrap_or_else(|e| panic!("{e}"));
    }
    w.close().unwrap_or_else(|e| panic!("{e}"))
}

fn run_dir() -> RunDir {
    let path = std::env::temp_dir().join(format!("netcopy-bench-sink-{}", std::process::id()));
    RunDir::for_run(Some(&path), "bench", Some("bench".into()), true)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn bench_encode(c: &mut Criterion) {
    let rows = records(200_000);
    let dir = run_dir();
    let mut g = c.benchmark_group("parquet");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(10);
    g.bench_function("syscalls_200k_rows", |b| b.iter(|| encode(&rows, &dir)));
    g.finish();
    let _ = std::fs::remove_dir_all(&dir.path);
}

/// `rows` as the kernel sends them, [`StagedRecords`] batches as ring buffer items (each
/// record its head, and its tail only where it has one), and each row's kind and role.
fn ring_items(
    rows: &[(SyscallRecord, SyscallKind, Role)],
) -> (Vec<Vec<u8>>, Vec<(SyscallKind, Role)>) {
    let mut items = Vec::new();
    let mut batch = StagedRecords::default();
    for (r, _, _) in rows {
        // A tail the record has no use for lies past its head, where the next record goes.
        if batch.push(|slot| *slot = *r) != Some(false) {
            items.push(batch.item().to_vec());
            batch.clear();
        }
    }
    if batch.count > 0 {
        items.push(batch.item().to_vec());
    }
    (items, rows.iter().map(|(_, k, role)| (*k, *role)).collect())
}

/// The collector's hot path once: each ring item's records read out and spooled, as the
/// collector does with `roles` (each record's kind and role). Returns the CPU time of the
/// thread doing it, without the writer's start and close (the table is held, so nothing is
/// encoded meanwhile): the collector's cost is CPU taken from the traced program, and on a
/// busy host wall time here spread by a third between runs.
fn spool_items(items: &[Vec<u8>], roles: &[(SyscallKind, Role)], dir: &RunDir) -> Duration {
    let mut w = SyscallsWriter::create(dir, Level::Held).unwrap_or_else(|e| panic!("{e}"));
    let start = thread_cpu();
    let mut i = 0;
    for item in items {
        let read = batch_records(item, |r| {
            let (kind, role) = roles[i];
            i += 1;
            w.push(r, kind, role).unwrap_or_else(|e| panic!("{e}"));
        });
        assert!(read.is_ok(), "a batch did not read back");
    }
    let spent = thread_cpu().saturating_sub(start);
    w.close().unwrap_or_else(|e| panic!("{e}"));
    spent
}

fn bench_collect(c: &mut Criterion) {
    let (items, roles) = ring_items(&records(200_000));
    let dir = run_dir();
    let mut g = c.benchmark_group("collector");
    g.throughput(Throughput::Elements(roles.len() as u64));
    g.sample_size(20);
    g.bench_function("ring_items_to_spool_200k_rows", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| spool_items(&items, &roles, &dir)).sum())
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir.path);
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/stacks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bench_classifier(c: &mut Criterion) {
    let lines = parse_folded(&fixture("zerocopy-64k.folded")).unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("classifier");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("zerocopy_64k_stacks", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|l| classify(&l.frames) as usize)
                .sum::<usize>()
        })
    });
    g.finish();
}

fn bench_message(c: &mut Criterion) {
    for size in [1024usize, 65_536] {
        let layout = Layout::new(size).unwrap_or_else(|e| panic!("{e}"));
        let msg = Message::new(&layout);
        let mut buf = vec![0u8; size];
        let mut g = c.benchmark_group(format!("message_{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function("serialize", |b| b.iter(|| msg.serialize_into(&mut buf)));
        let mut back = Message::zeroed(&layout);
        g.bench_function("deserialize", |b| b.iter(|| back.deserialize_from(&buf)));
        g.bench_function("verify", |b| {
            b.iter_batched(
                || Verifier::new(&layout),
                |mut v| v.check(&msg).is_ok(),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

criterion_group!(
    benches,
    bench_collect,
    bench_encode,
    bench_classifier,
    bench_message
);

/// Rows per second and bytes per row of 1M rows, timed once.
fn quick_summary() {
    let rows = records(1_000_000);
    let dir = run_dir();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let path = encode(&rows, &dir);
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("rows_per_second: {:.0}", rows.len() as f64 / secs);
    // The encoder runs on a thread of its own: rows per second of CPU, both threads together.
    println!("rows_per_cpu_second: {:.0}", rows.len() as f64 / cpu);
    println!("bytes_per_row: {:.2}", size as f64 / rows.len() as f64);
    // The collector's CPU per record: the least of five passes over the same rows, the
    // pass least disturbed by the rest of the host.
    let (items, roles) = ring_items(&rows);
    let least = (0..5)
        .map(|_| spool_items(&items, &roles, &dir))
        .min()
        .unwrap_or_default();
    println!(
        "collector_ns_per_row: {:.1}",
        least.as_nanos() as f64 / rows.len() as f64
    );
    let _ = std::fs::remove_dir_all(&dir.path);
}

/// CPU time of the calling thread so far.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// CPU time of the whole process so far, all threads.
fn cpu_seconds() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(f64::NAN)
}

fn main() {
    if std::env::args().any(|a| a == "--quick-summary") {
        quick_summary();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
