//! Turning what the probes recorded into rows: syscall records (`records`) and thread roles
//! (`roles`); sampled kernel stacks symbolized (`kallsyms`), classified into copy stages
//! (`stages`) and added up (`samples`).

pub mod kallsyms;
pub mod records;
pub mod roles;
pub mod samples;
pub mod stages;
