//! The bits of the one-word `CONFIG` array, which user space sets before and during a trace
//! and every program reads.

/// Fold calls into [`crate::aggregate::Aggregate`]s in the kernel, emit no records.
pub const AGGREGATE: u32 = 1;
/// `TARGET_COMMS` has entries (otherwise the comm is not looked up).
pub const BY_COMM: u32 = 2;
/// `TARGET_CGROUPS` has entries.
pub const BY_CGROUP: u32 = 4;
/// `CYCLES` and `INSTRUCTIONS` hold a counter per CPU; read them.
pub const COUNTERS: u32 = 8;
/// The exact tier's fentry/fexit programs are attached.
pub const EXACT: u32 = 16;
/// The trace is ending: no new call starts, none is counted or recorded, so the per-CPU
/// batches can be read without racing a flush.
pub const PAUSED: u32 = 32;
