//! The copy stages that kernel time is split into. User space classifies sampled stacks into
//! them (`netcopy/src/collect/stages.rs`); the exact tier names the stage each timed
//! function belongs to ([`crate::exact::TIMED`]), so both sides use this one list.

/// One stage of moving bytes through a TCP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    CopyUserToSkb,
    ZerocopyPin,
    TcpTx,
    DevXmit,
    RxSoftirq,
    /// The transmit softirq (net_tx_action): queued packets sent later, off the send path.
    TxSoftirq,
    DeferredCopy,
    /// TCP receive-side protocol work inside the call: taking skbs off the receive queue,
    /// the receive-window and buffer bookkeeping, freeing the read skbs, the socket lock.
    TcpRx,
    CopySkbToUser,
    ZcCompletion,
    Alloc,
    Wait,
    /// Entering and leaving the kernel and the generic socket-call layer above the protocol:
    /// the syscall entry and exit, the file lookup, copying the msghdr and iovec in, the
    /// security hooks.
    Syscall,
    /// Tracing inside the call: tracepoint dispatch and the BPF programs attached to it (this
    /// profiler's own probes among them). Near zero in an untraced run; in a traced one it is
    /// the observer's cost, kept out of the stage it happens to sit under.
    Probe,
    Other,
}

impl Stage {
    pub const ALL: [Stage; 15] = [
        Stage::CopyUserToSkb,
        Stage::ZerocopyPin,
        Stage::TcpTx,
        Stage::DevXmit,
        Stage::RxSoftirq,
        Stage::TxSoftirq,
        Stage::DeferredCopy,
        Stage::TcpRx,
        Stage::CopySkbToUser,
        Stage::ZcCompletion,
        Stage::Alloc,
        Stage::Wait,
        Stage::Syscall,
        Stage::Probe,
        Stage::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::CopyUserToSkb => "copy_user_to_skb",
            Stage::ZerocopyPin => "zerocopy_pin",
            Stage::TcpTx => "tcp_tx",
            Stage::DevXmit => "dev_xmit",
            Stage::RxSoftirq => "rx_softirq",
            Stage::TxSoftirq => "tx_softirq",
            Stage::DeferredCopy => "deferred_copy",
            Stage::TcpRx => "tcp_rx",
            Stage::CopySkbToUser => "copy_skb_to_user",
            Stage::ZcCompletion => "zc_completion",
            Stage::Alloc => "alloc",
            Stage::Wait => "wait",
            Stage::Syscall => "syscall",
            Stage::Probe => "probe",
            Stage::Other => "other",
        }
    }
}
