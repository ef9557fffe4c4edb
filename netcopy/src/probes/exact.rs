//! Exact tier, user side: fentry/fexit on the stage functions, where BPF trampolines load.
//!
//! Hooks (`netcopy-ebpf/src/exact.rs`): an fentry and an fexit program on each function of
//! `netcopy_common::exact::TIMED`, by the names that table gives. Numbers: per call, the ns
//! inside each function (`exact_*_ns` of syscalls.parquet). On a kernel that refuses them
//! (EPERM on the VMs netcopy is developed on) nothing stays loaded, the records carry no
//! exact times, and the stage table comes from sampling alone.

use aya::programs::{FEntry, FExit};
use netcopy_common::{
    config::EXACT,
    exact::{TIMED, Timed},
};

use super::{Intent, ProbeError, Probes, btf::VMLINUX, root_cause};
use crate::model::{HookRecord, Method, Outcome, Step, attach::Feature};

/// The stages hook: exact per-call times where fentry/fexit attach, sampled shares always
/// (`sampling`: what came of the stack sampler, see `sample`).
pub fn record(fentry: Outcome, sampling: Outcome) -> HookRecord {
    HookRecord::new(
        "stages",
        "kernel time by copy stage: sampled shares, plus exact per-call time of the stage functions where fentry/fexit load",
        vec![
            Step::new(Method::Fentry, fentry),
            Step::new(Method::PerfEvent, sampling),
        ],
    )
}

impl Probes {
    /// Attach every fentry/fexit pair and switch per-call timing on; a doctor only loads
    /// the first program and unloads it. `Used`, or why not: then none stays loaded.
    pub fn attach_exact(&mut self, intent: Intent) -> Result<Outcome, ProbeError> {
        if self.features.is_hidden(Feature::Fentry) {
            return Ok(Outcome::Hidden(None));
        }
        if !self.features.btf {
            return Ok(Outcome::Unavailable(format!("needs BTF ({VMLINUX})")));
        }
        let btf = match aya::Btf::from_sys_fs() {
            Ok(btf) => btf,
            Err(e) => return Ok(Outcome::Unavailable(format!("BTF: {}", root_cause(&e)))),
        };
        // Whether trampolines load here at all.
        let first = &TIMED[0];
        let program: &mut FEntry = self.program(first.enter)?;
        if let Err(e) = program.load(first.function, &btf) {
            return Ok(Outcome::Refused(root_cause(&e)));
        }
        let _ = program.unload();
        if intent == Intent::Doctor {
            return Ok(Outcome::Used);
        }
        let mut loaded: Vec<&'static str> = Vec::new();
        for timed in &TIMED {
            if let Err(e) = self.attach_pair(timed, &btf, &mut loaded) {
                self.unload_exact(&loaded);
                return Ok(Outcome::Refused(format!("{}: {e}", timed.function)));
            }
        }
        self.update_config(|word| word | EXACT)?;
        Ok(Outcome::Used)
    }

    fn attach_pair(
        &mut self,
        timed: &Timed,
        btf: &aya::Btf,
        loaded: &mut Vec<&'static str>,
    ) -> Result<(), String> {
        let program: &mut FEntry = self.program(timed.enter).map_err(|e| e.to_string())?;
        program
            .load(timed.function, btf)
            .map_err(|e| root_cause(&e))?;
        loaded.push(timed.enter);
        program.attach().map_err(|e| root_cause(&e))?;
        let program: &mut FExit = self.program(timed.exit).map_err(|e| e.to_string())?;
        program
            .load(timed.function, btf)
            .map_err(|e| root_cause(&e))?;
        loaded.push(timed.exit);
        program.attach().map_err(|e| root_cause(&e))?;
        Ok(())
    }

    /// Unload what [`Probes::attach_pair`] loaded (unloading detaches too; failures here
    /// leave nothing the kernel keeps once the object is dropped).
    fn unload_exact(&mut self, loaded: &[&'static str]) {
        for &name in loaded {
            if TIMED.iter().any(|t| t.enter == name) {
                if let Ok(p) = self.program::<FEntry>(name) {
                    let _ = p.unload();
                }
            } else if let Ok(p) = self.program::<FExit>(name) {
                let _ = p.unload();
            }
        }
    }
}
