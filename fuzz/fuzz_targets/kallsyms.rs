//! /proc/kallsyms text: parsed or refused, never a panic; every address resolves to a
//! symbol that was in the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy::collect::kallsyms::Kallsyms;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(k) = Kallsyms::parse(text) else {
        return;
    };
    for probe in [0, 1, u64::MAX, 0xffff_ffff_8100_0000] {
        if let Some(name) = k.resolve(probe) {
            assert!(text.contains(name));
            assert!(k.address_of(name).is_some());
        }
    }
});
