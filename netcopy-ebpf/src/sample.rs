//! Sampling family: the kernel stack of a target thread caught inside a traced call.
//!
//! Hook: `perf_event` on the software CPU clock (one per CPU, user space sets the rate).
//! Numbers: `SAMPLES[{tid, kind, stack_id}] += 1`; the stacks themselves in `STACKS`.
//! The clock cannot fire while interrupts are off, so samples pile up where they are
//! re-enabled (docs/methodology.md says how that skews shares).

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{map, perf_event},
    maps::{HashMap, StackTrace},
    programs::{PerfEventContext, tracing::StackIdContext},
};
use netcopy_common::{
    maps::{MAX_SAMPLE_KEYS, MAX_STACKS},
    sample::SampleKey,
};

use crate::call::inflight;

#[map]
static STACKS: StackTrace = StackTrace::with_max_entries(MAX_STACKS, 0);

#[map]
static SAMPLES: HashMap<SampleKey, u64> = HashMap::with_max_entries(MAX_SAMPLE_KEYS, 0);

#[perf_event]
pub fn sample_stack(ctx: PerfEventContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(call) = inflight(tid) else {
        return 0;
    };
    // SAFETY: pointer from the map lookup; only the kind is read.
    let kind = unsafe { (*call).kind };
    // Flags 0: the kernel stack. Collisions and faults keep their (negative) error as the id.
    let stack_id = match ctx.get_stackid(&STACKS, 0) {
        Ok(id) => id as i32,
        Err(e) => e,
    };
    let key = SampleKey {
        tid,
        stack_id,
        kind,
        _pad: [0; 7],
    };
    match SAMPLES.get_ptr_mut(&key) {
        // SAFETY: pointer from the lookup. Two CPUs never sample the same thread at once.
        Some(n) => unsafe { *n += 1 },
        None => {
            let _ = SAMPLES.insert(&key, &1, 0);
        }
    }
    0
}
