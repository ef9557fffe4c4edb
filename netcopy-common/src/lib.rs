//! Types shared by the eBPF programs (`netcopy-ebpf`) and user space (`netcopy`).
//!
//! Everything here is `#[repr(C)]` with explicit padding so both sides agree on the layout
//! byte for byte. The `user` feature adds `aya::Pod` impls for reading maps from user space.
#![no_std]

pub mod exact;
pub mod sample;
pub mod syscalls;
