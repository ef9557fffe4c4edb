//! Sampling family: the kernel stack of a target thread caught inside a traced call.
//!
//! Hook: `perf_event` on the software CPU clock (one per CPU, user space sets the rate).
//! Numbers: one [`StackSample`] per sample (thread, kind, the whole kernel stack from
//! bpf_get_stack) into `SAMPLE_RING`, which user space reads and counts; `SAMPLE_LOST`
//! counts the samples the ring had no room for. bpf_get_stack and one ring write cost less
//! than bpf_get_stackid and a hash-map count (docs/methodology.md, "The sampler without its
//! hash maps"). `sample_walk` is its calibration twin: the same stack reads, nothing sent.
//! The clock cannot fire while interrupts are off, so samples pile up where they are
//! re-enabled (docs/methodology.md says how that skews shares).

use aya_ebpf::{
    EbpfContext,
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_get_stack, bpf_ringbuf_output},
    },
    macros::{map, perf_event},
    maps::{PerCpuArray, RingBuf},
    programs::PerfEventContext,
};
use netcopy_common::sample::{
    SAMPLE_FRAME_MASK, SAMPLE_FRAMES, SAMPLE_HEADER, SAMPLE_RING_BYTES, StackSample,
};

use crate::call::inflight;

#[map]
static SAMPLE_RING: RingBuf = RingBuf::with_byte_size(SAMPLE_RING_BYTES, 0);

#[map]
static SAMPLE_BUF: PerCpuArray<StackSample> = PerCpuArray::with_max_entries(1, 0);

#[map]
static SAMPLE_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// User space reads the ring on a timer: no wake-up (an interrupt) per sample.
const BPF_RB_NO_WAKEUP: u64 = 1;

/// The current thread's sample, its stack read into this CPU's slot: `None` when the thread
/// has no traced call in flight. Returns the slot and what bpf_get_stack returned.
#[inline(always)]
fn read_stack(ctx: &PerfEventContext) -> Option<(*mut StackSample, i64)> {
    let tid = bpf_get_current_pid_tgid() as u32;
    let call = inflight(tid)?;
    let sample = SAMPLE_BUF.get_ptr_mut(0)?;
    // SAFETY: this CPU's slot (perf_event programs do not nest on a CPU); the helper writes
    // at most the size given, which is the slot's frames; only the call's kind is read.
    let len = unsafe {
        let sample = &mut *sample;
        sample.tid = tid;
        sample.kind = (*call).kind;
        // Flags 0: the kernel stack.
        let len = bpf_get_stack(
            ctx.as_ptr(),
            sample.frames.as_mut_ptr().cast(),
            (8 * SAMPLE_FRAMES) as u32,
            0,
        );
        sample.len = len as i32;
        len
    };
    Some((sample, len))
}

#[perf_event]
pub fn sample_stack(ctx: PerfEventContext) -> u32 {
    let Some((sample, len)) = read_stack(&ctx) else {
        return 0;
    };
    // Only the frames filled go to user space; a failed walk sends its header (and error).
    let frames = if len > 0 { len as u64 } else { 0 };
    let bytes = SAMPLE_HEADER as u64 + (frames & SAMPLE_FRAME_MASK as u64);
    // SAFETY: `bytes` is at most the slot's size (the mask bounds it for the verifier too).
    let sent = unsafe {
        bpf_ringbuf_output(
            core::ptr::addr_of!(SAMPLE_RING).cast_mut().cast(),
            sample.cast(),
            bytes,
            BPF_RB_NO_WAKEUP,
        )
    };
    if sent != 0
        && let Some(lost) = SAMPLE_LOST.get_ptr_mut(0)
    {
        // SAFETY: this CPU's slot.
        unsafe { *lost += 1 };
    }
    0
}

/// The sampler without its output: the same samples and stack reads, nothing sent. A
/// calibration (`NETCOPY_HIDE=samplering`): `cargo xtask bench` measures its cost per
/// sample beside `sample_stack`'s, which shows what the kernel's stack walk alone costs.
#[perf_event]
pub fn sample_walk(ctx: PerfEventContext) -> u32 {
    let _ = read_stack(&ctx);
    0
}
