//! The `CONFIG` word: what user space switched on (`netcopy_common::config` bits), read by
//! every program.

use aya_ebpf::{macros::map, maps::Array};

#[map]
static CONFIG: Array<u32> = Array::with_max_entries(1, 0);

/// The config word (0 until user space sets it).
#[inline(always)]
pub fn config() -> u32 {
    CONFIG.get(0).copied().unwrap_or(0)
}
