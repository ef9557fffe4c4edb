//! The workload: netcopy's own server (sends) and client (receives) for the five copy modes.
//!
//! - `message`: the 8-field message, its pattern and verifier.
//! - `conn`: every syscall on a connection, counted, and the calls `timing` picks timed (on
//!   `clock`, the TSC); `sys`: the data calls as raw syscalls; `deadline`: when a sender
//!   stops.
//! - `sender` / `receiver`: the per-mode data loops; `zerocopy`: MSG_ZEROCOPY and completions;
//!   `uring`: IORING_OP_SEND and SEND_ZC with their notifications; `rxzc`: the receiver that
//!   maps pages with TCP_ZEROCOPY_RECEIVE.
//! - `protocol`: the hello/ack handshake; `server` / `client`: the two ends; `run`: both at once.
//! - `stats`: latency histograms and the common measurement window.
//! - `affinity`: `--cpu-affinity`; `gate`: admission for `netcopy serve`; `watch`: what a
//!   trace watches in a run (each thread's role, decided where it starts; completions).

pub mod affinity;
pub mod client;
pub mod clock;
pub mod conn;
pub mod deadline;
pub mod gate;
pub mod message;
pub mod protocol;
pub mod receiver;
pub mod run;
pub mod rxzc;
pub mod sender;
pub mod server;
pub mod stats;
pub mod sys;
pub mod timing;
pub mod uring;
pub mod watch;
pub mod zerocopy;

use std::io;

use thiserror::Error;

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
    #[error(transparent)]
    Uring(#[from] uring::UringError),
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
