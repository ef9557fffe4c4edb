//! io_uring family, user side: attach the two io_uring tracepoints.
//!
//! Hooks (`netcopy-ebpf/src/uring.rs`, classic tracepoints, the only method built for them):
//! `io_uring:io_uring_submit_req`, `io_uring:io_uring_complete`. Numbers: send requests,
//! SEND_ZC notifications and copied notifications per thread (read back with the exact
//! counts), and the bytes of an io_uring_enter call (its record's `uring_bytes`).

use netcopy_common::uring::PROGRAMS;

use super::{Intent, ProbeError, Probes};
use crate::model::{HookRecord, Outcome};

/// The io_uring hook: classic tracepoints, there wherever io_uring is built in.
pub fn record(outcome: Outcome) -> HookRecord {
    HookRecord::tracepoint_only(
        "uring",
        "io_uring send requests, their bytes and SEND_ZC notifications per thread",
        outcome,
    )
}

impl Probes {
    pub fn attach_uring(&mut self, intent: Intent) -> Result<HookRecord, ProbeError> {
        if intent == Intent::Trace {
            self.attach_tracepoints(&PROGRAMS)?;
        }
        Ok(record(Outcome::Used))
    }
}
