//! When a sender stops: its deadline, looked at once per message without a clock read of its
//! own where every call is timed.

use std::time::Instant;

use super::{clock, conn::Conn};

/// A sender's deadline, looked at once per message. Where every call is timed, the calls
/// leave their start behind, so the look reads no clock: the deadline has passed once the
/// latest call started at or after it. Otherwise (calls sampled or untimed) the clock is read
/// once every `every` messages, about 64 KiB of data (the C loop of the bench reads its clock
/// once every 64 messages).
pub struct Deadline {
    at: clock::Instant,
    every: u32,
    /// Looks left before the next clock read, and what the latest read found.
    left: u32,
    passed: bool,
}

/// Bytes sent between two clock reads of an untimed [`Deadline`].
const DEADLINE_EVERY_BYTES: usize = 64 * 1024;

impl Deadline {
    /// `at` for a connection sending `message`-byte messages.
    pub fn new(conn: &Conn, at: Instant, message: usize) -> Self {
        let every = (DEADLINE_EVERY_BYTES / message.max(1)).clamp(1, 1024) as u32;
        Self {
            at: conn.clock().from_std(at),
            every,
            left: 0,
            passed: false,
        }
    }

    /// Whether the deadline has passed, as of the latest call or (untimed) the latest read.
    #[inline]
    pub fn passed(&mut self, conn: &Conn) -> bool {
        let clock = conn.clock();
        if let Some(start) = conn.latest_start() {
            return clock.scaled(start) >= self.at;
        }
        if self.left == 0 {
            self.left = self.every;
            self.passed = clock.scaled(clock.raw()) >= self.at;
        }
        self.left -= 1;
        self.passed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workload::{conn::tests::conn, timing::CallTiming};

    #[test]
    fn untimed_deadline_reads_the_clock_once_every_64_kib_of_messages() {
        // Sampled calls leave no start of the latest call behind either.
        for timing in [CallTiming::Off, CallTiming::OneIn(16)] {
            let (mut c, _peer) = conn();
            c.set_call_timing(timing);
            let mut d = Deadline::new(&c, Instant::now() + Duration::from_millis(30), 1024);
            assert!(!d.passed(&c), "read before the deadline");
            std::thread::sleep(Duration::from_millis(40));
            // 64 one-KiB messages per read: the 63 looks left still go by the first read.
            let late = (0..64).filter(|_| !d.passed(&c)).count();
            assert_eq!(late, 63, "{timing:?}");
            assert!(d.passed(&c) && d.passed(&c), "passed stays passed");
            // 64 KiB messages: every look reads the clock.
            let mut d = Deadline::new(&c, Instant::now() + Duration::from_millis(30), 65536);
            assert!(!d.passed(&c));
            std::thread::sleep(Duration::from_millis(40));
            assert!(d.passed(&c), "{timing:?}");
        }
    }

    #[test]
    fn timed_deadline_goes_by_the_latest_call_start() {
        let (mut c, mut peer) = conn();
        let mut d = Deadline::new(&c, Instant::now() + Duration::from_millis(30), 1024);
        std::thread::sleep(Duration::from_millis(40));
        // No call since the connection was made: its start is before the deadline.
        assert!(!d.passed(&c));
        c.send_all(b"x").expect("send");
        assert!(d.passed(&c), "the call started after the deadline");
        let mut got = [0u8; 1];
        std::io::Read::read_exact(&mut peer, &mut got).expect("read");
        assert_eq!(c.calls.sendto, 1);
        assert!(c.take_latency().is_some());
        c.set_call_timing(CallTiming::Off);
        assert!(
            c.take_latency().is_none(),
            "untimed: no latency, not an empty one"
        );
    }
}
