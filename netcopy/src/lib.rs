//! netcopy: what does moving bytes through a TCP socket cost in the kernel?
//!
//! The data path, folder by folder: `workload` (servers and clients for the three copy
//! modes) → `probes` (eBPF programs, loaded and attached) → `collect` (records to rows) →
//! `report` (what the user sees).
//! `testbed` builds the network the workload runs over when it is not loopback.

pub mod collect;
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
