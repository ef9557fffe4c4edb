//! The command line on top of everything: one file per command (`run`, `trace`, `doctor`,
//! `sweep`, `report`, `plot`, `serve`, `client`), the argument groups they share (`args`),
//! signal handling (`signals`), printing results (`output`) and the one error type that
//! decides the exit status (`error`). `main.rs` parses and dispatches.

pub mod args;
pub mod client;
pub mod docs;
pub mod doctor;
pub mod error;
pub mod flamegraph;
pub mod output;
pub mod plot;
pub mod report;
pub mod run;
pub mod serve;
pub mod signals;
pub mod sweep;
pub mod top;
pub mod trace;
