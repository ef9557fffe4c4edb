//! Which processes are traced: by tgid, by command name or by cgroup v2 id, in the
//! `TARGET_*` maps that user space fills before tracing starts.

/// Value stored in a target map for a key that is traced.
pub const PRESENT: u8 = 1;
/// Bytes of a task's command name, as the kernel keeps it (15 + NUL).
pub const COMM_LEN: usize = 16;
