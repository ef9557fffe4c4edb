//! The processes traced: by tgid, by command name or by cgroup (v2 id), in the `TARGET_*`
//! maps that user space fills before tracing starts. A thread is a target if any map names
//! it; the comm and cgroup maps are looked up only when the config word says they have
//! entries.

use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::map,
    maps::HashMap,
};
use netcopy_common::{
    config::{BY_CGROUP, BY_COMM},
    maps::MAX_TARGETS,
    targets::COMM_LEN,
};

use crate::config::config;

#[map]
static TARGET_TGIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TARGETS, 0);

#[map]
static TARGET_COMMS: HashMap<[u8; COMM_LEN], u8> = HashMap::with_max_entries(MAX_TARGETS, 0);

#[map]
static TARGET_CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(MAX_TARGETS, 0);

/// `(tgid, tid)` of the current thread if it is traced.
#[inline(always)]
pub fn current_target() -> Option<(u32, u32)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let ids = Some((tgid, pid_tgid as u32));
    // SAFETY (all three maps): the values are plain u8 and only read.
    if unsafe { TARGET_TGIDS.get(&tgid) }.is_some() {
        return ids;
    }
    // Every process's socket and read/write calls come through here: skip the lookups
    // no target asked for.
    let config = config();
    if config & BY_COMM != 0
        && let Ok(comm) = bpf_get_current_comm()
        && unsafe { TARGET_COMMS.get(&comm) }.is_some()
    {
        return ids;
    }
    // SAFETY: a helper without arguments.
    if config & BY_CGROUP != 0
        && unsafe { TARGET_CGROUPS.get(&bpf_get_current_cgroup_id()) }.is_some()
    {
        return ids;
    }
    None
}
