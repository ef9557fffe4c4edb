//! The sampling family: kernel stacks of target threads inside a traced call.
//!
//! Hook: a `perf_event` program on the software CPU clock, one per CPU.
//! Numbers: `SAMPLES[{tid, kind, stack_id}]`, samples per thread, syscall kind and kernel
//! stack (ids into the `STACKS` stack-trace map), aggregated in the kernel.

/// Hash map [`SampleKey`] -> sample count.
pub const SAMPLES_MAP: &str = "SAMPLES";
/// Stack-trace map of the sampled kernel stacks.
pub const STACKS_MAP: &str = "STACKS";
/// Distinct stacks kept.
pub const MAX_STACKS: u32 = 16384;
/// Distinct (thread, kind, stack) keys kept.
pub const MAX_SAMPLE_KEYS: u32 = 65536;

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

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with explicit padding, valid for any bytes.
unsafe impl aya::Pod for SampleKey {}
