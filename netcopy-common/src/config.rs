//! The `CONFIG` array, which user space sets before and during a trace and every program
//! reads: the config word (these bits) at [`WORD`], and the thresholds of `--records tail`.

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
/// With [`AGGREGATE`]: also record the calls of the tail (failed, blocked, slower than
/// [`TAIL_SLOW_NS`], or every [`TAIL_EVERY`]th of its thread and kind); `--records tail`.
pub const TAIL: u32 = 64;
/// The bracket programs (softirq and device-transmit tracepoints) are attached: the records'
/// bracketed times are measured (see [`crate::call::NetCounts`]).
pub const BRACKETS: u32 = 128;
/// Every process is a target (`netcopy top` without --pid/--comm/--cgroup).
pub const ALL_TASKS: u32 = 256;

/// Index of the config word in `CONFIG`.
pub const WORD: u32 = 0;
/// Index of the `--records tail` slow-call threshold, ns (0: none).
pub const TAIL_SLOW_NS: u32 = 1;
/// Index of the `--records tail` sampling interval: every Nth call of a thread and kind is
/// recorded (0: none).
pub const TAIL_EVERY: u32 = 2;
/// Entries of `CONFIG`.
pub const ENTRIES: u32 = 3;
