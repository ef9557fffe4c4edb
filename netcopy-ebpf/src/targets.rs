//! The processes traced: by tgid, by command name or by cgroup (v2 id), in the `TARGET_*`
//! maps that user space fills before tracing starts. A thread is a target if any map names
//! it, or the config word says every process is; the comm and cgroup maps are looked up only when the config word says they have
//! entries. Also the current thread's ids, read with one helper call and passed on.

use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::map,
    maps::HashMap,
};
use netcopy_common::{
    config::{ALL_TASKS, BY_CGROUP, BY_COMM},
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

/// The current thread's ids, from one helper call (a program asks once and passes them on).
#[derive(Clone, Copy)]
pub struct Ids {
    pub tgid: u32,
    pub tid: u32,
}

#[inline(always)]
pub fn current_ids() -> Ids {
    let pid_tgid = bpf_get_current_pid_tgid();
    Ids {
        tgid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
    }
}

/// Whether the current thread (`ids`) is traced.
#[inline(always)]
pub fn is_target(ids: Ids) -> bool {
    // SAFETY (all three maps): the values are plain u8 and only read.
    if unsafe { TARGET_TGIDS.get(&ids.tgid) }.is_some() {
        return true;
    }
    // Every process's socket and read/write calls come through here: skip the lookups
    // no target asked for.
    let config = config();
    if config & ALL_TASKS != 0 {
        return true;
    }
    if config & BY_COMM != 0
        && let Ok(comm) = bpf_get_current_comm()
        && unsafe { TARGET_COMMS.get(&comm) }.is_some()
    {
        return true;
    }
    // SAFETY: a helper without arguments.
    config & BY_CGROUP != 0 && unsafe { TARGET_CGROUPS.get(&bpf_get_current_cgroup_id()) }.is_some()
}
