//! The workload: netcopy's own server (sends) and client (receives) for the three copy modes.
//!
//! - `message`: the 8-field message, its pattern and verifier.
//! - `conn`: every syscall on a connection, counted and timed.
//! - `sender` / `receiver`: the per-mode data loops; `zerocopy`: MSG_ZEROCOPY and completions.
//! - `protocol`: the hello/ack handshake; `server` / `client`: the two ends; `run`: both at once.
//! - `stats`: latency histograms and the common measurement window.

pub mod affinity;
pub mod client;
pub mod conn;
pub mod gate;
pub mod message;
pub mod protocol;
pub mod receiver;
pub mod run;
pub mod sender;
pub mod server;
pub mod stats;
pub mod zerocopy;

use std::io;

use serde::Serialize;
use thiserror::Error;

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
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Twocopy, Mode::Onecopy, Mode::Zerocopy];

    pub fn from_wire(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| *m as u8 == b)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Twocopy => "twocopy",
            Mode::Onecopy => "onecopy",
            Mode::Zerocopy => "zerocopy",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Error)]
pub enum WorkloadError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Message(#[from] message::MessageError),
    #[error(transparent)]
    Protocol(#[from] protocol::ProtocolError),
    #[error("zerocopy: {0}")]
    Zerocopy(String),
    #[error("a workload thread panicked")]
    Panicked,
    /// A connection `netcopy serve` refused or gave up on before serving it.
    #[error("turned away a connection: {0}")]
    Turned(String),
    #[error("stopped before any client connected")]
    NoClient,
}

impl WorkloadError {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The calling thread's kernel thread id (what eBPF sees as the low half of pid_tgid).
pub fn gettid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

/// Join a workload thread, turning a panic into an error.
pub(crate) fn join<T>(
    handle: std::thread::JoinHandle<Result<T, WorkloadError>>,
) -> Result<T, WorkloadError> {
    handle.join().map_err(|_| WorkloadError::Panicked)?
}
