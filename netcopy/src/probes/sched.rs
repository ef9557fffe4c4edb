//! Sched family, user side: attach sched_switch as a BTF tracepoint, or as the classic
//! tracepoint when BTF (or the BTF program) is not available.
//!
//! Hooks (`netcopy-ebpf/src/sched.rs`): `tp_btf/sched_switch` (needs `task_struct.pid`'s
//! offset from BTF, set as the object's `TASK_PID_OFFSET`), else
//! `tracepoint/sched/sched_switch`. Numbers: off-CPU time and voluntary/involuntary switches
//! inside each call.

use aya::programs::BtfTracePoint;

use super::{Intent, ProbeError, Probes};
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
            Step {
                method: Method::TpBtf,
                outcome: btf,
            },
            Step {
                method: Method::Tracepoint,
                outcome: classic,
            },
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
