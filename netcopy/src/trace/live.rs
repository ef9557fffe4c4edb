//! `netcopy top`'s data: a trace that keeps no records (the kernel adds every call up per
//! thread and kind, `--aggregate`), read every interval. Each tick takes the difference of
//! the kernel's totals and of the stack samples since the last one, and makes a row per
//! thread and one per process: calls/s, bytes/s, p50/p99 call time, on-CPU ns per KiB,
//! switches per 1000 calls and the two stages with the most samples.

use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use netcopy_common::{
    aggregate::{AggKey, Aggregate, HIST_BUCKETS},
    sample::SampleKey,
    stage::Stage,
};

use super::{
    TraceError, TraceOptions,
    external::{Target, validate},
    session::Session,
};
use crate::{
    collect::{
        kallsyms::Kallsyms,
        procs::Processes,
        stages::{StageTable, classify},
    },
    model::TopRow,
    workload::watch::Roles,
};

/// A running live trace.
pub struct Live {
    session: Session,
    syms: Kallsyms,
    procs: Processes,
    last: Instant,
    calls: BTreeMap<(u32, u8), Aggregate>,
    samples: HashMap<SampleKey, u64>,
    /// Each stack id's stage, classified once.
    stages: HashMap<i32, Stage>,
}

impl Live {
    /// Attach the probes for `targets` (every process when there are none), sampling
    /// stacks at `sample_hz`.
    pub fn start(targets: &[Target], sample_hz: Option<u64>) -> Result<Self, TraceError> {
        validate(targets)?;
        let opts = TraceOptions {
            aggregate: true,
            sample_hz,
            quiet: true,
            ..Default::default()
        };
        let mut session = Session::start(&opts, &Roles::default())?;
        if targets.is_empty() {
            session.probes.add_all()?;
        }
        for t in targets {
            session.add_target(t)?;
        }
        Ok(Self {
            session,
            syms: Kallsyms::load()?,
            procs: Processes::default(),
            last: Instant::now(),
            calls: BTreeMap::new(),
            samples: HashMap::new(),
            stages: HashMap::new(),
        })
    }

    /// The rows since the last tick (since the start, the first time).
    pub fn tick(&mut self) -> Result<Vec<TopRow>, TraceError> {
        let secs = self.last.elapsed().as_secs_f64().max(1e-3);
        self.last = Instant::now();
        let now: BTreeMap<(u32, u8), Aggregate> = self
            .session
            .probes
            .aggregates()?
            .into_iter()
            .map(|(k, a): (AggKey, Aggregate)| ((k.tid, k.kind), a))
            .collect();
        let samples: HashMap<SampleKey, u64> = self.session.probes.samples()?.into_iter().collect();
        let mut stages: BTreeMap<u32, StageTable> = BTreeMap::new();
        for (key, n) in &samples {
            let new = n.saturating_sub(self.samples.get(key).copied().unwrap_or(0));
            if new == 0 || key.stack_id < 0 {
                continue;
            }
            let stage = match self.stages.get(&key.stack_id) {
                Some(s) => *s,
                None => {
                    let ips = self.session.probes.stack(key.stack_id as u32)?;
                    let s = classify(&self.syms.outer_first(&ips));
                    self.stages.insert(key.stack_id, s);
                    s
                }
            };
            stages.entry(key.tid).or_default().add(stage, new);
        }
        for (tid, _) in now.keys() {
            self.procs.see(*tid, None);
        }
        let rows = rows(&self.calls, &now, &stages, &self.procs, secs);
        self.calls = now;
        self.samples = samples;
        Ok(rows)
    }

    /// Detach everything.
    pub fn finish(mut self) -> Result<(), TraceError> {
        self.session.finish().map(drop)
    }
}

/// What moved between two readings of the kernel's totals, per thread.
#[derive(Clone, Debug)]
struct Moved {
    calls: u64,
    bytes: u64,
    oncpu_ns: u64,
    switches: u64,
    hist: [u64; HIST_BUCKETS],
}

impl Default for Moved {
    fn default() -> Self {
        Self {
            calls: 0,
            bytes: 0,
            oncpu_ns: 0,
            switches: 0,
            hist: [0; HIST_BUCKETS],
        }
    }
}

impl Moved {
    fn add(&mut self, now: &Aggregate, before: Option<&Aggregate>) {
        let d = |f: fn(&Aggregate) -> u64| f(now).saturating_sub(before.map_or(0, f));
        self.calls += d(|a| a.calls);
        self.bytes += d(|a| a.bytes);
        self.oncpu_ns += d(|a| a.wall_ns.saturating_sub(a.offcpu_ns));
        self.switches += d(|a| a.voluntary_cs + a.involuntary_cs);
        for (i, h) in self.hist.iter_mut().enumerate() {
            *h += now.hist[i].saturating_sub(before.map_or(0, |b| b.hist[i]));
        }
    }

    fn merge(&mut self, o: &Moved) {
        self.calls += o.calls;
        self.bytes += o.bytes;
        self.oncpu_ns += o.oncpu_ns;
        self.switches += o.switches;
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a += b;
        }
    }
}

/// The `q` quantile of the log2 buckets, at its bucket's geometric middle (good to a factor
/// of sqrt 2, as `--aggregate`'s percentiles).
fn quantile(hist: &[u64; HIST_BUCKETS], q: f64) -> Option<u64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let want = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want {
            return Some(((1u64 << i) as f64 * std::f64::consts::SQRT_2) as u64);
        }
    }
    None
}

