//! The one error type of the command line: every layer's error converts into it, and it says
//! the exit status. Bad input and missing privileges exit 2 (as clap does for bad
//! arguments), other failures 1; the message is one line, each cause once.

use thiserror::Error;

use crate::{
    plot::PlotError,
    probes::ProbeError,
    sink::SinkError,
    sweep::SweepError,
    trace::TraceError,
    workload::{WorkloadError, run::RunError},
};

/// Exit status for bad input and missing privileges.
pub const EXIT_USAGE: u8 = 2;
/// Exit status of `trace --strict` when records were lost.
pub const EXIT_LOST: u8 = 3;
/// Exit status of a run cut short by a signal.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Bad input found after parsing (a port in use, a sweep directory that is not one).
#[derive(Debug, Error)]
#[error("{0}")]
pub struct Usage(pub String);

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Usage(#[from] Usage),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0} panicked")]
    Panicked(&'static str),
}

impl Error {
    /// An I/O error while doing `context`.
    pub fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io { context, source }
    }

    /// Bad input or setup the user can fix.
    pub fn is_usage(&self) -> bool {
        match self {
            Error::Usage(_) => true,
            Error::Probe(e) => e.is_usage(),
            Error::Trace(e) => e.is_usage(),
            Error::Run(e) => e.is_usage(),
            Error::Sink(e) => e.is_usage(),
            Error::Sweep(e) => e.is_usage(),
            Error::Workload(_) | Error::Plot(_) | Error::Io { .. } | Error::Json(_) => false,
            Error::Panicked(_) => false,
        }
    }

    pub fn exit_code(&self) -> u8 {
        if self.is_usage() { EXIT_USAGE } else { 1 }
    }

    /// The error and its causes on one line, each cause once (our error types already show
    /// their source in their own message).
    pub fn one_line(&self) -> String {
        let mut line = String::new();
        let mut cause: Option<&dyn std::error::Error> = Some(self);
        while let Some(e) = cause {
            let text = e.to_string();
            if !line.ends_with(&text) {
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(&text);
            }
            cause = e.source();
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::testbed::netns::NetnsError;

    #[test]
    fn usage_errors_are_found_inside_other_layers_errors() {
        let nested = Error::from(TraceError::Run(RunError::Netns(NetnsError::NotPrivileged)));
        assert_eq!(nested.exit_code(), EXIT_USAGE);
        let out = Error::from(TraceError::Sink(SinkError::NotEmpty(PathBuf::from("x"))));
        assert_eq!(out.exit_code(), EXIT_USAGE);
        let privileges = Error::from(ProbeError::Privileges {
            missing: "CAP_BPF".into(),
        });
        assert_eq!(privileges.exit_code(), EXIT_USAGE);
        let failed = Error::from(TraceError::Run(RunError::Workload(WorkloadError::NoClient)));
        assert_eq!(failed.exit_code(), 1);
        assert_eq!(Error::Panicked("the workload thread").exit_code(), 1);
    }

    #[test]
    fn each_cause_is_said_once() {
        let e = Error::from(SinkError::Io {
            path: PathBuf::from("/x"),
            source: std::io::Error::other("disk full"),
        });
        // SinkError already puts its source in its message; the chain repeats it.
        assert_eq!(e.one_line(), "/x: disk full");
        let e = Error::io("read the sweep")(std::io::Error::other("gone"));
        assert_eq!(e.one_line(), "read the sweep: gone");
    }
}
