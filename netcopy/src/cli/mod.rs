//! The commands that work on many runs: `sweep`, `report` and `plot` (the single-run
//! commands are in main.rs).

pub mod hosts;
pub mod plot;
pub mod report;
pub mod sweep;

/// Bad input to one of these commands: a one-line error and exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);