/// A row for `moved`, over `secs`.
fn row(
    pid: u32,
    tid: Option<u32>,
    comm: &str,
    moved: &Moved,
    stages: &StageTable,
    secs: f64,
) -> TopRow {
    let mut ranked: Vec<(Stage, u64)> = Stage::ALL
        .iter()
        .map(|s| (*s, stages.get(*s)))
        .filter(|(_, n)| *n > 0)
        .collect();
    ranked.sort_by_key(|s| std::cmp::Reverse(s.1));
    let total = stages.total().max(1) as f64;
    TopRow {
        pid,
        tid,
        comm: comm.to_owned(),
        calls_per_s: moved.calls as f64 / secs,
        bytes_per_s: moved.bytes as f64 / secs,
        p50_ns: quantile(&moved.hist, 0.5),
        p99_ns: quantile(&moved.hist, 0.99),
        oncpu_ns_per_kib: (moved.bytes > 0)
            .then(|| moved.oncpu_ns as f64 * 1024.0 / moved.bytes as f64),
        switches_per_1000: (moved.calls > 0)
            .then(|| moved.switches as f64 * 1000.0 / moved.calls as f64),
        top_stages: ranked
            .iter()
            .take(2)
            .map(|(s, n)| (s.name(), *n as f64 / total))
            .collect(),
    }
}

/// A row per process that made calls between `before` and `now`, each followed by a row
/// per thread of it that did, in the order of the processes' pids.
fn rows(
    before: &BTreeMap<(u32, u8), Aggregate>,
    now: &BTreeMap<(u32, u8), Aggregate>,
    stages: &BTreeMap<u32, StageTable>,
    procs: &Processes,
    secs: f64,
) -> Vec<TopRow> {
    let mut threads: BTreeMap<u32, Moved> = BTreeMap::new();
    for (key, a) in now {
        threads.entry(key.0).or_default().add(a, before.get(key));
    }
    let mut by_pid: BTreeMap<u32, Vec<(u32, Moved)>> = BTreeMap::new();
    for (tid, moved) in threads.into_iter().filter(|(_, m)| m.calls > 0) {
        by_pid
            .entry(procs.of(tid).pid)
            .or_default()
            .push((tid, moved));
    }
    let none = StageTable::default();
    let mut out = Vec::new();
    for (pid, threads) in by_pid {
        let comm = procs
            .comm(pid)
            .map_or_else(|| procs.of(pid).comm, str::to_owned);
        let mut total = Moved::default();
        let mut table = StageTable::default();
        for (tid, m) in &threads {
            total.merge(m);
            if let Some(t) = stages.get(tid) {
                table.merge(t);
            }
        }
        out.push(row(pid, None, &comm, &total, &table, secs));
        for (tid, m) in &threads {
            let name = procs.thread_name(*tid).unwrap_or(&comm);
            out.push(row(
                pid,
                Some(*tid),
                name,
                m,
                stages.get(tid).unwrap_or(&none),
                secs,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(calls: u64, bytes: u64, wall_ns: u64, bucket: usize) -> Aggregate {
        let mut a = Aggregate {
            calls,
            bytes,
            wall_ns,
            voluntary_cs: calls / 10,
            ..Default::default()
        };
        a.hist[bucket] = calls;
        a
    }

    #[test]
    fn rates_are_the_difference_over_the_interval_per_thread_and_process() {
        let me = std::process::id();
        let mut procs = Processes::default();
        procs.see(me, Some(me));
        let before = BTreeMap::from([((me, 1), agg(1000, 1 << 20, 1_000_000, 10))]);
        // 2000 more calls of 1 KiB each, all about 2^12 ns, in 0.5 s.
        let now = BTreeMap::from([((me, 1), {
            let mut a = agg(3000, (1 << 20) + 2000 * 1024, 3_000_000, 10);
            a.hist[10] = 1000;
            a.hist[12] = 2000;
            a
        })]);
        let mut table = StageTable::default();
        table.add(Stage::CopyUserToSkb, 30);
        table.add(Stage::TcpTx, 10);
        table.add(Stage::Syscall, 60);
        let stages = BTreeMap::from([(me, table)]);
        let rows = rows(&before, &now, &stages, &procs, 0.5);
        assert_eq!(rows.len(), 2, "the process and its thread: {rows:?}");
        let (p, t) = (&rows[0], &rows[1]);
        assert_eq!((p.pid, p.tid, t.tid), (me, None, Some(me)));
        assert_eq!(p.calls_per_s, 4000.0);
        assert_eq!(p.bytes_per_s, 2000.0 * 1024.0 * 2.0);
        // 2 ms of on-CPU time over 2000 KiB.
        assert_eq!(p.oncpu_ns_per_kib, Some(1000.0));
        assert_eq!(p.switches_per_1000, Some(100.0));
        let mid = |i: u32| Some(((1u64 << i) as f64 * std::f64::consts::SQRT_2) as u64);
        assert_eq!((p.p50_ns, p.p99_ns), (mid(12), mid(12)));
        assert_eq!(p.top_stages, [("syscall", 0.6), ("copy_user_to_skb", 0.3)]);
        // Nothing moved: no row.
        assert!(super::rows(&now, &now, &BTreeMap::new(), &procs, 1.0).is_empty());
    }
}
