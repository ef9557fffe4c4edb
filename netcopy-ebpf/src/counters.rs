//! Counters family: cycles and instructions of a thread inside a traced call.
//!
//! Maps: `CYCLES` and `INSTRUCTIONS`, perf event arrays where user space puts one counter
//! per CPU (hardware counters where a PMU exists). Numbers: read with
//! bpf_perf_event_read_value at call entry, at every switch out and back in, and at exit, so
//! a call is charged only for the stretches its thread ran, on whichever CPU it ran.

use aya_ebpf::{
    bindings::{BPF_F_CURRENT_CPU, bpf_perf_event_value},
    helpers::generated::bpf_perf_event_read_value,
    macros::map,
    maps::PerfEventArray,
};

use netcopy_common::call::Inflight;

#[map]
static CYCLES: PerfEventArray<u32> = PerfEventArray::new(0);

#[map]
static INSTRUCTIONS: PerfEventArray<u32> = PerfEventArray::new(0);

/// The counter of this CPU in `map`.
#[inline(always)]
fn read(map: &PerfEventArray<u32>) -> Option<u64> {
    let mut value = bpf_perf_event_value {
        counter: 0,
        enabled: 0,
        running: 0,
    };
    // SAFETY: the map is a perf event array (the helper checks its type); the value buffer
    // is on this stack with its size.
    let rc = unsafe {
        bpf_perf_event_read_value(
            core::ptr::from_ref(map).cast_mut().cast(),
            BPF_F_CURRENT_CPU,
            &mut value,
            core::mem::size_of::<bpf_perf_event_value>() as u32,
        )
    };
    (rc == 0).then_some(value.counter)
}

/// Start a stretch on this CPU: remember where the counters are. A failed read (no counter
/// on this CPU) makes the call's counters invalid, so it gets nulls, never a wrong number.
#[inline(always)]
pub fn resume(call: &mut Inflight) {
    if call.counters != 1 {
        return;
    }
    match (read(&CYCLES), read(&INSTRUCTIONS)) {
        (Some(c), Some(i)) => {
            call.stretch_cycles = c;
            call.stretch_instructions = i;
        }
        _ => call.counters = 0,
    }
}

/// End a stretch on this CPU: add what the counters moved since [`resume`].
#[inline(always)]
pub fn pause(call: &mut Inflight) {
    if call.counters != 1 {
        return;
    }
    match (read(&CYCLES), read(&INSTRUCTIONS)) {
        (Some(c), Some(i)) => {
            call.cycles += c.wrapping_sub(call.stretch_cycles);
            call.instructions += i.wrapping_sub(call.stretch_instructions);
        }
        _ => call.counters = 0,
    }
}
