//! The BTF reader netcopy uses on /sys/kernel/btf/vmlinux: any bytes give an offset or an
//! error, never a panic or an endless walk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcopy::probes::btf::member_offset;

fuzz_target!(|data: &[u8]| {
    let _ = member_offset(data, "task_struct", "pid");
});
