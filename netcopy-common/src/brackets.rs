//! The brackets family's contract: the tracepoints that open and close an exactly timed
//! stretch of kernel work inside a traced call, and the softirq vectors it times.
//!
//! Hooks (raw tracepoints, `netcopy-ebpf/src/brackets.rs`): `irq:softirq_entry` and
//! `irq:softirq_exit` for the NET_RX and NET_TX softirqs, `net:net_dev_start_xmit` and
//! `net:net_dev_xmit` for the device transmit. Numbers: per call, the ns of each stretch
//! while the call's thread ran on that CPU (`SyscallRecord::rx_softirq_ns`, `tx_softirq_ns`,
//! `dev_xmit_ns`). A transmit inside a softirq counts as transmit only, so every ns is in at
//! most one bracket and the three add up to no more than the call's on-CPU time.

/// `NET_TX_SOFTIRQ` in `enum softirq` (include/linux/interrupt.h), the `vec` of the irq
/// tracepoints.
pub const NET_TX_SOFTIRQ: u32 = 2;
/// `NET_RX_SOFTIRQ`.
pub const NET_RX_SOFTIRQ: u32 = 3;

/// (program, raw tracepoint) for each hook, in attach order: the closing programs first, so
/// that no bracket is opened by a program whose closing one is not attached yet.
pub const PROGRAMS: [(&str, &str); 4] = [
    ("bracket_softirq_exit", "softirq_exit"),
    ("bracket_xmit_end", "net_dev_xmit"),
    ("bracket_softirq_entry", "softirq_entry"),
    ("bracket_xmit_start", "net_dev_start_xmit"),
];

/// The stage each bracket times, by the name of its syscalls.parquet column.
pub const STAGES: [(&str, crate::stage::Stage); 3] = [
    ("rx_softirq_ns", crate::stage::Stage::RxSoftirq),
    ("tx_softirq_ns", crate::stage::Stage::TxSoftirq),
    ("dev_xmit_ns", crate::stage::Stage::DevXmit),
];
