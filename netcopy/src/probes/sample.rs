//! Sampling family, user side: attach the CPU-clock stack sampler on every CPU and read the
//! aggregated samples and their stacks back.
//!
//! Hook (`netcopy-ebpf/src/sample.rs`): `perf_event` PERF_COUNT_SW_CPU_CLOCK, one event per
//! online CPU, at a frequency. Numbers: samples per (thread, syscall kind, kernel stack).

use aya::{
    maps::{HashMap, MapData, StackTraceMap},
    programs::{
        PerfEvent,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
    util::online_cpus,
};
use netcopy_common::{
    maps::{SAMPLES, STACKS},
    sample::SampleKey,
};

use super::{ProbeError, Probes, map_error, program_error};

pub const PROGRAM: &str = "sample_stack";

/// Default sampling frequency per CPU: about 1 kHz, off the tick's multiples. Chosen from
/// measured precision (docs/methodology.md, "How precise the stage shares are"): at this
/// rate a 10 s run's stage shares have a 95% interval of about +-1 point, and the sampler
/// costs about 2 points of a traced 1K run's throughput instead of 10 at 4,999 Hz.
pub const DEFAULT_HZ: u64 = 999;

impl Probes {
    /// Sample the kernel stacks of target threads inside traced calls at `hz` per CPU.
    /// Returns the number of CPUs sampled.
    pub fn attach_sampling(&mut self, hz: u64) -> Result<usize, ProbeError> {
        let name = PROGRAM;
        let cpus = online_cpus().map_err(|(path, e)| ProbeError::Cpus(format!("{path}: {e}")))?;
        let program: &mut PerfEvent = self.program(name)?;
        program.load().map_err(program_error(name))?;
        for cpu in &cpus {
            program
                .attach(
                    PerfEventConfig::Software(SoftwareEvent::CpuClock),
                    PerfEventScope::AllProcessesOneCpu { cpu: *cpu },
                    SamplePolicy::Frequency(hz),
                    false,
                )
                .map_err(program_error(name))?;
        }
        Ok(cpus.len())
    }

    /// Every (thread, kind, stack) and its sample count.
    pub fn samples(&self) -> Result<Vec<(SampleKey, u64)>, ProbeError> {
        let samples: HashMap<&MapData, SampleKey, u64> =
            HashMap::try_from(self.map(SAMPLES)?).map_err(map_error(SAMPLES))?;
        samples
            .iter()
            .map(|kv| kv.map_err(map_error(SAMPLES)))
            .collect()
    }

    /// The instruction pointers of stack `id`, innermost first.
    pub fn stack(&self, id: u32) -> Result<Vec<u64>, ProbeError> {
        let stacks: StackTraceMap<&MapData> =
            StackTraceMap::try_from(self.map(STACKS)?).map_err(map_error(STACKS))?;
        let trace = stacks.get(&id, 0).map_err(map_error(STACKS))?;
        Ok(trace.frames().iter().map(|f| f.ip).collect())
    }
}
