//! Exact tier (where the kernel allows BPF trampolines): fentry/fexit on the stage functions.
//!
//! Hooks: `fentry`/`fexit` on each of `netcopy_common::exact::FUNCTIONS`. Numbers: the ns
//! spent inside each function while a traced call is in flight on the current thread, added
//! to `INFLIGHT[tid].exact_ns`. Work done in a softirq that interrupts a call (the loopback
//! receive path, zerocopy completions) is charged to that call, as sampling charges it.
//! On the kernel netcopy is developed on these programs are refused (EPERM) and not attached.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{fentry, fexit},
    programs::{FEntryContext, FExitContext},
};

use crate::syscalls::inflight;

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

/// An fentry and an fexit program on `$function`, timing slot `$i`.
macro_rules! timed {
    ($function:literal, $i:literal, $enter:ident, $exit:ident) => {
        #[fentry(function = $function)]
        pub fn $enter(_ctx: FEntryContext) -> u32 {
            enter($i)
        }

        #[fexit(function = $function)]
        pub fn $exit(_ctx: FExitContext) -> u32 {
            exit($i)
        }
    };
}

timed!("tcp_sendmsg_locked", 0, exact_enter_0, exact_exit_0);
timed!("skb_copy_datagram_iter", 1, exact_enter_1, exact_exit_1);
timed!("skb_copy_ubufs", 2, exact_enter_2, exact_exit_2);
timed!("__msg_zerocopy_callback", 3, exact_enter_3, exact_exit_3);
timed!("skb_zerocopy_iter_stream", 4, exact_enter_4, exact_exit_4);
