//! Folded stacks (the fixture format) parsed and classified: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy::collect::stages::{classify, parse_folded};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lines) = parse_folded(text) {
        for line in &lines {
            let _ = classify(&line.frames);
        }
    }
});
