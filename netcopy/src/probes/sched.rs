//! Sched family, user side: attach sched_switch as a BTF tracepoint, or as the classic
//! tracepoint when BTF (or the BTF program) is not available.
//!
//! Hooks (`netcopy-ebpf/src/sched.rs`): `tp_btf/sched_switch` (needs `task_struct.pid`'s
//! offset from BTF, set as the object's `TASK_PID_OFFSET`), else
//! `tracepoint/sched/sched_switch`. Numbers: off-CPU time and voluntary/involuntary switches
//! inside each call, and the time out by switch-out stack ([`Probes::offcpu`]).

use aya::{
    maps::{HashMap, MapData},
    programs::BtfTracePoint,
};
use netcopy_common::{
    maps::{OFFCPU, OFFCPU_STACKS},
    offcpu::{OffcpuKey, WaitFrames},
};

use super::{Intent, ProbeError, Probes, map_error};
use crate::model::{HookRecord, Method, Outcome, Step};

/// The programs: the BTF one, and the classic (program, category, name).
pub const BTF_PROGRAM: &str = "sched_switch_btf";
pub const CLASSIC: [(&str, &str, &str); 1] = [("sched_switch", "sched", "sched_switch")];

/// The sched_switch hook: what came of tp_btf and of the classic tracepoint.
pub fn record(btf: Outcome, classic: Outcome) -> HookRecord {
    HookRecord::new(
        "sched_switch",
        "off-CPU time and voluntary/involuntary switches inside a call",
        vec![
            Step::new(Method::TpBtf, btf),
            Step::new(Method::Tracepoint, classic),
        ],
    )
}

impl Probes {
    /// Attach the BTF program where it loads and attaches, else the classic one (a doctor
    /// only loads the BTF one, and unloads it).
    pub fn attach_sched(&mut self, intent: Intent) -> Result<HookRecord, ProbeError> {
        let btf = self.try_sched_btf(intent == Intent::Trace);
        let classic = self.fall_back(&btf, intent, &CLASSIC)?;
        Ok(record(Outcome::of(btf), classic))
    }

    /// Load the BTF program, and attach it if `attach`; unload it when it is only being
    /// checked or when attaching fails.
    fn try_sched_btf(&mut self, attach: bool) -> Result<(), Outcome> {
        self.task_pid_offset.clone()?;
        let btf = self.btf()?;
        self.attach_all::<BtfTracePoint>(
            &[(BTF_PROGRAM, "sched_switch")],
            attach,
            |p, tp| p.load(tp, &btf),
            |p, _| p.attach().map(|_| ()),
            BtfTracePoint::unload,
        )
    }
}

impl Probes {
    /// The off-CPU time by (thread, kind, reason, switch-out stack), and the stacks by
    /// hash (frames innermost first, 0 after the last).
    pub fn offcpu(&self) -> Result<OffcpuRead, ProbeError> {
        let times: HashMap<&MapData, OffcpuKey, u64> =
            HashMap::try_from(self.map(OFFCPU)?).map_err(map_error(OFFCPU))?;
        let stacks: HashMap<&MapData, u32, WaitFrames> =
            HashMap::try_from(self.map(OFFCPU_STACKS)?).map_err(map_error(OFFCPU_STACKS))?;
        Ok(OffcpuRead {
            times: times
                .iter()
                .map(|kv| kv.map_err(map_error(OFFCPU)))
                .collect::<Result<_, _>>()?,
            stacks: stacks
                .iter()
                .map(|kv| kv.map_err(map_error(OFFCPU_STACKS)))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// What the off-CPU maps held at the end of a trace.
pub struct OffcpuRead {
    pub times: Vec<(OffcpuKey, u64)>,
    pub stacks: std::collections::HashMap<u32, WaitFrames>,
}
