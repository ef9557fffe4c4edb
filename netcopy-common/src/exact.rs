//! The exact tier: kernel functions timed per call with fentry/fexit, where the kernel allows
//! BPF trampolines (not on the VMs netcopy is developed on: there they fail with EPERM and the
//! stage times come from sampling alone).
//!
//! Numbers: for each call, the ns spent inside each of [`FUNCTIONS`] (summed over nested
//! invocations in the call), in `SyscallRecord::exact_ns` when `SyscallRecord::exact` is 1.

/// Functions timed, in the order of `exact_ns`.
pub const FUNCTIONS: [&str; EXACT_FNS] = [
    "tcp_sendmsg_locked",
    "skb_copy_datagram_iter",
    "skb_copy_ubufs",
    "__msg_zerocopy_callback",
    "skb_zerocopy_iter_stream",
];

/// Number of functions timed.
pub const EXACT_FNS: usize = 5;

/// The sampled stage each function's time belongs to, where it maps to exactly one.
/// tcp_sendmsg_locked spans the whole send path (copy, transmit, loopback receive) and has
/// none.
pub const STAGE_OF: [Option<&str>; EXACT_FNS] = [
    None,
    Some("copy_skb_to_user"),
    Some("deferred_copy"),
    Some("zc_completion"),
    Some("zerocopy_pin"),
];
