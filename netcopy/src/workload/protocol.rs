//! The few bytes netcopy's client and server exchange before the data: the client's hello
//! says what to send and for how long, the server's ack accepts or refuses it. After the ack
//! the server sends fixed-size messages until its deadline and then closes its side.
//!
//! Every field is little-endian and checked before it is used: nothing read from the wire
//! sizes an allocation without the [`MAX_SIZE`] bound.

use std::time::Duration;

use thiserror::Error;

use super::timing::CallTiming;
use crate::{model::Mode, units::MAX_SIZE};

const MAGIC: u32 = u32::from_le_bytes(*b"NCPY");
const VERSION: u16 = 1;
/// The longest run a hello may ask for.
const MAX_RUN: Duration = Duration::from_secs(24 * 3600);

pub const HELLO_LEN: usize = 48;
pub const ACK_LEN: usize = 8;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("peer is not a netcopy client or server (bad magic {0:#010x})")]
    BadMagic(u32),
    #[error("peer speaks netcopy protocol version {0}, this build speaks {VERSION}")]
    Version(u16),
    #[error("unknown copy mode {0} in hello")]
    Mode(u8),
    #[error("message size {0} in hello is outside 8 B ..= 1 GiB")]
    Size(u64),
    #[error("hello asks for a run longer than 24 h")]
    TooLong,
    #[error("unknown call timing {0:#04x} in hello")]
    Timing(u8),
    #[error("server refused the hello: {0}")]
    Refused(AckStatus),
}

/// What the client asks the server to do on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub mode: Mode,
    pub size: u64,
    /// Time before the measurement window starts.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
    /// Extra sending time after the window so that the receiver's window is always full.
    pub tail: Duration,
    /// Connections in this session and this one's index.
    pub conns: u32,
    pub index: u32,
    /// Random id shared by the connections of one client run.
    pub session: u64,
    /// Which of its data calls the server times (byte 7, [`CallTiming::to_wire`]: a client
    /// from before sampling sends 0 for every call and 1 for `--no-latency`).
    pub timing: CallTiming,
}

impl Hello {
    /// How long the server sends.
    pub fn send_time(&self) -> Duration {
        self.warmup + self.duration + self.tail
    }

    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..6].copy_from_slice(&VERSION.to_le_bytes());
        b[6] = self.mode as u8;
        b[7] = self.timing.to_wire();
        b[8..16].copy_from_slice(&self.size.to_le_bytes());
        b[16..24].copy_from_slice(&millis(self.warmup).to_le_bytes());
        b[24..32].copy_from_slice(&millis(self.duration).to_le_bytes());
        b[32..36].copy_from_slice(&(millis(self.tail) as u32).to_le_bytes());
        b[36..38].copy_from_slice(&(self.conns as u16).to_le_bytes());
        b[38..40].copy_from_slice(&(self.index as u16).to_le_bytes());
        b[40..48].copy_from_slice(&self.session.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; HELLO_LEN]) -> Result<Self, ProtocolError> {
        let magic = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC {
            return Err(ProtocolError::BadMagic(magic));
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version != VERSION {
            return Err(ProtocolError::Version(version));
        }
        let mode = Mode::from_wire(b[6]).ok_or(ProtocolError::Mode(b[6]))?;
        let size = u64_at(b, 8);
        if !(8..=MAX_SIZE).contains(&size) {
            return Err(ProtocolError::Size(size));
        }
        let timing = CallTiming::from_wire(b[7]).ok_or(ProtocolError::Timing(b[7]))?;
        let warmup = Duration::from_millis(u64_at(b, 16));
        let duration = Duration::from_millis(u64_at(b, 24));
        let tail =
            Duration::from_millis(u64::from(u32::from_le_bytes([b[32], b[33], b[34], b[35]])));
        // Each part is checked on its own so that the sum cannot overflow.
        if [warmup, duration, tail].iter().any(|d| *d > MAX_RUN)
            || warmup + duration + tail > MAX_RUN
        {
            return Err(ProtocolError::TooLong);
        }
        Ok(Self {
            mode,
            size,
            warmup,
            duration,
            tail,
            conns: u32::from(u16::from_le_bytes([b[36], b[37]])),
            index: u32::from(u16::from_le_bytes([b[38], b[39]])),
            session: u64_at(b, 40),
            timing,
        })
    }
}

