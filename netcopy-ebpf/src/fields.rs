//! Reading a classic tracepoint's record: fields straight from the context at their offsets
//! in `events/<category>/<name>/format` (the verifier allows aligned reads of the record;
//! bpf_probe_read would cost a helper call per field).

use aya_ebpf::{EbpfContext as _, programs::TracePointContext};

/// Field of a classic tracepoint's record at `offset`.
///
/// # Safety
/// `offset` must be a field of type `T` in the tracepoint's format, aligned to its size.
#[inline(always)]
pub unsafe fn field<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: the caller names a field of the record the context points to.
    unsafe { core::ptr::read(ctx.as_ptr().cast::<u8>().wrapping_add(offset).cast::<T>()) }
}
