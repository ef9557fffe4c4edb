//! Ring-buffer items as user space decodes them: any bytes give records or a "malformed"
//! count, never a panic or a read past the item.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy::collect::records::{Collected, batch_records};
use netcopy_common::syscalls::{BATCH_RECORDS, SyscallRecord};

fuzz_target!(|data: &[u8]| {
    let mut collected = Collected::default();
    match batch_records(data) {
        Some(records) => {
            let mut n = 0;
            for bytes in records {
                assert_eq!(bytes.len(), std::mem::size_of::<SyscallRecord>());
                let _ = collected.decode(bytes);
                n += 1;
            }
            assert!(n <= BATCH_RECORDS);
        }
        None => {
            let _ = collected.decode(data);
        }
    }
    assert!(collected.malformed <= (BATCH_RECORDS + 1) as u64);
    assert!(collected.by_thread.len() <= BATCH_RECORDS);
});
