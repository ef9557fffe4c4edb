//! Exact tier (where the kernel allows BPF trampolines): fentry/fexit on the stage functions.
//!
//! Hooks: `fentry`/`fexit` on each function of `netcopy_common::exact::TIMED`. Numbers: the
//! ns spent inside each function while a traced call is in flight on the current thread,
//! added to `THREADS[tid].call.exact_ns[slot]`. Work done in a softirq that interrupts a call
//! (the loopback receive path, zerocopy completions) is charged to that call, as sampling
//! charges it. On the kernel netcopy is developed on these programs are refused (EPERM) and
//! not attached.
//!
//! The attribute needs the function's name as a literal; `timed!` checks at compile time that
//! each literal, its slot and its two program names are `TIMED`'s, and that every entry of
//! `TIMED` has its programs here.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{fentry, fexit},
    programs::{FEntryContext, FExitContext},
};
use netcopy_common::{
    exact::{EXACT_FNS, TIMED, slot},
    same,
};

use crate::call::inflight;

/// Function `i` was entered: remember when, if the thread is inside a timed call.
#[inline(always)]
fn enter(i: usize) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    if let Some(call) = inflight(tid) {
        // SAFETY: pointer from the map lookup; only this thread's CPU touches its entry.
        unsafe {
            if (*call).exact == 1 {
                if let Some(start) = (*call).exact_start.get_mut(i) {
                    *start = bpf_ktime_get_ns();
                }
            }
        }
    }
    0
}

/// Function `i` returned: add the time since [`enter`].
#[inline(always)]
fn exit(i: usize) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    if let Some(call) = inflight(tid) {
        // SAFETY: as in `enter`.
        unsafe {
            if let (Some(start), Some(sum)) =
                ((*call).exact_start.get_mut(i), (*call).exact_ns.get_mut(i))
            {
                if *start != 0 {
                    let ns = bpf_ktime_get_ns().saturating_sub(*start);
                    *sum = sum.saturating_add(ns.min(u32::MAX as u64) as u32);
                    *start = 0;
                }
            }
        }
    }
    0
}

/// An fentry and an fexit program on each `$function`, timing its slot of `TIMED`.
macro_rules! timed {
    ($($function:literal => $enter:ident, $exit:ident;)+) => {
        $(
            #[fentry(function = $function)]
            pub fn $enter(_ctx: FEntryContext) -> u32 {
                const SLOT: usize = slot($function);
                const _: () = assert!(SLOT < EXACT_FNS, "not a function of TIMED");
                const _: () = assert!(same(TIMED[SLOT].enter, stringify!($enter)));
                enter(SLOT)
            }

            #[fexit(function = $function)]
            pub fn $exit(_ctx: FExitContext) -> u32 {
                const SLOT: usize = slot($function);
                const _: () = assert!(same(TIMED[SLOT].exit, stringify!($exit)));
                exit(SLOT)
            }
        )+
        // As many pairs as TIMED has functions, each a different one: every entry is here.
        const _: () = {
            let functions = [$($function),+];
            assert!(functions.len() == EXACT_FNS);
            let mut i = 0;
            while i < functions.len() {
                let mut j = i + 1;
                while j < functions.len() {
                    assert!(!same(functions[i], functions[j]));
                    j += 1;
                }
                i += 1;
            }
        };
    };
}

timed! {
    "tcp_sendmsg_locked" => exact_enter_0, exact_exit_0;
    "skb_copy_datagram_iter" => exact_enter_1, exact_exit_1;
    "skb_copy_ubufs" => exact_enter_2, exact_exit_2;
    "__msg_zerocopy_callback" => exact_enter_3, exact_exit_3;
    "skb_zerocopy_iter_stream" => exact_enter_4, exact_exit_4;
}
