//! Sampled kernel stacks to stage shares: symbolize each stack (the sample reader's keys
//! and frames, `probes::sample`) with /proc/kallsyms, classify it by its deepest stage
//! frame, and add the samples up per role and syscall kind. Numbers: [`StageTable`]s per
//! role and kind, the folded stacks behind them, and [`StageRow`]s per role for the
//! summary.

use std::collections::{BTreeMap, HashMap};

use netcopy_common::{sample::SampleKey, stage::Stage, syscalls::SyscallKind};

use super::{
    combine::{OnCpu, Scopes, combine, exact_of},
    kallsyms::Kallsyms,
    stages::{StageTable, classify, scope_of},
};
use crate::{
    model::{Role, StageRow, SyscallSummary},
    workload::watch::Roles,
};

/// Samples of one role and syscall kind, by stage.
pub struct StageBreakdown {
    pub role: Role,
    pub kind: SyscallKind,
    pub table: StageTable,
    /// The samples of `table` that fell inside each bracket (`stages::SCOPES` order).
    pub scopes: Scopes,
}

/// One folded stack (`outer;...;inner`) with its samples.
pub struct FoldedStack {
    pub role: Role,
    pub kind: SyscallKind,
    pub stage: Stage,
    pub folded: String,
    pub samples: u64,
}

/// Everything the sampler saw.
#[derive(Default)]
pub struct Sampled {
    pub breakdowns: Vec<StageBreakdown>,
    pub stacks: Vec<FoldedStack>,
    /// Samples whose stack could not be recorded (bpf_get_stack failed, or the sample ring
    /// was full).
    pub lost_stacks: u64,
    /// Samples of write/read/writev/readv calls on files or pipes, left out.
    pub not_socket: u64,
}

impl Sampled {
    /// Each role's time in each stage, summed over syscall kinds: the samples combined
    /// with the role's on-CPU time and exact stage times from `syscalls` (see `combine`;
    /// `period_ns` for roles without calls in `syscalls`).
    pub fn stage_rows(&self, syscalls: &[SyscallSummary], period_ns: u64) -> Vec<StageRow> {
        let mut rows = Vec::new();
        for role in Role::ALL {
            let mut table = StageTable::default();
            let mut scopes = Scopes::default();
            for b in self.breakdowns.iter().filter(|b| b.role == role) {
                table.merge(&b.table);
                for (a, s) in scopes.iter_mut().zip(&b.scopes) {
                    a.merge(s);
                }
            }
            let calls: Vec<&SyscallSummary> = syscalls.iter().filter(|r| r.role == role).collect();
            if table.total() == 0 && calls.is_empty() {
                continue;
            }
            rows.extend(
                combine(
                    &table,
                    &scopes,
                    OnCpu::of(&calls, period_ns),
                    &exact_of(&calls),
                )
                .into_iter()
                .map(|c| StageRow {
                    role,
                    stage: c.stage.name(),
                    samples: c.samples,
                    est_ns: c.est_ns,
                    share: c.share,
                    method: c.method.name(),
                    exact_share: c.exact_share,
                    skew_pts: c.skew_pts,
                }),
            );
        }
        rows
    }
}

/// The frames through which write/read/writev/readv reach a socket.
const SOCKET_IO: [&str; 2] = ["sock_write_iter", "sock_read_iter"];

/// Fold the kernel's `(key, count)` pairs. `stack` returns the instruction pointers of a
/// stack id, innermost first; `role` names the role of a thread.
pub fn aggregate<E>(
    samples: &[(SampleKey, u64)],
    mut stack: impl FnMut(u32) -> Result<Vec<u64>, E>,
    syms: &Kallsyms,
    roles: &Roles,
) -> Result<Sampled, E> {
    let mut out = Sampled::default();
    // Per stack: its folded text, its stage, its bracket, and whether it went through a
    // socket.
    let mut resolved: HashMap<i32, (String, Stage, Option<usize>, bool)> = HashMap::new();
    let mut tables: BTreeMap<(Role, SyscallKind), (StageTable, Scopes)> = BTreeMap::new();
    let mut folded: BTreeMap<(Role, SyscallKind, String), (Stage, u64)> = BTreeMap::new();
    for (key, count) in samples {
        let Some(kind) = SyscallKind::from_u8(key.kind) else {
            continue;
        };
        if key.stack_id < 0 {
            out.lost_stacks += count;
            continue;
        }
        let (text, stage, scope, socket) = match resolved.entry(key.stack_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let ips = stack(key.stack_id as u32)?;
                let frames = syms.outer_first(&ips);
                let socket = frames.iter().any(|f| SOCKET_IO.contains(f));
                e.insert((
                    frames.join(";"),
                    classify(&frames),
                    scope_of(&frames),
                    socket,
                ))
            }
        };
        // write/read/writev/readv are traced on every fd; a sample counts only when the
        // call went through a socket (its records are filtered the same way in the kernel).
        if kind.socket_only_if_seen() && !*socket {
            out.not_socket += count;
            continue;
        }
        let r = roles.of(key.tid);
        let (table, scopes) = tables.entry((r, kind)).or_default();
        table.add(*stage, *count);
        if let Some(scope) = scopes.get_mut(scope.unwrap_or(usize::MAX)) {
            scope.add(*stage, *count);
        }
        folded
            .entry((r, kind, text.clone()))
            .or_insert((*stage, 0))
            .1 += count;
    }
    out.breakdowns = tables
        .into_iter()
        .map(|((role, kind), (table, scopes))| StageBreakdown {
            role,
            kind,
            table,
            scopes,
        })
        .collect();
    out.stacks = folded
        .into_iter()
        .map(|((role, kind, folded), (stage, samples))| FoldedStack {
            role,
            kind,
            stage,
            folded,
            samples,
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_writes_are_left_out_and_socket_writes_classified() {
        let syms = Kallsyms::parse(
            "1000 T ksys_write\n2000 T sock_write_iter\n3000 T tcp_sendmsg_locked\n\
             4000 T _copy_from_iter\n5000 T ext4_file_write_iter\n",
        )
        .unwrap();
        // Innermost first, as the kernel stores them.
        let stacks = |id: u32| -> Result<Vec<u64>, ()> {
            Ok(match id {
                1 => vec![0x4001, 0x3001, 0x2001, 0x1001],
                _ => vec![0x5001, 0x1001],
            })
        };
        let key = |tid, stack_id, kind: SyscallKind| SampleKey {
            tid,
            stack_id,
            kind: kind as u8,
            _pad: [0; 7],
        };
        let samples = [
            (key(7, 1, SyscallKind::Write), 10),
            (key(7, 2, SyscallKind::Write), 4),
            (key(7, -14, SyscallKind::Sendmsg), 2),
        ];
        let out = aggregate(&samples, stacks, &syms, &Roles::default()).unwrap();
        assert_eq!(out.not_socket, 4);
        assert_eq!(out.lost_stacks, 2);
        assert_eq!(out.breakdowns.len(), 1);
        assert_eq!(out.breakdowns[0].table.get(Stage::CopyUserToSkb), 10);
        assert_eq!(out.stacks.len(), 1);
        assert_eq!(
            out.stacks[0].folded,
            "ksys_write;sock_write_iter;tcp_sendmsg_locked;_copy_from_iter"
        );
    }
}
