//! Turning what the probes recorded into rows: syscall records (`records`), kernel stack
//! symbolization and the classification of sampled stacks into copy stages.

pub mod records;
pub mod roles;