/// The server's answer to a hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum AckStatus {
    Ok = 0,
    BadHello = 1,
    Busy = 2,
    Unsupported = 3,
}

impl std::fmt::Display for AckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AckStatus::Ok => "ok",
            AckStatus::BadHello => "the server could not accept the hello (see the server's log)",
            AckStatus::Busy => "the server has too many connections",
            AckStatus::Unsupported => {
                "the server cannot use this copy mode (its log says why: io_uring off or too old?)"
            }
        })
    }
}

pub fn encode_ack(status: AckStatus) -> [u8; ACK_LEN] {
    let mut b = [0u8; ACK_LEN];
    b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&(status as u32).to_le_bytes());
    b
}

pub fn decode_ack(b: &[u8; ACK_LEN]) -> Result<(), ProtocolError> {
    let magic = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if magic != MAGIC {
        return Err(ProtocolError::BadMagic(magic));
    }
    match u32::from_le_bytes([b[4], b[5], b[6], b[7]]) {
        0 => Ok(()),
        2 => Err(ProtocolError::Refused(AckStatus::Busy)),
        3 => Err(ProtocolError::Refused(AckStatus::Unsupported)),
        _ => Err(ProtocolError::Refused(AckStatus::BadHello)),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Hello {
        Hello {
            mode: Mode::Zerocopy,
            size: 65536,
            warmup: Duration::from_millis(1000),
            duration: Duration::from_secs(10),
            tail: Duration::from_millis(300),
            conns: 4,
            index: 3,
            session: 0xdead_beef_1234,
            timing: CallTiming::EVERY_CALL,
        }
    }

    #[test]
    fn hello_round_trips() {
        let h = hello();
        assert_eq!(Hello::decode(&h.encode()), Ok(h.clone()));
        assert_eq!(h.send_time(), Duration::from_millis(11_300));
        for timing in [
            CallTiming::Off,
            CallTiming::OneIn(16),
            CallTiming::OneIn(1024),
        ] {
            let h = Hello { timing, ..hello() };
            assert_eq!(Hello::decode(&h.encode()), Ok(h));
        }
        // Builds from before sampling: 0 asked for every call, 1 for none.
        assert_eq!(hello().encode()[7], 0);
        let h = Hello {
            timing: CallTiming::Off,
            ..hello()
        };
        assert_eq!(h.encode()[7], 1);
    }

    #[test]
    fn hostile_hellos_are_refused() {
        let mut b = hello().encode();
        b[0] = b'X';
        assert!(matches!(Hello::decode(&b), Err(ProtocolError::BadMagic(_))));

        let mut b = hello().encode();
        b[6] = 9;
        assert_eq!(Hello::decode(&b), Err(ProtocolError::Mode(9)));

        let mut b = hello().encode();
        b[8..16].copy_from_slice(&(MAX_SIZE + 1).to_le_bytes());
        assert_eq!(Hello::decode(&b), Err(ProtocolError::Size(MAX_SIZE + 1)));

        let mut b = hello().encode();
        b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Hello::decode(&b), Err(ProtocolError::TooLong));

        let mut b = hello().encode();
        b[7] = 0xff;
        assert_eq!(Hello::decode(&b), Err(ProtocolError::Timing(0xff)));

        let mut b = hello().encode();
        b[4] = 2;
        assert_eq!(Hello::decode(&b), Err(ProtocolError::Version(2)));
    }

    #[test]
    fn acks_round_trip() {
        assert_eq!(decode_ack(&encode_ack(AckStatus::Ok)), Ok(()));
        assert_eq!(
            decode_ack(&encode_ack(AckStatus::Busy)),
            Err(ProtocolError::Refused(AckStatus::Busy))
        );
        assert!(decode_ack(&[0; ACK_LEN]).is_err());
    }
}
