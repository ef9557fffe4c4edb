//! The commands that work on many runs: `sweep`, `report` and `plot` (the single-run
//! commands are in main.rs).

pub mod plot;
pub mod report;
pub mod sweep;
