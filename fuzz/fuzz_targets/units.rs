//! Sizes and durations as users type them: never a panic, and a size that parses prints
//! back (format_size) to the same number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy::units::{format_size, parse_duration, parse_size};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = parse_size(text) {
        assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{text:?}");
    }
    if let Ok(d) = parse_duration(text) {
        // Whole milliseconds print and parse back exactly.
        let ms = d.as_millis();
        if ms < u128::from(u32::MAX) {
            let again = parse_duration(&format!("{ms}ms")).expect("ms reparse");
            assert_eq!(again.as_millis(), ms, "{text:?}");
        }
    }
});
