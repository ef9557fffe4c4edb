//! Sched family, user side: attach sched_switch as a BTF tracepoint, or as the classic
//! tracepoint when BTF (or the BTF program) is not available.
//!
//! Hooks: see `netcopy-ebpf/src/sched.rs`.

use aya::programs::{BtfTracePoint, TracePoint};

use super::{ProbeError, Probes, plan::Tried, root_cause};

impl Probes {
    /// Attach one of the two sched_switch programs. Returns what happened with tp_btf:
    /// `Ok` when it is the one attached, or why the classic tracepoint was used instead.
    pub fn attach_sched(&mut self) -> Result<Tried, ProbeError> {
        let tried = self.try_sched_btf(true);
        if tried.is_err() {
            self.mounted_tracefs |= super::ensure_tracefs()?;
            let name = "sched_switch";
            let program: &mut TracePoint = self.program(name)?;
            program
                .load()
                .map_err(|source| ProbeError::Program { name, source })?;
            program
                .attach("sched", "sched_switch")
                .map_err(|source| ProbeError::Program { name, source })?;
        }
        Ok(tried)
    }

    /// Load the BTF sched_switch program, and attach it if `attach`; unload it when it is
    /// only being checked or when attaching fails.
    pub fn try_sched_btf(&mut self, attach: bool) -> Tried {
        self.task_pid_offset.clone()?;
        let btf = aya::Btf::from_sys_fs().map_err(|e| format!("BTF: {}", root_cause(&e)))?;
        let program: &mut BtfTracePoint = self
            .program("sched_switch_btf")
            .map_err(|e| e.to_string())?;
        program
            .load("sched_switch", &btf)
            .map_err(|e| format!("refused by the kernel ({})", root_cause(&e)))?;
        if attach {
            if let Err(e) = program.attach() {
                let _ = program.unload();
                return Err(format!("refused by the kernel ({})", root_cause(&e)));
            }
            return Ok(());
        }
        program.unload().map_err(|e| e.to_string())
    }
}
