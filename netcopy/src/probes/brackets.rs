//! Brackets family, user side: attach the raw tracepoints that time NET_RX and NET_TX
//! softirqs and device transmits exactly inside a traced call.
//!
//! Hooks (`netcopy-ebpf/src/brackets.rs`, raw tracepoints; `netcopy_common::brackets`):
//! `irq:softirq_entry`/`softirq_exit`, `net:net_dev_start_xmit`/`net:net_dev_xmit`.
//! Numbers: `rx_softirq_ns`, `tx_softirq_ns` and `dev_xmit_ns` per call in syscalls.parquet,
//! and the stages they time in stages.parquet (method `tracepoint`). Where they are hidden
//! (`NETCOPY_HIDE=brackets`, or `rawtp`) or refused, those columns are null and the stages
//! come from sampling, which the run's fallbacks say.

use netcopy_common::{brackets::PROGRAMS, config::BRACKETS};

use super::{Intent, ProbeError, Probes};
use crate::model::{HookRecord, Method, Outcome, Step, attach::Feature};

/// The brackets hook: raw tracepoints, else the stages those brackets time are sampled
/// (`sampling`: what came of the stack sampler).
pub fn record(raw: Outcome, sampling: Outcome) -> HookRecord {
    HookRecord::new(
        "brackets",
        "exact ns of NET_RX/NET_TX softirqs and device transmits inside a call",
        vec![
            Step::new(Method::RawTp, raw),
            Step::new(Method::PerfEvent, sampling),
        ],
    )
}

impl Probes {
    /// Attach the four bracket programs and say so in the config word (a doctor loads and
    /// unloads them). `Used`, or why not: then none stays loaded.
    pub fn attach_brackets(&mut self, intent: Intent) -> Result<Outcome, ProbeError> {
        if [Feature::Brackets, Feature::RawTp]
            .into_iter()
            .any(|f| self.features.is_hidden(f))
        {
            return Ok(Outcome::Hidden(None));
        }
        let keep = intent == Intent::Trace;
        let tried = self.attach_raw_tps(&PROGRAMS, keep);
        if tried.is_ok() && keep {
            self.update_config(|word| word | BRACKETS)?;
        }
        Ok(Outcome::of(tried))
    }
}
