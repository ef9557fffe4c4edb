//! Sampling family, user side: attach the CPU-clock stack sampler on every CPU and read the
//! aggregated samples and their stacks back.
//!
//! Hook: `perf_event` PERF_COUNT_SW_CPU_CLOCK, one event per online CPU, at a frequency.

use aya::{
    maps::{HashMap, MapData, StackTraceMap},
    programs::{
        PerfEvent,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
    util::online_cpus,
};
use netcopy_common::sample::{SAMPLES_MAP, STACKS_MAP, SampleKey};

use super::{ProbeError, Probes};

const PROGRAM: &str = "sample_stack";

/// Default sampling frequency per CPU: about 5 kHz, off the 1 kHz tick multiples.
pub const DEFAULT_HZ: u64 = 4999;

/// How the stage samples were taken, saved with the run.
pub const METHOD: &str = "perf_event cpu-clock";

impl Probes {
    /// Sample the kernel stacks of target threads inside traced calls at `hz` per CPU.
    /// Returns the number of CPUs sampled.
    pub fn attach_sampling(&mut self, hz: u64) -> Result<usize, ProbeError> {
        let name = PROGRAM;
        let cpus = online_cpus().map_err(|(path, e)| ProbeError::Cpus(format!("{path}: {e}")))?;
        let program: &mut PerfEvent = self.program(name)?;
        program
            .load()
            .map_err(|source| ProbeError::Program { name, source })?;
        for cpu in &cpus {
            program
                .attach(
                    PerfEventConfig::Software(SoftwareEvent::CpuClock),
                    PerfEventScope::AllProcessesOneCpu { cpu: *cpu },
                    SamplePolicy::Frequency(hz),
                    false,
                )
                .map_err(|source| ProbeError::Program { name, source })?;
        }
        Ok(cpus.len())
    }

    /// Every (thread, kind, stack) and its sample count.
    pub fn samples(&self) -> Result<Vec<(SampleKey, u64)>, ProbeError> {
        let name = SAMPLES_MAP;
        let map = self
            .ebpf
            .map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        let samples: HashMap<&MapData, SampleKey, u64> =
            HashMap::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        samples
            .iter()
            .map(|kv| kv.map_err(|source| ProbeError::Map { name, source }))
            .collect()
    }

    /// The instruction pointers of stack `id`, innermost first.
    pub fn stack(&self, id: u32) -> Result<Vec<u64>, ProbeError> {
        let name = STACKS_MAP;
        let map = self
            .ebpf
            .map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        let stacks: StackTraceMap<&MapData> =
            StackTraceMap::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        let trace = stacks
            .get(&id, 0)
            .map_err(|source| ProbeError::Map { name, source })?;
        Ok(trace.frames().iter().map(|f| f.ip).collect())
    }
}
