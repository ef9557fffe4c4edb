//! netcopy's eBPF programs, one module per probe family, over the shared state they keep.
//!
//! - Families (programs): `syscalls` (entry/exit, raw_tp or classic tracepoints), `sched`
//!   (sched_switch), `net` (the tcp/skb/net tracepoints), `brackets` (softirqs and device
//!   transmits timed exactly between tracepoints), `counters` (per-CPU cycles and
//!   instructions), `exact` (fentry/fexit), `sample` (the CPU-clock stack sampler), `uring`
//!   (io_uring send requests, their results and notifications).
//! - Shared state (maps, no programs): `call` (the call in flight per thread and per CPU),
//!   `records` (batches, ring buffer, aggregates), `targets`, `config`; `fields` reads
//!   classic tracepoint records.
//!
//! Built for `bpfel-unknown-none` by `netcopy/build.rs` (aya-build) and embedded in the
//! `netcopy` binary. On the host the crate compiles to an empty program so that clippy and
//! rustfmt can check it.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod config;
#[cfg(target_arch = "bpf")]
mod fields;
#[cfg(target_arch = "bpf")]
mod targets;
#[cfg(target_arch = "bpf")]
#[macro_use]
mod call;
#[cfg(target_arch = "bpf")]
mod counters;
#[cfg(target_arch = "bpf")]
mod records;
#[cfg(target_arch = "bpf")]
mod syscalls;

#[cfg(target_arch = "bpf")]
mod brackets;
#[cfg(target_arch = "bpf")]
mod exact;
#[cfg(target_arch = "bpf")]
mod net;
#[cfg(target_arch = "bpf")]
mod sample;
#[cfg(target_arch = "bpf")]
mod sched;
#[cfg(target_arch = "bpf")]
mod uring;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects programs that can reach a real panic; this is never called.
    loop {}
}

/// GPL-compatible licence: required for the tracing helpers the programs call.
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {}
