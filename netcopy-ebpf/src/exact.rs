//! Exact tier (where the kernel allows BPF trampolines): fentry on the stage functions.
//!
//! Hook: `fentry/tcp_sendmsg_locked`. Numbers: `EXACT_PROBE[0]`, calls seen. So far this only
//! tells user space whether trampolines load on this kernel; the per-call stage timing that
//! would use them is not built yet, and stage times come from sampling everywhere.

use aya_ebpf::{
    macros::{fentry, map},
    maps::PerCpuArray,
    programs::FEntryContext,
};

#[map]
static EXACT_PROBE: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[fentry(function = "tcp_sendmsg_locked")]
pub fn fentry_tcp_sendmsg_locked(_ctx: FEntryContext) -> u32 {
    if let Some(n) = EXACT_PROBE.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, written only by this CPU.
        unsafe { *n += 1 };
    }
    0
}
