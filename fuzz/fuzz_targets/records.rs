//! Ring-buffer items as user space decodes them: any bytes give records or "not a batch",
//! never a panic or a read past the item, and never more records than a batch holds; and
//! as a stack sample, whose frames never outrun the item or a sample's most frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy_common::{
    batch::{MAX_BATCH_RECORDS, batch_records},
    sample::{ReadSample, SAMPLE_FRAMES, SAMPLE_HEADER},
    syscalls::HEAD_BYTES,
};

fuzz_target!(|data: &[u8]| {
    let mut n = 0;
    let mut bytes = 0;
    let batch = batch_records(data, |r| {
        n += 1;
        bytes += r.wire_bytes();
    });
    assert!(n <= MAX_BATCH_RECORDS);
    assert!(bytes <= data.len());
    if let Ok(count) = batch {
        assert_eq!(count, n);
        assert!(n * HEAD_BYTES <= bytes);
    }
    if let Some(Ok(frames)) = ReadSample::parse(data).map(|s| s.frames) {
        let n = frames.ips().count();
        assert!(n >= 1 && n <= SAMPLE_FRAMES);
        assert!(SAMPLE_HEADER + 8 * n <= data.len());
    }
});
