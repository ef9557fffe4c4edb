//! The name of every map and global of the eBPF object, and the capacities of the maps. The
//! eBPF crate names its statics with these words; a test of `netcopy` checks the embedded
//! object's maps against [`ALL`], both ways, and the global against [`TASK_PID_OFFSET`].

/// Array of [`MAX_THREADS`] [`crate::call::ThreadEntry`]s: each target thread's call in
/// flight and its exact call counts, in a slot of [`crate::call::thread_slot`].
pub const THREADS: &str = "THREADS";
/// Per-CPU array (one slot) of [`crate::call::OnCpu`]: the traced call running on the CPU.
pub const ON_CPU: &str = "ON_CPU";
/// Ring buffer of [`crate::batch::StagedRecords`] batches.
pub const RECORDS: &str = "RECORDS";
/// Per-CPU array (one slot) of [`crate::batch::StagedRecords`]: each CPU's batch being
/// filled.
pub const STAGING: &str = "STAGING";
/// Per-CPU array (one slot) of records the ring buffer had no room for.
pub const LOST: &str = "LOST";
/// Array with one word of [`crate::config`] bits, set by user space.
pub const CONFIG: &str = "CONFIG";
/// Array of [`crate::aggregate::TOTAL_SLOTS`] [`crate::aggregate::Aggregate`]s, each with
/// its thread and kind (`--aggregate`), in a slot of [`crate::aggregate::totals_slot`].
pub const TOTALS: &str = "TOTALS";
/// BPF_F_MMAPABLE: an array map whose values user space can mmap.
pub const MMAPABLE: u32 = 1 << 10;
/// `TOTALS`' map flags: [`MMAPABLE`], so user space reads its 16,384 slots from a mapping
/// instead of one `bpf()` call each (every refresh of `netcopy top`, the end of every
/// `--aggregate` trace).
pub const TOTALS_FLAGS: u32 = MMAPABLE;
/// Hash map [`crate::aggregate::AggKey`] -> [`crate::aggregate::Aggregate`]: the
/// `--aggregate` totals whose `TOTALS` slot was another thread's or kind's.
pub const AGGREGATES: &str = "AGGREGATES";
/// Per-CPU array (one slot): a zeroed aggregate to insert new keys from.
pub const FRESH_AGGREGATE: &str = "FRESH_AGGREGATE";
/// Hash map tgid -> [`crate::targets::PRESENT`]: the processes traced.
pub const TARGET_TGIDS: &str = "TARGET_TGIDS";
/// Hash map command name ([`crate::targets::COMM_LEN`] bytes) -> `PRESENT`.
pub const TARGET_COMMS: &str = "TARGET_COMMS";
/// Hash map cgroup v2 id (the cgroup directory's inode) -> `PRESENT`.
pub const TARGET_CGROUPS: &str = "TARGET_CGROUPS";
/// Perf event array: a cycles counter per CPU (or the stand-in, see `probes::counters`).
pub const CYCLES: &str = "CYCLES";
/// Perf event array: an instructions counter per CPU.
pub const INSTRUCTIONS: &str = "INSTRUCTIONS";
/// Ring buffer of [`crate::sample::StackSample`]s, one per sample.
pub const SAMPLE_RING: &str = "SAMPLE_RING";
/// Per-CPU array (one slot) of [`crate::sample::StackSample`]: the sample being built.
pub const SAMPLE_BUF: &str = "SAMPLE_BUF";
/// Per-CPU array (one slot) of samples the ring had no room for.
pub const SAMPLE_LOST: &str = "SAMPLE_LOST";
/// Per-CPU array: the kernel stack read at a switch out of a call, to find why
/// (`crate::offcpu`).
pub const WAIT_STACK: &str = "WAIT_STACK";
/// Hash map stack hash -> [`crate::offcpu::WaitFrames`]: the stacks calls were switched
/// out at (voluntary switches).
pub const OFFCPU_STACKS: &str = "OFFCPU_STACKS";
/// Hash map [`crate::offcpu::OffcpuKey`] -> ns switched out.
pub const OFFCPU: &str = "OFFCPU";
/// LRU hash map `struct io_kiocb *` -> [`crate::uring::SendInFlight`]: io_uring send requests between submit and
/// completion ([`crate::uring`]).
pub const URING_SENDS: &str = "URING_SENDS";
/// Ring buffer of [`crate::uring::UringEvent`]s.
pub const URING_EVENTS: &str = "URING_EVENTS";

/// Every map of the object.
pub const ALL: [&str; 22] = [
    THREADS,
    ON_CPU,
    RECORDS,
    STAGING,
    LOST,
    CONFIG,
    TOTALS,
    AGGREGATES,
    FRESH_AGGREGATE,
    TARGET_TGIDS,
    TARGET_COMMS,
    TARGET_CGROUPS,
    CYCLES,
    INSTRUCTIONS,
    SAMPLE_RING,
    SAMPLE_BUF,
    SAMPLE_LOST,
    WAIT_STACK,
    URING_SENDS,
    URING_EVENTS,
    OFFCPU_STACKS,
    OFFCPU,
];

/// Global `u32`: the byte offset of `pid` in `struct task_struct`, which user space finds in
/// the kernel's BTF and sets at load time (the BTF sched_switch program reads it).
pub const TASK_PID_OFFSET: &str = "TASK_PID_OFFSET";

/// Processes traced at once, per target map.
pub const MAX_TARGETS: u32 = 1024;
/// Threads (and thread, kind pairs) the per-thread maps hold; a power of two (the slots of
/// `THREADS` are a thread id's low bits).
pub const MAX_THREADS: u32 = 16384;
/// Default size of the record ring buffer (a power of two pages); `--ring-buffer` resizes it.
pub const RECORDS_BYTES: u32 = 16 << 20;
