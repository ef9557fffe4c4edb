//! Which data calls the workload times into its latency histograms: every call, one in N
//! picked at random, or none.
//!
//! A timed call reads the TSC twice. On a 2-CPU EPYC VM that is about 2.5% of a 1K twocopy
//! run's throughput (docs/methodology.md, "What timing every call costs the workload") and
//! nothing measurable from 16 KiB up, so small messages time one call in 16 by default. The
//! percentiles of a random sample of that size (hundreds of thousands of calls in 10 s at
//! 1K) estimate those of all calls; the rarest tail rests on fewer calls (p99.9 on some
//! hundreds), and the max is the max of the timed calls.

/// Which data calls are timed (`--latency-sample N`, `--no-latency`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallTiming {
    /// No call: the latency rows are null.
    Off,
    /// One call in `n` on average, `n` a power of two up to [`MAX_ONE_IN`] (1: every call).
    OneIn(u32),
}

/// The most calls `--latency-sample` may let through per timed call.
pub const MAX_ONE_IN: u32 = 1024;

/// Messages below this size time one call in [`SAMPLED_ONE_IN`] by default.
pub const SAMPLED_BELOW: u64 = 16 * 1024;

/// The default sample below [`SAMPLED_BELOW`].
pub const SAMPLED_ONE_IN: u32 = 16;

/// Hello byte 7: bit 0 set, no call is timed; otherwise bits 1-7 hold log2 of `n`. 0 is
/// every call, which is what builds from before sampling send for a timed run.
const WIRE_OFF: u8 = 1;

impl CallTiming {
    pub const EVERY_CALL: Self = Self::OneIn(1);

    /// The default for `size`-byte messages.
    pub fn default_for(size: u64) -> Self {
        if size < SAMPLED_BELOW {
            Self::OneIn(SAMPLED_ONE_IN)
        } else {
            Self::EVERY_CALL
        }
    }

    /// `n` of "one call in n", or `None` when no call is timed.
    pub fn one_in(self) -> Option<u32> {
        match self {
            Self::Off => None,
            Self::OneIn(n) => Some(n),
        }
    }

    pub fn every_call(self) -> bool {
        self == Self::EVERY_CALL
    }

    /// Parse `--latency-sample`'s value: a power of two from 1 to [`MAX_ONE_IN`].
    pub fn parse_one_in(s: &str) -> Result<Self, String> {
        let n: u32 = s
            .parse()
            .map_err(|_| format!("{s:?} is not a whole number"))?;
        if !n.is_power_of_two() || n > MAX_ONE_IN {
            return Err(format!(
                "{n}: one call in N needs N a power of two from 1 to {MAX_ONE_IN}"
            ));
        }
        Ok(Self::OneIn(n))
    }

    /// The hello's byte for this timing.
    pub fn to_wire(self) -> u8 {
        match self {
            Self::Off => WIRE_OFF,
            Self::OneIn(n) => (n.trailing_zeros() as u8) << 1,
        }
    }

    /// The timing a hello's byte asks for; `None` for a byte no build sends.
    pub fn from_wire(b: u8) -> Option<Self> {
        if b == WIRE_OFF {
            return Some(Self::Off);
        }
        let log2 = u32::from(b >> 1);
        let n = 1u32.checked_shl(log2)?;
        (b & WIRE_OFF == 0 && n <= MAX_ONE_IN).then_some(Self::OneIn(n))
    }
}

/// Picks the calls to time: a countdown of calls to let through untimed, drawn again at
/// random after each timed call, uniform over 0 ..= 2n - 2, so that one call in `n` is timed
/// on average and the timed calls are no periodic subset of the run.
pub struct Picker {
    timing: CallTiming,
    /// Calls left to let through before the next timed one.
    skip: u32,
    /// xorshift64 state, never 0.
    rng: u64,
}

impl Picker {
    pub fn new(timing: CallTiming, seed: u64) -> Self {
        let mut p = Self {
            timing,
            skip: 0,
            rng: seed | 1,
        };
        p.skip = p.gap();
        p
    }

    pub fn timing(&self) -> CallTiming {
        self.timing
    }

    /// Whether the next call is timed. Untimed calls cost a decrement and a branch.
    #[inline]
    pub fn time_next(&mut self) -> bool {
        if self.skip != 0 {
            self.skip -= 1;
            return false;
        }
        self.skip = self.gap();
        self.timing != CallTiming::Off
    }

    /// Untimed calls before the next timed one.
    fn gap(&mut self) -> u32 {
        match self.timing {
            CallTiming::Off => u32::MAX,
            CallTiming::OneIn(n) if n <= 1 => 0,
            CallTiming::OneIn(n) => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                (self.rng % u64::from(2 * n - 1)) as u32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(timing: CallTiming, calls: u32) -> Vec<u32> {
        let mut p = Picker::new(timing, 0x9e37_79b9_7f4a_7c15);
        (0..calls).filter(|_| p.time_next()).collect()
    }

    #[test]
    fn every_call_and_none() {
        assert_eq!(timed(CallTiming::EVERY_CALL, 1000).len(), 1000);
        assert!(timed(CallTiming::Off, 3_000_000).is_empty());
    }

    #[test]
    fn one_in_n_times_about_one_call_in_n_at_no_fixed_period() {
        for n in [2, 16, 1024] {
            let calls = 1600 * n;
            let t = timed(CallTiming::OneIn(n), calls);
            // 1,600 draws of a gap with mean n and sd about 0.58 n: 1.4% is one sd.
            let want = f64::from(calls / n);
            let got = t.len() as f64;
            assert!(
                (got - want).abs() < want * 0.05,
                "n {n}: {got} timed, {want} wanted"
            );
            let gaps: std::collections::BTreeSet<u32> = t.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(gaps.len() as u32 > n.min(64), "n {n}: only gaps {gaps:?}");
            assert!(gaps.iter().all(|&g| g >= 1 && g < 2 * n), "n {n}: {gaps:?}");
        }
    }

    #[test]
    fn wire_round_trip_and_strangers() {
        let mut all = vec![CallTiming::Off];
        all.extend((0..=10).map(|k| CallTiming::OneIn(1 << k)));
        for t in all {
            assert_eq!(CallTiming::from_wire(t.to_wire()), Some(t), "{t:?}");
        }
        // What the builds before sampling sent: 0 timed every call, 1 none.
        assert_eq!(CallTiming::from_wire(0), Some(CallTiming::EVERY_CALL));
        assert_eq!(CallTiming::from_wire(1), Some(CallTiming::Off));
        for b in [3u8, 11 << 1, 0xfe, 0xff] {
            assert_eq!(CallTiming::from_wire(b), None, "{b:#x}");
        }
    }

    #[test]
    fn the_option_takes_powers_of_two_only() {
        assert_eq!(CallTiming::parse_one_in("16"), Ok(CallTiming::OneIn(16)));
        assert_eq!(CallTiming::parse_one_in("1"), Ok(CallTiming::EVERY_CALL));
        for bad in ["0", "3", "2048", "-1", "x"] {
            assert!(CallTiming::parse_one_in(bad).is_err(), "{bad}");
        }
        assert_eq!(CallTiming::default_for(1024), CallTiming::OneIn(16));
        assert_eq!(CallTiming::default_for(16 * 1024), CallTiming::EVERY_CALL);
    }
}
