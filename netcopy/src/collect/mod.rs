//! Turning what the probes recorded into rows: syscall records read from the ring buffer
//! and folded per thread and role (`records`); sampled kernel stacks symbolized
//! (`kallsyms`), classified into copy stages (`stages`) and added up (`samples`); the
//! exact and sampled stage times combined into one table (`combine`); io_uring send
//! requests paired with their notifications (`requests`); which process each thread belongs to (`procs`);
//! switch-out stacks folded with their time out (`offcpu`).

pub mod combine;
pub mod kallsyms;
pub mod offcpu;
pub mod procs;
pub mod records;
pub mod requests;
pub mod samples;
pub mod stages;
