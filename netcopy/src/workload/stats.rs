//! Honest statistics: per-call latency histograms, exact per-connection counters, and one
//! measurement window common to all connections.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use crate::model::{LatencySummary, Switches, WindowTotals};

/// Largest latency the histograms hold: longer calls are recorded as this value.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// The time span over which throughput and latency are reported.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    /// The window that starts `warmup` after `t0` and lasts `duration`.
    pub fn after(t0: Instant, warmup: Duration, duration: Duration) -> Self {
        let start = t0 + warmup;
        Self {
            start,
            end: start + duration,
        }
    }

    #[inline]
    pub fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

/// Latency of individual syscalls, in nanoseconds.
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        // 3 significant digits from 1 ns to 60 s; the bounds are constants that are valid.
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
            .expect("constant histogram bounds are valid");
        Self { hist }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.clamp(1, MAX_LATENCY_NS));
    }

    /// `n` calls of `ns` each.
    pub fn record_n(&mut self, ns: u64, n: u64) {
        if n > 0 {
            self.hist
                .saturating_record_n(ns.clamp(1, MAX_LATENCY_NS), n);
        }
    }

    pub fn add(&mut self, other: &Latency) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    pub fn summary(&self) -> LatencySummary {
        let q = |q: f64| (!self.hist.is_empty()).then(|| self.hist.value_at_quantile(q));
        LatencySummary {
            count: self.hist.len(),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            max: (!self.hist.is_empty()).then(|| self.hist.max()),
            mean: (!self.hist.is_empty()).then(|| self.hist.mean()),
        }
    }
}

/// Context switches of the calling thread so far, from getrusage(RUSAGE_THREAD): the
/// kernel's own per-thread counters, which the tracer's in-call counts are checked against.
pub fn thread_switches() -> Switches {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return Switches::default();
    }
    Switches {
        voluntary: ru.ru_nvcsw as u64,
        involuntary: ru.ru_nivcsw as u64,
    }
}

/// CPU time (user and system) of the calling thread so far, in ns
/// (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// Counters a receiving thread publishes while it runs, so the window can be cut from
/// outside without stopping it. One writer per counter: plain stores, no contention.
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
    messages: AtomicU64,
}

impl Progress {
    #[inline]
    pub fn publish_bytes(&self, total: u64) {
        self.bytes.store(total, Ordering::Relaxed);
    }

    #[inline]
    pub fn publish_messages(&self, total: u64) {
        self.messages.store(total, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            bytes: self.bytes.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
        }
    }
}

/// Counters of one connection at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub bytes: u64,
    pub messages: u64,
}

/// Window totals from snapshots of every connection taken at the window's start and end.
pub fn window_totals(start: &[Snapshot], end: &[Snapshot], elapsed: Duration) -> WindowTotals {
    let (bytes, messages) = start.iter().zip(end).fold((0, 0), |(b, m), (s, e)| {
        (
            b + e.bytes.saturating_sub(s.bytes),
            m + e.messages.saturating_sub(s.messages),
        )
    });
    let seconds = elapsed.as_secs_f64();
    let throughput_gbps = if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds / 1e9
    } else {
        0.0
    };
    WindowTotals {
        seconds,
        bytes,
        messages,
        throughput_gbps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sums_deltas_over_connections() {
        let start = [
            Snapshot {
                bytes: 100,
                messages: 1,
            },
            Snapshot {
                bytes: 0,
                messages: 0,
            },
        ];
        let end = [
            Snapshot {
                bytes: 1_000_000_100,
                messages: 11,
            },
            Snapshot {
                bytes: 250_000_000,
                messages: 5,
            },
        ];
        let w = window_totals(&start, &end, Duration::from_secs(2));
        assert_eq!(w.bytes, 1_250_000_000);
        assert_eq!(w.messages, 15);
        assert!(
            (w.throughput_gbps - 5.0).abs() < 1e-9,
            "{}",
            w.throughput_gbps
        );
    }

    #[test]
    fn empty_window_has_zero_throughput_not_nan() {
        let w = window_totals(&[], &[], Duration::ZERO);
        assert_eq!(w.throughput_gbps, 0.0);
    }

    #[test]
    fn window_bounds_are_half_open() {
        let t0 = Instant::now();
        let w = Window::after(t0, Duration::from_secs(1), Duration::from_secs(2));
        assert!(!w.contains(t0));
        assert!(w.contains(t0 + Duration::from_secs(1)));
        assert!(w.contains(t0 + Duration::from_millis(2999)));
        assert!(!w.contains(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn latency_percentiles_and_empty_nulls() {
        let mut l = Latency::new();
        assert_eq!(l.summary().p50, None);
        for ns in 1..=1000u64 {
            l.record(ns * 1000);
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        let p50 = s.p50.unwrap();
        assert!((499_000..=501_000).contains(&p50), "{p50}");
        let p99 = s.p99.unwrap();
        assert!((989_000..=991_000).contains(&p99), "{p99}");
        assert!(s.max.unwrap() >= 1_000_000 && s.max.unwrap() < 1_001_000);

        let mut sum = Latency::new();
        sum.add(&l);
        sum.add(&l);
        assert_eq!(sum.summary().count, 2000);
        l.record(u64::MAX);
        assert_eq!(l.summary().max, Some(l.hist.max()));
    }
}
