//! A run's shape (copy mode, network path, CPU pinning) and its summary: both ends' own
//! numbers, with the kernel's view beside them when it was traced. docs/methodology.md
//! defines every number; `report` prints it, `sink::runs` saves it.

use std::fmt;

use serde::Serialize;

use super::{
    check::ProbeCheck,
    counts::{CallCounts, EndTotals, LatencySummary, RxZerocopyStats, WindowTotals, ZerocopyStats},
    kernel::{StageRow, SyscallSummary},
};

/// How the bytes of a message get into the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Mode {
    /// Serialize the 8 fields into one buffer per message, then send(2); recv(2) + deserialize.
    Twocopy = 0,
    /// sendmsg(2)/recvmsg(2) with an 8-entry iovec (scatter-gather).
    Onecopy = 1,
    /// SO_ZEROCOPY + sendmsg(MSG_ZEROCOPY), completions reaped; recvmsg(2) on the receiver.
    Zerocopy = 2,
    /// io_uring IORING_OP_SEND of the serialized message, one ring per connection;
    /// recvmsg(2) on the receiver.
    Uring = 3,
    /// io_uring IORING_OP_SEND_ZC of the serialized message from registered buffers, every
    /// notification reaped; recvmsg(2) on the receiver.
    Uringzc = 4,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Twocopy,
        Mode::Onecopy,
        Mode::Zerocopy,
        Mode::Uring,
        Mode::Uringzc,
    ];
    /// The modes that send with plain syscalls, which the syscall probes count one by one.
    pub const SYSCALL: [Mode; 3] = [Mode::Twocopy, Mode::Onecopy, Mode::Zerocopy];

    pub fn from_wire(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| *m as u8 == b)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Twocopy => "twocopy",
            Mode::Onecopy => "onecopy",
            Mode::Zerocopy => "zerocopy",
            Mode::Uring => "uring",
            Mode::Uringzc => "uringzc",
        }
    }

    /// The sender goes through an io_uring instead of send/sendmsg calls.
    pub fn uses_uring(self) -> bool {
        matches!(self, Mode::Uring | Mode::Uringzc)
    }

    /// The kernel is asked not to copy the payload, and says afterwards whether it did.
    pub fn is_zerocopy(self) -> bool {
        matches!(self, Mode::Zerocopy | Mode::Uringzc)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the receiver gets the bytes out of the socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Rx {
    /// recv(2)/recvmsg(2): the kernel copies into the message's buffers.
    #[default]
    Copy,
    /// getsockopt(TCP_ZEROCOPY_RECEIVE) maps whole pages of received data into an mmap'd
    /// area, read in place; recv(2) copies what cannot be mapped.
    Zerocopy,
}

impl Rx {
    pub fn name(self) -> &'static str {
        match self {
            Rx::Copy => "copy",
            Rx::Zerocopy => "zerocopy",
        }
    }
}

/// Where the bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetPath {
    /// 127.0.0.1 in the current namespace.
    Loopback,
    /// Two namespaces joined by a veth pair.
    Netns,
    /// `netcopy client` against a separately started server.
    Network,
}

impl NetPath {
    pub fn name(self) -> &'static str {
        match self {
            NetPath::Loopback => "loopback",
            NetPath::Netns => "netns",
            NetPath::Network => "network",
        }
    }
}

/// The CPU of each end's connection threads (`--cpu-affinity`); `None` leaves that end to
/// the scheduler. `workload::affinity` parses and applies it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Affinity {
    pub sender: Option<usize>,
    pub receiver: Option<usize>,
}

impl Affinity {
    pub fn is_set(&self) -> bool {
        self.sender.is_some() || self.receiver.is_some()
    }

    /// How many CPUs both ends are pinned to (1 when they share one); `None` when an end
    /// may run anywhere.
    pub fn pinned_cpus(&self) -> Option<usize> {
        match (self.sender, self.receiver) {
            (Some(s), Some(r)) => Some(if s == r { 1 } else { 2 }),
            _ => None,
        }
    }

    /// How many CPUs the receiving ends take when they alone run here (`netcopy client`,
    /// whose threads all receive): 1 when they are pinned, `None` when they may run anywhere.
    pub fn receivers_cpus(&self) -> Option<usize> {
        self.receiver.map(|_| 1)
    }
}

impl fmt::Display for Affinity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |c: Option<usize>| c.map_or("any CPU".to_owned(), |c| format!("CPU {c}"));
        write!(
            f,
            "senders on {}, receivers on {}",
            end(self.sender),
            end(self.receiver)
        )
    }
}

/// One connection, both ends.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionSummary {
    pub index: u32,
    pub sender: EndTotals,
    pub receiver: EndTotals,
}

/// One `netcopy run`/`trace` (or one end of a two-host run).
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub mode: Mode,
    /// `--rx`: how the receivers read.
    pub rx: Rx,
    pub size: u64,
    pub threads: u32,
    pub path: NetPath,
    /// `--cpu-affinity`: the CPUs the connection threads were pinned to (null: unpinned).
    pub cpu_affinity: Option<Affinity>,
    pub warmup_s: f64,
    /// The requested window length; `window.seconds` is the measured one.
    pub duration_s: f64,
    /// Bytes received over the whole run (warmup and tail included), exact.
    pub bytes: u64,
    /// Messages received over the whole run, exact.
    pub messages: u64,
    pub window: WindowTotals,
    /// Window bytes × 8 / window seconds / 10⁹, summed over connections.
    pub throughput_gbps: f64,
    /// Every received message was checked byte for byte.
    pub verified: bool,
    pub interrupted: bool,
    /// One data call in this many was timed into the latency rows, picked at random (1: every
    /// call; `--latency-sample`); null with `--no-latency`.
    pub calls_timed_one_in: Option<u32>,
    /// Null when the calls were not timed (`--no-latency`), and for the end that ran in the
    /// other process (`serve` and `client`).
    pub send_latency_ns: Option<LatencySummary>,
    pub recv_latency_ns: Option<LatencySummary>,
    pub send_calls: CallCounts,
    pub recv_calls: CallCounts,
    /// Zerocopy completions, summed over connections; null in the other modes.
    pub zerocopy: Option<ZerocopyStats>,
    /// `--rx zerocopy`: bytes mapped and copied, summed over receivers; null with `--rx copy`.
    pub rx_zerocopy: Option<RxZerocopyStats>,
    pub connections: Vec<ConnectionSummary>,
    /// `netcopy trace`: per role and syscall kind, what the kernel saw.
    pub syscalls: Option<Vec<SyscallSummary>>,
    /// `netcopy trace`: sampled kernel time inside traced calls, by role and copy stage.
    pub stages: Option<Vec<StageRow>>,
    /// `netcopy trace`: the kernel's counts checked against the workload's.
    pub probe: Option<ProbeCheck>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_pinned_take_one_cpu_or_two() {
        let pin = |sender, receiver| Affinity { sender, receiver }.pinned_cpus();
        assert_eq!(pin(Some(0), Some(1)), Some(2));
        assert_eq!(pin(Some(1), Some(1)), Some(1));
        assert_eq!(pin(Some(0), None), None);
        assert_eq!(pin(None, None), None);
    }

    #[test]
    fn pinned_receivers_take_one_cpu_however_many() {
        let recv = |sender, receiver| Affinity { sender, receiver }.receivers_cpus();
        assert_eq!(recv(None, Some(1)), Some(1));
        assert_eq!(recv(Some(0), Some(1)), Some(1));
        assert_eq!(recv(Some(0), None), None);
    }
}
