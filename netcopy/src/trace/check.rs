//! The cross-check of a traced run of the built-in workload: for every workload thread and
//! syscall kind, the workload's own count beside the kernel's exact total (`THREADS`) and
//! the records that reached user space; and its context switches inside traced calls beside
//! its lifetime total (getrusage); and for the uring modes, the send requests and SEND_ZC
//! notifications the io_uring tracepoints saw beside the workload's counts.

use netcopy_common::syscalls::SyscallKind;

use super::{
    TraceError,
    session::{Ended, Session},
};
use crate::{
    model::{CallCounts, ProbeCheck, RequestCheck, SwitchCheck, ThreadCheck, check::SEND_REQUESTS},
    workload::{run::RunOutcome, watch::Roles},
};

/// The workload's own count of the calls the kernel files under `kind`.
fn workload_calls(c: &CallCounts, kind: SyscallKind) -> u64 {
    match kind {
        SyscallKind::Sendto => c.sendto,
        SyscallKind::Sendmsg => c.sendmsg,
        SyscallKind::Recvfrom => c.recvfrom,
        // Completion reads are recvmsg(MSG_ERRQUEUE) calls.
        SyscallKind::Recvmsg => c.recvmsg + c.errqueue,
        // The workload never uses these on its sockets.
        SyscallKind::Write | SyscallKind::Read | SyscallKind::Writev | SyscallKind::Readv => 0,
        // The uring modes' submits and waits.
        SyscallKind::IoUringEnter => c.uring_enter,
    }
}

pub fn probe_check(
    outcome: &RunOutcome,
    ended: &Ended,
    session: &Session,
    roles: &Roles,
) -> Result<ProbeCheck, TraceError> {
    let senders = outcome
        .served
        .iter()
        .map(|s| (&s.report.end, s.report.zerocopy.as_ref()));
    let receivers = outcome.client.receivers.iter().map(|r| (&r.end, None));
    let mut threads = Vec::new();
    let mut requests = Vec::new();
    let mut switches = Vec::new();
    let mut request_events_lost = 0;
    let (mut request_rows, mut unnotified) = (0, 0);
    for (end, zerocopy) in senders.chain(receivers) {
        let tid = end.tid;
        let role = roles.of(tid);
        switches.push(SwitchCheck {
            tid,
            role,
            in_calls: ended.collected.switches(tid),
            thread: end.switches,
            setup: end.setup_switches,
        });
        let kernel = session.probes.call_counts(tid)?;
        request_events_lost += kernel.uring_lost;
        let of = |m: &std::collections::BTreeMap<u32, u64>| m.get(&tid).copied().unwrap_or(0);
        request_rows += of(&ended.requests.rows);
        unnotified += of(&ended.requests.unnotified);
        if end.calls.uring_sends > 0 || kernel.uring_sends > 0 {
            // SEND_ZC's notifications; MSG_ZEROCOPY's come through recvmsg, counted above.
            let zc = zerocopy.filter(|z| z.fixed_buffers.is_some());
            for (what, workload, kernel) in [
                (SEND_REQUESTS, end.calls.uring_sends, kernel.uring_sends),
                (
                    "notifications",
                    zc.map_or(0, |z| z.completed),
                    kernel.uring_notifs,
                ),
                ("copied", zc.map_or(0, |z| z.copied), kernel.uring_copied),
            ] {
                requests.push(RequestCheck {
                    tid,
                    role,
                    what,
                    workload,
                    kernel,
                });
            }
        }
        for kind in SyscallKind::ALL {
            threads.push(ThreadCheck {
                tid,
                role,
                syscall: kind.name(),
                workload: workload_calls(&end.calls, kind),
                kernel: kernel.calls[kind as usize],
                records: ended.collected.calls(tid, kind),
            });
        }
    }
    Ok(ProbeCheck {
        method: session.meta.attach_methods.clone(),
        lost: ended.lost,
        fallbacks: session.meta.fallbacks.clone(),
        threads,
        requests,
        request_rows,
        unnotified,
        request_events_lost,
        switches,
        tail_rows: ended.collected.rows_only.then_some(ended.collected.rows),
        // Set once the samples are read (`trace::trace`).
        stackless_samples: None,
    })
}
