//! Exact tier, user side: fentry/fexit on the stage functions, where BPF trampolines load.
//!
//! Hooks: see `netcopy-ebpf/src/exact.rs`. On a kernel that refuses them (EPERM on the VMs
//! netcopy is developed on) nothing stays loaded, the records carry no exact times, and the
//! stage table comes from sampling alone.

use aya::programs::{FEntry, FExit};
use netcopy_common::{exact::FUNCTIONS, syscalls::CONFIG_EXACT};

use super::{ProbeError, Probes, plan::Tried, root_cause};

/// Program names of the fentry and fexit pair timing `FUNCTIONS[i]`.
fn names(i: usize) -> (&'static str, &'static str) {
    const ENTER: [&str; 5] = [
        "exact_enter_0",
        "exact_enter_1",
        "exact_enter_2",
        "exact_enter_3",
        "exact_enter_4",
    ];
    const EXIT: [&str; 5] = [
        "exact_exit_0",
        "exact_exit_1",
        "exact_exit_2",
        "exact_exit_3",
        "exact_exit_4",
    ];
    (ENTER[i], EXIT[i])
}

impl Probes {
    /// Whether trampolines load here: load the first fentry program and unload it again.
    pub fn try_fentry(&mut self) -> Tried {
        let btf = aya::Btf::from_sys_fs().map_err(|e| format!("BTF: {}", root_cause(&e)))?;
        let program: &mut FEntry = self.program(names(0).0).map_err(|e| e.to_string())?;
        program
            .load(FUNCTIONS[0], &btf)
            .map_err(|e| root_cause(&e))?;
        program.unload().map_err(|e| e.to_string())
    }

    /// Load and attach every fentry/fexit pair and switch per-call timing on. `Err(why)`
    /// when the kernel refuses any of them; then none stays loaded.
    pub fn attach_exact(&mut self) -> Result<Tried, ProbeError> {
        if let Err(e) = self.try_fentry() {
            return Ok(Err(e));
        }
        let btf = match aya::Btf::from_sys_fs() {
            Ok(btf) => btf,
            Err(e) => return Ok(Err(format!("BTF: {}", root_cause(&e)))),
        };
        let mut loaded: Vec<&'static str> = Vec::new();
        let mut result = Ok(());
        for (i, function) in FUNCTIONS.iter().enumerate() {
            let (enter, exit) = names(i);
            let attached = self.attach_pair(enter, exit, function, &btf, &mut loaded);
            if let Err(e) = attached {
                result = Err(format!("{function}: {e}"));
                break;
            }
        }
        if result.is_err() {
            for name in loaded {
                // Unloading detaches too; failures here leave nothing the kernel keeps once
                // the object is dropped.
                if name.starts_with("exact_enter") {
                    if let Ok(p) = self.program::<FEntry>(name) {
                        let _ = p.unload();
                    }
                } else if let Ok(p) = self.program::<FExit>(name) {
                    let _ = p.unload();
                }
            }
            return Ok(result);
        }
        self.update_config(|word| word | CONFIG_EXACT)?;
        Ok(Ok(()))
    }

    fn attach_pair(
        &mut self,
        enter: &'static str,
        exit: &'static str,
        function: &str,
        btf: &aya::Btf,
        loaded: &mut Vec<&'static str>,
    ) -> Result<(), String> {
        let program: &mut FEntry = self.program(enter).map_err(|e| e.to_string())?;
        program.load(function, btf).map_err(|e| root_cause(&e))?;
        loaded.push(enter);
        program.attach().map_err(|e| root_cause(&e))?;
        let program: &mut FExit = self.program(exit).map_err(|e| e.to_string())?;
        program.load(function, btf).map_err(|e| root_cause(&e))?;
        loaded.push(exit);
        program.attach().map_err(|e| root_cause(&e))?;
        Ok(())
    }
}
