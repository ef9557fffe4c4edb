//! Sampled kernel stacks to stage shares: symbolize each stack with /proc/kallsyms, classify
//! it by its deepest stage frame, and add the samples up per role and syscall kind.

use std::collections::{BTreeMap, HashMap};

use netcopy_common::{sample::SampleKey, syscalls::SyscallKind};

use super::{
    kallsyms::Kallsyms,
    roles::Role,
    stages::{Stage, StageTable, classify},
};

/// Samples of one role and syscall kind, by stage.
pub struct StageBreakdown {
    pub role: Role,
    pub kind: SyscallKind,
    pub table: StageTable,
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
    /// Samples whose stack could not be recorded (bpf_get_stackid failed).
    pub lost_stacks: u64,
}

/// Fold the kernel's `(key, count)` pairs. `stack` returns the instruction pointers of a
/// stack id, innermost first; `role` names the role of a thread.
pub fn aggregate<E>(
    samples: &[(SampleKey, u64)],
    mut stack: impl FnMut(u32) -> Result<Vec<u64>, E>,
    syms: &Kallsyms,
    role: &impl Fn(u32) -> Role,
) -> Result<Sampled, E> {
    let mut out = Sampled::default();
    let mut resolved: HashMap<i32, (String, Stage)> = HashMap::new();
    let mut tables: BTreeMap<(Role, SyscallKind), StageTable> = BTreeMap::new();
    let mut folded: BTreeMap<(Role, SyscallKind, String), (Stage, u64)> = BTreeMap::new();
    for (key, count) in samples {
        let Some(kind) = SyscallKind::from_u8(key.kind) else {
            continue;
        };
        if key.stack_id < 0 {
            out.lost_stacks += count;
            continue;
        }
        let (text, stage) = match resolved.entry(key.stack_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let ips = stack(key.stack_id as u32)?;
                let frames: Vec<&str> = ips
                    .iter()
                    .rev()
                    .map(|ip| syms.resolve(*ip).unwrap_or("[unknown]"))
                    .collect();
                e.insert((frames.join(";"), classify(&frames)))
            }
        };
        let r = role(key.tid);
        tables.entry((r, kind)).or_default().add(*stage, *count);
        folded
            .entry((r, kind, text.clone()))
            .or_insert((*stage, 0))
            .1 += count;
    }
    out.breakdowns = tables
        .into_iter()
        .map(|((role, kind), table)| StageBreakdown { role, kind, table })
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
