//! netcopy: what does moving bytes through a TCP socket cost in the kernel?
//!
//! The layers, bottom to top; each imports only from the ones below it (`cargo xtask test`
//! checks this, see xtask/src/layers.rs):
//!
//! - `units`, `privileges`: parsing and formatting; which capabilities this process has.
//! - `model`: plain result types, no I/O; every layer may use them.
//! - `testbed`: the two network namespaces of `--netns`.
//! - `workload`: servers and clients for the five copy modes (the data path starts here).
//! - `probes`: the eBPF programs, loaded and attached; their maps read back.
//! - `collect`: records and samples folded into rows.
//! - `sink`: Parquet tables.
//! - `report`: what the user sees.
//! - `trace`: the trace session over the data path; `sweep`: many runs; `plot`: charts.
//! - `cli`: the commands.

pub mod cli;
pub mod collect;
pub mod model;
pub mod plot;
pub mod privileges;
pub mod probes;
pub mod report;
pub mod sink;
pub mod sweep;
pub mod testbed;
pub mod trace;
pub mod units;
pub mod workload;
