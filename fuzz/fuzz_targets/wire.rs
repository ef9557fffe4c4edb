//! The handshake a server reads from anyone who connects: a hello that decodes encodes back
//! to a hello that decodes the same, with its size and times inside netcopy's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy::{
    units::MAX_SIZE,
    workload::protocol::{ACK_LEN, HELLO_LEN, Hello, decode_ack},
};

fuzz_target!(|data: &[u8]| {
    if let Some(raw) = data
        .get(..HELLO_LEN)
        .and_then(|b| <&[u8; HELLO_LEN]>::try_from(b).ok())
    {
        if let Ok(hello) = Hello::decode(raw) {
            assert!((8..=MAX_SIZE).contains(&hello.size));
            assert!(hello.send_time() <= std::time::Duration::from_secs(24 * 3600));
            assert_eq!(Hello::decode(&hello.encode()).as_ref(), Ok(&hello));
        }
    }
    if let Some(raw) = data
        .get(..ACK_LEN)
        .and_then(|b| <&[u8; ACK_LEN]>::try_from(b).ok())
    {
        let _ = decode_ack(raw);
    }
});
