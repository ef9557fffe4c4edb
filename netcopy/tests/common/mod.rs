//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use netcopy::workload::{Mode, client::ClientConfig, receiver::Verify};

pub const MIB: u64 = 1 << 20;

/// A run of `mode` with 64 KiB messages for `secs` seconds, no warmup, content verified.
pub fn config(mode: Mode, size: u64, threads: u32, secs: f64) -> ClientConfig {
    ClientConfig {
        server: SocketAddr::from(([127, 0, 0, 1], 0)),
        mode,
        size,
        threads,
        warmup: Duration::ZERO,
        duration: Duration::from_secs_f64(secs),
        verify: Verify::Yes,
    }
}

/// Fail with a clear message when the test is not root: these tests need privileges and
/// `cargo xtask test` runs them as root.
pub fn require_root(what: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{what} needs root: run the tests with `cargo xtask test` (it uses sudo when needed)"
    );
}
