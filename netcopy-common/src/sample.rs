//! The sampling family: kernel stacks of target threads inside a traced call.
//!
//! Hook: a `perf_event` program on the software CPU clock, one per CPU.
//! Numbers: one [`StackSample`] per sample through the `SAMPLE_RING` ring buffer (its
//! thread, syscall kind and whole kernel stack), counted in user space per
//! [`SampleKey`]; `SAMPLE_LOST` counts, per CPU, the samples the ring had no room for.

use crate::layout;

/// Frames a sample keeps at most: the kernel's `perf_event_max_stack` default (127), and one
/// more so that [`StackSample`] is a power of two of frames.
pub const SAMPLE_FRAMES: usize = 128;
/// Bytes of a [`StackSample`] before its frames.
pub const SAMPLE_HEADER: usize = 16;
/// Bytes of frames a sample can carry, as a mask: the programs cut the length bpf_get_stack
/// returns with it, which the verifier needs to bound the bytes sent.
pub const SAMPLE_FRAME_MASK: usize = 8 * SAMPLE_FRAMES - 1;
/// Size of the sample ring buffer (a power of two pages). A sample of a 10-frame stack is
/// 96 bytes, so at the default 499 Hz on 2 CPUs this holds 40 s, and user space reads it
/// every 50 ms.
pub const SAMPLE_RING_BYTES: u32 = 4 << 20;

/// One sample as the sampler sends it: this header and the first `len` bytes of `frames`
/// (instruction pointers, innermost first). Built in a per-CPU slot (`SAMPLE_BUF`): it is
/// too big for the program's stack.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StackSample {
    pub tid: u32,
    /// The [`crate::syscalls::SyscallKind`] of the call in flight.
    pub kind: u8,
    pub _pad: [u8; 3],
    /// Bytes of `frames` that bpf_get_stack filled, or the negative error it returned.
    pub len: i32,
    pub _pad2: u32,
    pub frames: [u64; SAMPLE_FRAMES],
}
layout!(StackSample, SAMPLE_HEADER + 8 * SAMPLE_FRAMES, kind @ 4, len @ 8, frames @ SAMPLE_HEADER);

/// What one sample is counted under in user space.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleKey {
    pub tid: u32,
    /// The stack's id in the reader's table of distinct stacks, or the negative error of a
    /// sample without one (bpf_get_stack failed, or the ring was full).
    pub stack_id: i32,
    /// The [`crate::syscalls::SyscallKind`] of the call in flight.
    pub kind: u8,
    pub _pad: [u8; 7],
}
layout!(SampleKey, 16, stack_id @ 4, kind @ 8);

/// A sample read back from the ring: thread, kind, and its frames or the error that left it
/// without them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadSample<'a> {
    pub tid: u32,
    pub kind: u8,
    pub frames: Result<Frames<'a>, i32>,
}

/// A sample's frames, as the ring holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frames<'a>(&'a [u8]);

impl<'a> Frames<'a> {
    /// The instruction pointers, innermost first.
    pub fn ips(self) -> impl Iterator<Item = u64> + 'a {
        self.0
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
    }
}

impl<'a> ReadSample<'a> {
    /// Parse one ring item; `None` when the bytes are not a sample (shorter than a header,
    /// or a length the bytes do not hold).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let word = |at: usize| -> Option<[u8; 4]> { bytes.get(at..at + 4)?.try_into().ok() };
        let tid = u32::from_ne_bytes(word(0)?);
        let kind = *bytes.get(4)?;
        let len = i32::from_ne_bytes(word(8)?);
        let frames = if len <= 0 {
            Err(if len == 0 { -ENODATA } else { len })
        } else {
            let len = len as usize;
            if !len.is_multiple_of(8) || len > 8 * SAMPLE_FRAMES {
                return None;
            }
            Ok(Frames(bytes.get(SAMPLE_HEADER..SAMPLE_HEADER + len)?))
        };
        Some(Self { tid, kind, frames })
    }
}

/// ENODATA: the error of a stack of no frames (the kernel's unwinder gave none).
const ENODATA: i32 = 61;

#[cfg(test)]
mod tests {
    extern crate std;
    use std::{vec, vec::Vec};

    use super::*;

    fn ips(s: ReadSample<'_>) -> Result<Vec<u64>, i32> {
        s.frames.map(|f| f.ips().collect())
    }

    fn item(tid: u32, kind: u8, len: i32, frames: &[u64]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(tid.to_ne_bytes());
        v.extend([kind, 0, 0, 0]);
        v.extend(len.to_ne_bytes());
        v.extend([0; 4]);
        for f in frames {
            v.extend(f.to_ne_bytes());
        }
        v
    }

    #[test]
    fn a_sample_parses_to_its_frames_innermost_first() {
        let bytes = item(7, 3, 16, &[0xffff_0001, 0xffff_0002]);
        let s = ReadSample::parse(&bytes).unwrap();
        assert_eq!((s.tid, s.kind), (7, 3));
        assert_eq!(ips(s), Ok(vec![0xffff_0001, 0xffff_0002]));
    }

    #[test]
    fn a_failed_walk_keeps_its_error_and_an_empty_one_is_enodata() {
        assert_eq!(
            ips(ReadSample::parse(&item(7, 1, -14, &[])).unwrap()),
            Err(-14)
        );
        assert_eq!(
            ips(ReadSample::parse(&item(7, 1, 0, &[])).unwrap()),
            Err(-61)
        );
    }

    #[test]
    fn bytes_that_are_not_a_sample_are_refused() {
        // Shorter than its header; a length past its bytes; a length not of whole frames;
        // a length past the most frames a sample holds.
        assert_eq!(ReadSample::parse(&[0; 10]), None);
        assert_eq!(ReadSample::parse(&item(7, 1, 24, &[1, 2])), None);
        assert_eq!(ReadSample::parse(&item(7, 1, 12, &[1, 2])), None);
        let many = vec![1u64; SAMPLE_FRAMES + 1];
        assert_eq!(
            ReadSample::parse(&item(7, 1, (8 * many.len()) as i32, &many)),
            None
        );
    }
}
