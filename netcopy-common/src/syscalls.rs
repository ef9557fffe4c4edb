//! Per-thread syscall counters kept in the kernel.
//!
//! Hooks: `syscalls:sys_enter_sendmsg`, `syscalls:sys_enter_sendto` (classic tracepoints).
//! Numbers: how many times each target thread entered each send syscall.

/// Name of the hash map from tgid to [`TARGET_PRESENT`] that selects the processes to count.
pub const TARGET_TGIDS_MAP: &str = "TARGET_TGIDS";
/// Name of the hash map from tid to [`SendCounts`].
pub const SEND_COUNTS_MAP: &str = "SEND_COUNTS";

/// Value stored in the target map for a tgid that is traced.
pub const TARGET_PRESENT: u8 = 1;
/// Capacity of the target map: processes traced at once.
pub const MAX_TARGETS: u32 = 1024;
/// Capacity of the per-thread counter map.
pub const MAX_THREADS: u32 = 16384;

/// Send syscalls entered by one thread, counted in the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendCounts {
    /// Entries into `sendmsg(2)`.
    pub sendmsg: u64,
    /// Entries into `sendto(2)` (what `send(2)` becomes).
    pub sendto: u64,
}

/// Which counter a tracepoint bumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendSyscall {
    Sendmsg,
    Sendto,
}

impl SendCounts {
    /// The counter that `syscall` adds to.
    #[inline(always)]
    pub fn slot(&mut self, syscall: SendSyscall) -> &mut u64 {
        match syscall {
            SendSyscall::Sendmsg => &mut self.sendmsg,
            SendSyscall::Sendto => &mut self.sendto,
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: `SendCounts` is `repr(C)`, made only of `u64`s, with no padding.
unsafe impl aya::Pod for SendCounts {}
