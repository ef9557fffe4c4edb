//! The message: 8 separately allocated fields of `size/8` bytes (the seed report's layout),
//! filled with a position-dependent pattern and stamped with a sequence number so the
//! receiver can check every byte of every message.
//!
//! Logical layout (as the bytes travel on the wire): field 0, field 1, ..., field 7. The first
//! 8 logical bytes hold the message's sequence number (little-endian); every other byte at
//! logical offset `i` is [`pattern_byte`]`(i)`.

use thiserror::Error;

/// Fields per message, as in the seed.
pub const FIELDS: usize = 8;
/// Bytes of the sequence-number header at the start of every message.
pub const SEQ_BYTES: usize = 8;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MessageError {
    #[error("message size {0} is too small: it needs at least {min} bytes", min = SEQ_BYTES)]
    TooSmall(usize),
    #[error(
        "message {seq}: byte {offset} is {got:#04x}, expected {want:#04x} (corrupted or misframed)"
    )]
    Content {
        seq: u64,
        offset: usize,
        got: u8,
        want: u8,
    },
    #[error("message {got} arrived where message {want} was expected (lost or reordered)")]
    Sequence { got: u64, want: u64 },
}

/// The byte expected at logical offset `offset` outside the header: a multiplicative hash,
/// so a shift, a repeated chunk or a swapped field shows up as a mismatch.
#[inline]
pub fn pattern_byte(offset: usize) -> u8 {
    ((offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Field sizes and offsets for one message size. The first `size % 8` fields get one extra
/// byte, so any size of at least 8 bytes splits into 8 fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    size: usize,
    lens: [usize; FIELDS],
    offsets: [usize; FIELDS],
}

impl Layout {
    pub fn new(size: usize) -> Result<Self, MessageError> {
        if size < SEQ_BYTES {
            return Err(MessageError::TooSmall(size));
        }
        let mut lens = [size / FIELDS; FIELDS];
        for len in lens.iter_mut().take(size % FIELDS) {
            *len += 1;
        }
        let mut offsets = [0; FIELDS];
        for i in 1..FIELDS {
            offsets[i] = offsets[i - 1] + lens[i - 1];
        }
        Ok(Self {
            size,
            lens,
            offsets,
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn field_len(&self, field: usize) -> usize {
        self.lens[field]
    }

    pub fn field_offset(&self, field: usize) -> usize {
        self.offsets[field]
    }
}

/// One message: 8 heap allocations, as an application with 8 separate fields would have.
pub struct Message {
    fields: [Box<[u8]>; FIELDS],
}

impl Message {
    /// A message filled with the pattern and sequence number 0.
    pub fn new(layout: &Layout) -> Self {
        let fields = std::array::from_fn(|f| {
            let off = layout.field_offset(f);
            (0..layout.field_len(f))
                .map(|i| pattern_byte(off + i))
                .collect::<Box<[u8]>>()
        });
        let mut message = Self { fields };
        message.set_seq(0);
        message
    }

    /// A zeroed message, for receivers.
    pub fn zeroed(layout: &Layout) -> Self {
        Self {
            fields: std::array::from_fn(|f| vec![0u8; layout.field_len(f)].into_boxed_slice()),
        }
    }

    pub fn fields(&self) -> &[Box<[u8]>; FIELDS] {
        &self.fields
    }

    pub fn fields_mut(&mut self) -> &mut [Box<[u8]>; FIELDS] {
        &mut self.fields
    }

    /// Write `seq` into the header (the first 8 logical bytes, which may span fields).
    pub fn set_seq(&mut self, seq: u64) {
        let bytes = seq.to_le_bytes();
        let mut at = 0;
        for field in self.fields.iter_mut() {
            let n = (SEQ_BYTES - at).min(field.len());
            field[..n].copy_from_slice(&bytes[at..at + n]);
            at += n;
            if at == SEQ_BYTES {
                break;
            }
        }
    }

    /// Read the header back.
    pub fn seq(&self) -> u64 {
        let mut bytes = [0u8; SEQ_BYTES];
        let mut at = 0;
        for field in &self.fields {
            let n = (SEQ_BYTES - at).min(field.len());
            bytes[at..at + n].copy_from_slice(&field[..n]);
            at += n;
            if at == SEQ_BYTES {
                break;
            }
        }
        u64::from_le_bytes(bytes)
    }

    /// twocopy's extra copy: the 8 fields into one contiguous buffer of the message's size.
    pub fn serialize_into(&self, buf: &mut [u8]) {
        let mut at = 0;
        for field in &self.fields {
            buf[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
    }

    /// The receiver's side of twocopy: one contiguous buffer back into 8 fields.
    pub fn deserialize_from(&mut self, buf: &[u8]) {
        let mut at = 0;
        for field in self.fields.iter_mut() {
            let len = field.len();
            field.copy_from_slice(&buf[at..at + len]);
            at += len;
        }
    }

    /// One `iovec` per field, for `sendmsg`/`recvmsg`.
    pub fn iovecs(&mut self) -> [libc::iovec; FIELDS] {
        std::array::from_fn(|f| libc::iovec {
            iov_base: self.fields[f].as_mut_ptr().cast(),
            iov_len: self.fields[f].len(),
        })
    }
}

/// The first byte where `got` (at message offset `offset`) differs from `want`.
fn mismatch(seq: u64, offset: usize, got: &[u8], want: &[u8]) -> MessageError {
    let i = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or_default();
    MessageError::Content {
        seq,
        offset: offset + i,
        got: got[i],
        want: want[i],
    }
}

/// Checks received messages against the pattern, with a precomputed copy of the expected
/// bytes so the check is a memory compare.
pub struct Verifier {
    expected: Box<[u8]>,
    next_seq: u64,
}

impl Verifier {
    pub fn new(layout: &Layout) -> Self {
        Self {
            expected: (0..layout.size()).map(pattern_byte).collect(),
            next_seq: 1,
        }
    }

    /// Check a message's bytes and that it is the next in sequence (senders start at 1).
    pub fn check(&mut self, message: &Message) -> Result<(), MessageError> {
        let seq = message.seq();
        if seq != self.next_seq {
            return Err(MessageError::Sequence {
                got: seq,
                want: self.next_seq,
            });
        }
        let mut at = 0;
        for field in message.fields() {
            let skip = SEQ_BYTES.saturating_sub(at).min(field.len());
            let got = &field[skip..];
            let want = &self.expected[at + skip..at + field.len()];
            if got != want {
                return Err(mismatch(seq, at + skip, got, want));
            }
            at += field.len();
        }
        self.next_seq += 1;
        Ok(())
    }
}

/// Checks a stream of whole messages that arrives in pieces of any size, read where they
/// lie (the receiver that maps pages instead of copying into fields): each byte against the
/// pattern, and each message's header against the next sequence number.
pub struct StreamCheck {
    expected: Box<[u8]>,
    /// Offset in the current message.
    at: usize,
    header: [u8; SEQ_BYTES],
    next_seq: u64,
    verify: bool,
}

impl StreamCheck {
    /// A check of `layout`'s messages; without `verify` it only counts them.
    pub fn new(layout: &Layout, verify: bool) -> Self {
        Self {
            expected: (0..layout.size()).map(pattern_byte).collect(),
            at: 0,
            header: [0; SEQ_BYTES],
            next_seq: 1,
            verify,
        }
    }

    /// Whether the stream stands at a message boundary.
    pub fn at_boundary(&self) -> bool {
        self.at == 0
    }

    /// Take the next `bytes` of the stream; returns how many messages they completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<u64, MessageError> {
        let size = self.expected.len();
        let mut done = 0;
        while !bytes.is_empty() {
            let take = (size - self.at).min(bytes.len());
            let (chunk, rest) = bytes.split_at(take);
            let end = self.at + take;
            if self.verify {
                if self.at < SEQ_BYTES {
                    let h = SEQ_BYTES.min(end);
                    self.header[self.at..h].copy_from_slice(&chunk[..h - self.at]);
                }
                let from = SEQ_BYTES.max(self.at).min(end);
                let got = &chunk[from - self.at..];
                let want = &self.expected[from..end];
                if got != want {
                    return Err(mismatch(self.next_seq, from, got, want));
                }
            }
            self.at = end;
            bytes = rest;
            if self.at == size {
                let seq = u64::from_le_bytes(self.header);
                if self.verify && seq != self.next_seq {
                    return Err(MessageError::Sequence {
                        got: seq,
                        want: self.next_seq,
                    });
                }
                self.next_seq += 1;
                self.at = 0;
                done += 1;
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages 1..=n of `layout`, serialized back to back.
    fn stream(layout: &Layout, n: u64) -> Vec<u8> {
        let mut m = Message::new(layout);
        let mut out = vec![0u8; layout.size() * n as usize];
        for (i, chunk) in out.chunks_mut(layout.size()).enumerate() {
            m.set_seq(i as u64 + 1);
            m.serialize_into(chunk);
        }
        out
    }

    #[test]
    fn a_stream_checks_in_pieces_of_any_size() {
        for size in [8usize, 9, 1003, 4096] {
            let l = Layout::new(size).unwrap();
            let bytes = stream(&l, 5);
            for piece in [1usize, 3, 7, 8, 4096, 5000] {
                let mut c = StreamCheck::new(&l, true);
                let done: u64 = bytes.chunks(piece).map(|p| c.feed(p).unwrap()).sum();
                assert_eq!(done, 5, "size {size} piece {piece}");
                assert!(c.at_boundary());
            }
        }
    }

    #[test]
    fn a_stream_finds_corruption_and_a_missing_message() {
        let l = Layout::new(1024).unwrap();
        let mut bytes = stream(&l, 3);
        bytes[1024 + 100] ^= 1;
        let mut c = StreamCheck::new(&l, true);
        let err = bytes.chunks(300).find_map(|p| c.feed(p).err());
        assert!(
            matches!(
                err,
                Some(MessageError::Content {
                    seq: 2,
                    offset: 100,
                    ..
                })
            ),
            "{err:?}"
        );
        // Message 2 left out: message 3 arrives where 2 was expected.
        let whole = stream(&l, 3);
        let mut c = StreamCheck::new(&l, true);
        assert_eq!(c.feed(&whole[..1024]), Ok(1));
        assert_eq!(
            c.feed(&whole[2048..]),
            Err(MessageError::Sequence { got: 3, want: 2 })
        );
        // Without verify, only whole messages are counted.
        let mut c = StreamCheck::new(&l, false);
        assert_eq!(c.feed(&bytes[..1500]), Ok(1));
        assert!(!c.at_boundary());
    }

    #[test]
    fn layout_splits_into_eight_fields() {
        let l = Layout::new(65536).unwrap();
        assert!((0..FIELDS).all(|f| l.field_len(f) == 8192));
        assert_eq!(l.field_offset(7), 7 * 8192);

        let odd = Layout::new(1003).unwrap();
        let lens: Vec<usize> = (0..FIELDS).map(|f| odd.field_len(f)).collect();
        assert_eq!(lens, [126, 126, 126, 125, 125, 125, 125, 125]);
        assert_eq!(lens.iter().sum::<usize>(), 1003);
        assert_eq!(odd.field_offset(7) + odd.field_len(7), 1003);

        assert_eq!(Layout::new(7), Err(MessageError::TooSmall(7)));
    }

    #[test]
    fn fields_are_separate_allocations() {
        let l = Layout::new(1024).unwrap();
        let m = Message::new(&l);
        let ptrs: Vec<usize> = m.fields().iter().map(|f| f.as_ptr() as usize).collect();
        for (i, a) in ptrs.iter().enumerate() {
            for b in &ptrs[i + 1..] {
                // Not contiguous: no field starts right where the previous one ends.
                assert_ne!(a + 128, *b);
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn serialization_round_trips_and_verifies() {
        for size in [8usize, 9, 15, 1024, 1003, 65536] {
            let l = Layout::new(size).unwrap();
            let mut sent = Message::new(&l);
            sent.set_seq(1);
            let mut wire = vec![0u8; size];
            sent.serialize_into(&mut wire);
            let mut got = Message::zeroed(&l);
            got.deserialize_from(&wire);
            assert_eq!(got.seq(), 1, "size {size}");
            let mut v = Verifier::new(&l);
            v.check(&got).unwrap();
            // The next message must be number 2.
            assert_eq!(
                v.check(&got),
                Err(MessageError::Sequence { got: 1, want: 2 })
            );
        }
    }

    #[test]
    fn corruption_is_found_at_its_offset() {
        let l = Layout::new(4096).unwrap();
        let mut m = Message::new(&l);
        m.set_seq(1);
        m.fields_mut()[3][17] ^= 0x40;
        let err = Verifier::new(&l).check(&m).unwrap_err();
        match err {
            MessageError::Content { seq, offset, .. } => {
                assert_eq!((seq, offset), (1, 3 * 512 + 17));
            }
            other => panic!("wrong error {other:?}"),
        }
    }

    #[test]
    fn swapped_fields_are_found() {
        let l = Layout::new(1024).unwrap();
        let mut m = Message::new(&l);
        m.set_seq(1);
        m.fields_mut().swap(4, 5);
        assert!(matches!(
            Verifier::new(&l).check(&m),
            Err(MessageError::Content { .. })
        ));
    }

    #[test]
    fn header_spans_fields_for_tiny_messages() {
        let l = Layout::new(8).unwrap();
        let mut m = Message::new(&l);
        m.set_seq(0x0102_0304_0506_0708);
        assert_eq!(m.seq(), 0x0102_0304_0506_0708);
        assert_eq!(*m.fields()[0], [0x08]);
    }
}
