//! The sampling family: kernel stacks of target threads inside a traced call.
//!
//! Hook: a `perf_event` program on the software CPU clock, one per CPU.
//! Numbers: `SAMPLES[{tid, kind, stack_id}]`, samples per thread, syscall kind and kernel
//! stack (ids into the `STACKS` stack-trace map), aggregated in the kernel.

use crate::layout;

/// What one sample is counted under.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleKey {
    pub tid: u32,
    /// Id in `STACKS`, or the negative error bpf_get_stackid returned.
    pub stack_id: i32,
    /// The [`crate::syscalls::SyscallKind`] of the call in flight.
    pub kind: u8,
    pub _pad: [u8; 7],
}
layout!(SampleKey, 16, stack_id @ 4, kind @ 8);

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with explicit padding, valid for any bytes.
unsafe impl aya::Pod for SampleKey {}
