//! The clock of the workload's per-call timing: the CPU's time-stamp counter through the
//! `quanta` crate where the counter is invariant (a read is one `rdtsc`, scaled to ns only
//! when a latency is recorded), else the OS monotonic clock, which quanta falls back to.
//!
//! Measured on the 2-CPU EPYC VMs of this project: `clock_gettime` through the vDSO took
//! 8.5% of a `netcopy run --no-verify` twocopy 1K run's CPU samples (perf, cpu-clock) when
//! every message read the clock five times; the per-call timing is what the C loop of the
//! bench does not do.

use std::time::Instant as StdInstant;

pub use quanta::Instant;

/// A calibrated clock, and one moment read on both it and `std`'s clock, to convert the
/// run's windows and deadlines (made with `std::time::Instant`) once.
#[derive(Clone, Debug)]
pub struct Clock {
    clock: quanta::Clock,
    at: (Instant, StdInstant),
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let at = (clock.now(), StdInstant::now());
        Self { clock, at }
    }

    /// The counter now, unscaled.
    #[inline]
    pub fn raw(&self) -> u64 {
        self.clock.raw()
    }

    /// A raw reading as an instant.
    #[inline]
    pub fn scaled(&self, raw: u64) -> Instant {
        self.clock.scaled(raw)
    }

    /// Nanoseconds from raw reading `start` to `end`.
    #[inline]
    pub fn ns_between(&self, start: u64, end: u64) -> u64 {
        self.clock.delta_as_nanos(start, end)
    }

    /// `t` of `std`'s clock on this one.
    pub fn from_std(&self, t: StdInstant) -> Instant {
        let (q, s) = self.at;
        match t.checked_duration_since(s) {
            Some(after) => q + after,
            None => q.checked_sub(s - t).unwrap_or(q),
        }
    }

    /// `t` of this clock on `std`'s.
    pub fn to_std(&self, t: Instant) -> StdInstant {
        let (q, s) = self.at;
        match t.checked_duration_since(q) {
            Some(after) => s + after,
            None => s.checked_sub(q - t).unwrap_or(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn instants_convert_both_ways_and_raw_readings_agree_with_std() {
        let c = Clock::new();
        let s = StdInstant::now();
        for t in [
            s,
            s + Duration::from_millis(1500),
            s - Duration::from_millis(20),
        ] {
            let back = c.to_std(c.from_std(t));
            let off = if back > t { back - t } else { t - back };
            assert!(
                off < Duration::from_micros(1),
                "{t:?} came back as {back:?}"
            );
        }
        // The same stretch on both clocks agrees: a counter scaled wrong would not.
        let (a, sa) = (c.raw(), StdInstant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (ns, std_ns) = (c.ns_between(a, c.raw()), sa.elapsed().as_nanos() as u64);
        assert!(
            ns.abs_diff(std_ns) < std_ns / 100 + 50_000,
            "{ns} vs {std_ns} ns"
        );
    }
}
