//! Plain result types: what a run was and what it measured, with no I/O. Every layer may
//! use them; the layers that produce them build them, `report` renders them and `sink`
//! writes them.
//!
//! - `run`: the run's shape (mode, path, pinning) and its summary, both ends.
//! - `counts`: what the workload counted itself (calls, switches, latency, window, zerocopy).
//! - `role`: which end a thread is.
//! - `kernel`: what the probes saw per role and syscall, and the sampled stage rows.
//! - `check`: the probes' counts beside the workload's.
//! - `attach`: how each hook was attached, what fell back and why.
//! - `meta`: facts about a traced run that are not in its summary.
//! - `external`: the summary of tracing other programs.
//! - `cell`: one finished cell of a sweep.
//! - `top`: the rows of `netcopy top`.

pub mod attach;
pub mod cell;
pub mod check;
pub mod counts;
pub mod external;
pub mod kernel;
pub mod meta;
pub mod role;
pub mod run;
pub mod top;

pub use attach::{CounterSource, HookRecord, Method, Outcome, Step};
pub use cell::{CellRecord, StageShare};
pub use check::{ProbeCheck, RequestCheck, SwitchCheck, ThreadCheck};
pub use counts::{
    CallCounts, EndTotals, LatencySummary, RxZerocopyStats, Switches, WindowTotals, ZerocopyStats,
};
pub use external::ExternalSummary;
pub use kernel::{Process, RequestRow, StackRow, StageRow, SyscallSummary};
pub use meta::RunMeta;
pub use role::Role;
pub use run::{Affinity, ConnectionSummary, Mode, NetPath, RunSummary, Rx};
pub use top::TopRow;
