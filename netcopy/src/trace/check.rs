//! The cross-check of a traced run of the built-in workload: for every workload thread and
//! syscall kind, the workload's own count beside the kernel's exact total (`THREADS`) and
//! the records that reached user space; and its context switches inside traced calls beside
//! its lifetime total (getrusage).

use netcopy_common::syscalls::SyscallKind;

use super::{
    TraceError,
    session::{Ended, Session},
};
use crate::{
    model::{CallCounts, ProbeCheck, SwitchCheck, ThreadCheck},
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
    }
}

pub fn probe_check(
    outcome: &RunOutcome,
    ended: &Ended,
    session: &Session,
    roles: &Roles,
) -> Result<ProbeCheck, TraceError> {
    let senders = outcome.served.iter().map(|s| &s.report.end);
    let receivers = outcome.client.receivers.iter().map(|r| &r.end);
    let mut threads = Vec::new();
    let mut switches = Vec::new();
    for end in senders.chain(receivers) {
        let tid = end.tid;
        let role = roles.of(tid);
        switches.push(SwitchCheck {
            tid,
            role,
            in_calls: ended.collected.switches(tid),
            thread: end.switches,
        });
        let kernel = session.probes.call_counts(tid)?;
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
        switches,
        tail_rows: ended.collected.rows_only.then_some(ended.collected.rows),
    })
}
