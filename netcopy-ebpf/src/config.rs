//! The `CONFIG` array: the word of what user space switched on (`netcopy_common::config`
//! bits), read by every program, and the `--records tail` thresholds.

use aya_ebpf::{macros::map, maps::Array};
use netcopy_common::config::{ENTRIES, WORD};

#[map]
static CONFIG: Array<u32> = Array::with_max_entries(ENTRIES, 0);

/// The config word (0 until user space sets it).
#[inline(always)]
pub fn config() -> u32 {
    config_at(WORD)
}

/// Entry `index` of `CONFIG` (`netcopy_common::config`'s indices).
#[inline(always)]
pub fn config_at(index: u32) -> u32 {
    CONFIG.get(index).copied().unwrap_or(0)
}
