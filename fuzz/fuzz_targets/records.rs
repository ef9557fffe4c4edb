//! A record ring's positions as user space reads them from memory the kernel writes: any
//! positions give a span within one ring, or a count of records given up on, never a read
//! of more than a ring.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy::probes::rings::span;

fuzz_target!(|data: &[u8]| {
    let word = |at: usize| {
        data.get(at..at + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    let (head, tail) = (word(0), word(8));
    let slots = 1u32 << (data.get(16).copied().unwrap_or(0) % 32);
    let (from, count, given_up) = span(head, tail, slots);
    assert!(count <= u64::from(slots));
    if count > 0 {
        assert_eq!(from, tail);
        assert_eq!(from.wrapping_add(count), head);
        assert_eq!(given_up, 0);
    } else {
        assert_eq!(from, head);
    }
    assert!(given_up <= head.wrapping_sub(tail));
});
