//! The contract between netcopy's eBPF programs (`netcopy-ebpf`) and user space (`netcopy`),
//! defined once for both: map names, the config word, record layouts, the syscall numbers
//! the raw tracepoints decode, the exact tier's table and the copy stages.
//!
//! Everything shared in memory is `#[repr(C)]` with explicit padding, and its size and key
//! offsets are asserted at compile time on both targets, so a change to a layout that the
//! other side would read differently does not build. The `user` feature adds `aya::Pod`
//! impls for reading maps from user space.
//!
//! - `maps`: every map's and global's name, and their capacities.
//! - `config`: the bits of the `CONFIG` word user space sets.
//! - `targets`: which processes are traced.
//! - `call`: a target thread's call in flight and its exact counts (`THREADS`, `ON_CPU`).
//! - `syscalls`: the traced syscalls, their records, and the x86-64 numbers raw_tp decodes.
//! - `batch`: how records travel, a batch per CPU at a time, tails only where they are.
//! - `aggregate`: `--aggregate`'s in-kernel totals.
//! - `brackets`: the softirq and device-transmit tracepoints that time stages exactly.
//! - `offcpu`: why a call left the CPU, and the kernel functions that say so.
//! - `uring`: the io_uring tracepoints, opcodes and flags.
//! - `sample`: stack samples; `exact`: the functions fentry/fexit time; `stage`: copy stages.
#![no_std]

pub mod aggregate;
pub mod batch;
pub mod brackets;
pub mod call;
pub mod config;
pub mod exact;
pub mod maps;
pub mod offcpu;
pub mod sample;
pub mod stage;
pub mod syscalls;
pub mod targets;
pub mod uring;

/// `const` string equality (for compile-time checks of names given as literals).
pub const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Asserts at compile time that `$t` is `$size` bytes and each `$field` sits at its offset.
#[macro_export]
macro_rules! layout {
    ($t:ty, $size:expr $(, $field:ident @ $offset:expr)* $(,)?) => {
        const _: () = assert!(core::mem::size_of::<$t>() == $size);
        $(const _: () = assert!(core::mem::offset_of!($t, $field) == $offset);)*
    };
}
