//! `runs.parquet`: one row per run, with the workload's own statistics ([`RunSummary`]) and
//! how the run was traced ([`RunMeta`]).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray,
    UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use super::{RunDir, SinkError, TableWriter};
use crate::model::{CounterSource, Role, RunMeta, RunSummary, StageRow};

pub const TABLE: &str = "runs";

/// The facts of a run starting now on this machine (host name, kernel release, start time),
/// traced as `attach_methods` says ("none": untraced), with no counters or fallbacks yet.
pub fn meta_here(attach_methods: String, sampling_hz: Option<u32>) -> RunMeta {
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    RunMeta {
        host: field(|u| u.nodename()),
        kernel: field(|u| u.release()),
        started_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or_default(),
        attach_methods,
        counters: None,
        sampling_hz,
        fallbacks: Vec::new(),
    }
}

/// Write the one-row table.
pub fn write(
    dir: &RunDir,
    s: &RunSummary,
    meta: &RunMeta,
    lost: Option<u64>,
) -> Result<(), SinkError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut col = |name: &str, ty: DataType, nullable: bool, array: ArrayRef| {
        fields.push(Field::new(name, ty, nullable));
        columns.push(array);
    };
    let text = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let u64_ = |v: Option<u64>| Arc::new(UInt64Array::from(vec![v])) as ArrayRef;
    let f64_ = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
    let bool_ = |v: bool| Arc::new(BooleanArray::from(vec![v])) as ArrayRef;

    col("run_id", DataType::Utf8, false, text(&dir.run_id));
    col("host", DataType::Utf8, false, text(&meta.host));
    col("kernel", DataType::Utf8, false, text(&meta.kernel));
    let ts = TimestampNanosecondArray::from(vec![meta.started_ns]).with_timezone("UTC");
    col(
        "start",
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        false,
        Arc::new(ts),
    );
    col("mode", DataType::Utf8, false, text(s.mode.name()));
    col("size", DataType::UInt64, false, u64_(Some(s.size)));
    col(
        "threads",
        DataType::UInt32,
        false,
        Arc::new(UInt32Array::from(vec![s.threads])),
    );
    let path = serde_json::to_value(s.path)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    col("path", DataType::Utf8, false, text(&path));
    let cpu = |c: Option<usize>| c.map(|c| c as u32);
    let pinned = s.cpu_affinity.unwrap_or_default();
    col(
        "sender_cpu",
        DataType::UInt32,
        true,
        Arc::new(UInt32Array::from(vec![cpu(pinned.sender)])),
    );
    col(
        "receiver_cpu",
        DataType::UInt32,
        true,
        Arc::new(UInt32Array::from(vec![cpu(pinned.receiver)])),
    );
    col("warmup_s", DataType::Float64, false, f64_(s.warmup_s));
    col("duration_s", DataType::Float64, false, f64_(s.duration_s));
    col(
        "window_seconds",
        DataType::Float64,
        false,
        f64_(s.window.seconds),
    );
    col(
        "window_bytes",
        DataType::UInt64,
        false,
        u64_(Some(s.window.bytes)),
    );
    col(
        "window_messages",
        DataType::UInt64,
        false,
        u64_(Some(s.window.messages)),
    );
    // A server's shard of a two-host run has no receiving end: its throughput is the
    // client shard's to say.
    col(
        "throughput_gbps",
        DataType::Float64,
        true,
        Arc::new(Float64Array::from(vec![
            (s.window.seconds > 0.0).then_some(s.throughput_gbps),
        ])),
    );
    col("bytes", DataType::UInt64, false, u64_(Some(s.bytes)));
    col("messages", DataType::UInt64, false, u64_(Some(s.messages)));
    col("verified", DataType::Boolean, false, bool_(s.verified));
    col(
        "interrupted",
        DataType::Boolean,
        false,
        bool_(s.interrupted),
    );
    for (end, l) in [("send", &s.send_latency_ns), ("recv", &s.recv_latency_ns)] {
        let l = l.as_ref();
        for (q, v) in [
            ("p50", l.and_then(|l| l.p50)),
            ("p90", l.and_then(|l| l.p90)),
            ("p99", l.and_then(|l| l.p99)),
            ("p999", l.and_then(|l| l.p999)),
            ("max", l.and_then(|l| l.max)),
        ] {
            col(&format!("{end}_{q}_ns"), DataType::UInt64, true, u64_(v));
        }
    }
    let zc = s.zerocopy.as_ref();
    col(
        "zerocopy_sends",
        DataType::UInt64,
        true,
        u64_(zc.map(|z| z.sends)),
    );
    col(
        "zerocopy_completed",
        DataType::UInt64,
        true,
        u64_(zc.map(|z| z.completed)),
    );
    col(
        "zerocopy_copied",
        DataType::UInt64,
        true,
        u64_(zc.map(|z| z.copied)),
    );
    col("rx", DataType::Utf8, false, text(s.rx.name()));
    let rx = s.rx_zerocopy.as_ref();
    for (name, v) in [
        ("rx_mapped_bytes", rx.map(|z| z.mapped_bytes)),
        ("rx_copied_bytes", rx.map(|z| z.copied_bytes)),
    ] {
        col(name, DataType::UInt64, true, u64_(v));
    }
    col("lost_records", DataType::UInt64, true, u64_(lost));
    let stackless = s.probe.as_ref().and_then(|p| p.stackless_samples);
    col("lost_samples", DataType::UInt64, true, u64_(stackless));
    col(
        "attach_methods",
        DataType::Utf8,
        false,
        text(&meta.attach_methods),
    );
    col(
        "pmu",
        DataType::Boolean,
        false,
        bool_(meta.counters == Some(CounterSource::Pmu)),
    );
    col(
        "counter_source",
        DataType::Utf8,
        true,
        Arc::new(StringArray::from(vec![
            meta.counters.map(CounterSource::name),
        ])),
    );
    col(
        "sampling_hz",
        DataType::UInt32,
        true,
        Arc::new(UInt32Array::from(vec![meta.sampling_hz])),
    );
    col(
        "fallbacks",
        DataType::Utf8,
        false,
        text(&meta.fallbacks.join("; ")),
    );
    // How far the sampled shares of the exactly timed stages were from their exact shares:
    // each as text, and the largest in points (null: no stage was timed exactly).
    let stages = s.stages.as_deref().unwrap_or_default();
    let skews: Vec<String> = Role::ALL
        .into_iter()
        .filter_map(|role| {
            Some(format!(
                "{} {}",
                role.name(),
                StageRow::skew_line(stages, role)?
            ))
        })
        .collect();
    col(
        "sampling_skew",
        DataType::Utf8,
        true,
        Arc::new(StringArray::from(vec![
            (!skews.is_empty()).then(|| skews.join("; ")),
        ])),
    );
    let max_skew = stages
        .iter()
        .filter_map(|r| r.skew_pts)
        .map(f64::abs)
        .reduce(f64::max);
    col(
        "sampling_skew_max_pts",
        DataType::Float64,
        true,
        Arc::new(Float64Array::from(vec![max_skew])),
    );

    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let mut table = TableWriter::create(dir, TABLE, batch.schema())?;
    table.write(&batch)?;
    table.close()?;
    Ok(())
}
