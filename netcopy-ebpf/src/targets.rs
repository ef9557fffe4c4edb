//! The processes traced: a map of tgids that user space fills before the workload starts.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::map, maps::HashMap};
use netcopy_common::syscalls::MAX_TARGETS;

#[map]
static TARGET_TGIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TARGETS, 0);

/// `(tgid, tid)` of the current thread if its process is traced.
#[inline(always)]
pub fn current_target() -> Option<(u32, u32)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // SAFETY: the value is a plain u8 and is only read.
    unsafe { TARGET_TGIDS.get(&tgid) }?;
    Some((tgid, pid_tgid as u32))
}
