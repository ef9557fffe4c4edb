//! The exact tier: kernel functions timed per call with fentry/fexit, where the kernel allows
//! BPF trampolines (not on the VMs netcopy is developed on: there they fail with EPERM and the
//! stage times come from sampling alone).
//!
//! [`TIMED`] is the one table: the eBPF side's programs are checked against it at compile
//! time (`netcopy-ebpf/src/exact.rs`), and user space derives from it the program names it
//! attaches, the `exact_*_ns` columns of syscalls.parquet and the stage each time goes to.
//!
//! Numbers: for each call, the ns spent inside each timed function (summed over nested
//! invocations in the call), in `SyscallRecord::exact_ns` when `SyscallRecord::exact` is 1.

use crate::stage::Stage;

/// One kernel function timed per call, and the programs that time it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timed {
    /// The kernel function, by its BTF name.
    pub function: &'static str,
    /// The sampled stage its time belongs to, where it maps to exactly one.
    pub stage: Option<Stage>,
    /// The fentry and fexit programs.
    pub enter: &'static str,
    pub exit: &'static str,
}

/// Number of functions timed.
pub const EXACT_FNS: usize = 5;

/// Functions timed, in the order of `exact_ns`. tcp_sendmsg_locked spans the whole send path
/// (copy, transmit, loopback receive) and has no stage of its own.
pub const TIMED: [Timed; EXACT_FNS] = [
    Timed {
        function: "tcp_sendmsg_locked",
        stage: None,
        enter: "exact_enter_0",
        exit: "exact_exit_0",
    },
    Timed {
        function: "skb_copy_datagram_iter",
        stage: Some(Stage::CopySkbToUser),
        enter: "exact_enter_1",
        exit: "exact_exit_1",
    },
    Timed {
        function: "skb_copy_ubufs",
        stage: Some(Stage::DeferredCopy),
        enter: "exact_enter_2",
        exit: "exact_exit_2",
    },
    Timed {
        function: "__msg_zerocopy_callback",
        stage: Some(Stage::ZcCompletion),
        enter: "exact_enter_3",
        exit: "exact_exit_3",
    },
    Timed {
        function: "skb_zerocopy_iter_stream",
        stage: Some(Stage::ZerocopyPin),
        enter: "exact_enter_4",
        exit: "exact_exit_4",
    },
];

/// The slot of `function` in [`TIMED`], or [`EXACT_FNS`] when it is not timed.
pub const fn slot(function: &str) -> usize {
    let mut i = 0;
    while i < EXACT_FNS {
        if crate::same(TIMED[i].function, function) {
            return i;
        }
        i += 1;
    }
    EXACT_FNS
}

/// The timed function whose time is `stage`'s, if one is.
pub fn of_stage(stage: Stage) -> Option<&'static Timed> {
    TIMED.iter().find(|t| t.stage == Some(stage))
}
