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
    CopySkbToUser,
    ZcCompletion,
    Alloc,
    Wait,
    Other,
}

impl Stage {
    pub const ALL: [Stage; 12] = [
        Stage::CopyUserToSkb,
        Stage::ZerocopyPin,
        Stage::TcpTx,
        Stage::DevXmit,
        Stage::RxSoftirq,
        Stage::TxSoftirq,
        Stage::DeferredCopy,
        Stage::CopySkbToUser,
        Stage::ZcCompletion,
        Stage::Alloc,
        Stage::Wait,
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
            Stage::CopySkbToUser => "copy_skb_to_user",
            Stage::ZcCompletion => "zc_completion",
            Stage::Alloc => "alloc",
            Stage::Wait => "wait",
            Stage::Other => "other",
        }
    }
}
