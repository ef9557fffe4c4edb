//! Switch-out stacks to folded off-CPU stacks: symbolize each stack the sched family kept
//! (`OFFCPU_STACKS`, at most `STACK_DEPTH` frames from the switch), drop the tracer's own
//! frames below `__schedule`, and add the time out up per role, syscall kind, reason and
//! stack. Numbers: [`OffcpuStack`]s, the off-CPU flame graph's rows.

use std::collections::{BTreeMap, HashMap};

use netcopy_common::{
    offcpu::{OffcpuKey, Reason, WaitFrames},
    syscalls::SyscallKind,
};

use super::kallsyms::Kallsyms;
use crate::{model::Role, workload::watch::Roles};

/// The frame every switch goes through; the frames inside it are the tracepoint's and the
/// program's.
const SWITCH: &str = "__schedule";

/// One switch-out stack of one role and kind, with the time spent out at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffcpuStack {
    pub role: Role,
    pub kind: SyscallKind,
    pub reason: Reason,
    /// `syscall;outer;...;__schedule`: the call's name, then the frames read.
    pub folded: String,
    pub ns: u64,
}

/// Fold the kernel's `(key, ns)` pairs with their stacks (`stacks`: frames innermost
/// first, 0 after the last). Time at a stack the map had no room for is left out here (it
/// still counts in the reasons of syscalls.parquet).
pub fn fold(
    times: &[(OffcpuKey, u64)],
    stacks: &HashMap<u32, WaitFrames>,
    syms: &Kallsyms,
    roles: &Roles,
) -> Vec<OffcpuStack> {
    let mut text: HashMap<u32, String> = HashMap::new();
    let mut sum: BTreeMap<(Role, SyscallKind, Reason, String), u64> = BTreeMap::new();
    for (key, ns) in times {
        let (Some(kind), Some(reason)) = (
            SyscallKind::from_u8(key.kind),
            Reason::ALL.get(usize::from(key.reason)).copied(),
        ) else {
            continue;
        };
        let Some(frames) = stacks.get(&key.stack) else {
            continue;
        };
        let folded = text
            .entry(key.stack)
            .or_insert_with(|| folded(frames, syms))
            .clone();
        *sum.entry((roles.of(key.tid), kind, reason, folded))
            .or_default() += ns;
    }
    sum.into_iter()
        .map(|((role, kind, reason, stack), ns)| OffcpuStack {
            role,
            kind,
            reason,
            folded: if stack.is_empty() {
                kind.name().to_owned()
            } else {
                format!("{};{stack}", kind.name())
            },
            ns,
        })
        .collect()
}

/// `outer;...;__schedule` of a stack stored innermost first.
fn folded(frames: &WaitFrames, syms: &Kallsyms) -> String {
    let read = frames.iter().take_while(|ip| **ip != 0).count();
    let names = syms.outer_first(&frames[..read]);
    // Outermost first: `__schedule` and what is outside it.
    let to = names
        .iter()
        .rposition(|n| *n == SWITCH)
        .map_or(names.len(), |i| i + 1);
    names[..to].join(";")
}

#[cfg(test)]
mod tests {
    use netcopy_common::offcpu::{STACK_DEPTH, stack_hash};

    use super::*;

    #[test]
    fn the_tracers_frames_go_and_time_adds_up_per_stack() {
        let syms = Kallsyms::parse(
            "1000 T bpf_trace_run4\n2000 T __schedule\n3000 T schedule\n\
             4000 T sk_wait_data\n5000 T tcp_recvmsg\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut frames = [0u64; STACK_DEPTH];
        frames[..5].copy_from_slice(&[0x1001, 0x2001, 0x3001, 0x4001, 0x5001]);
        let hash = stack_hash(&frames, STACK_DEPTH);
        let stacks = HashMap::from([(hash, frames)]);
        let key = |tid, stack| OffcpuKey {
            tid,
            stack,
            kind: SyscallKind::Recvmsg as u8,
            reason: Reason::Data as u8,
            _pad: [0; 6],
        };
        // Two threads of no role at the same stack; one stack the map had no room for.
        let times = [(key(7, hash), 300), (key(8, hash), 200), (key(7, 99), 50)];
        let out = fold(&times, &stacks, &syms, &Roles::default());
        assert_eq!(
            out,
            [OffcpuStack {
                role: Role::Other,
                kind: SyscallKind::Recvmsg,
                reason: Reason::Data,
                folded: "recvmsg;tcp_recvmsg;sk_wait_data;schedule;__schedule".into(),
                ns: 500,
            }]
        );
    }
}
