//! Sampling family, user side: attach the CPU-clock stack sampler on every CPU, read its
//! samples from the ring as they come, and count them.
//!
//! Hook (`netcopy-ebpf/src/sample.rs`): `perf_event` PERF_COUNT_SW_CPU_CLOCK, one event per
//! online CPU, at a frequency. Numbers: samples per (thread, syscall kind, kernel stack),
//! each distinct stack kept once; samples that found the ring full, per CPU.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use aya::{
    maps::{MapData, RingBuf},
    programs::{
        PerfEvent,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
    util::online_cpus,
};
use netcopy_common::{
    maps::{SAMPLE_LOST, SAMPLE_RING},
    sample::{ReadSample, SampleKey},
};

use super::{ProbeError, Probes, map_error, program_error};
use crate::model::attach::Feature;

pub const PROGRAM: &str = "sample_stack";
/// Its calibration twin, attached instead where `NETCOPY_HIDE=samplering`: the same samples
/// and stack walks, nothing sent (what the walk alone costs, for `cargo xtask bench`).
pub const WALK_PROGRAM: &str = "sample_walk";

/// Default sampling frequency per CPU: about 500 Hz, off the tick's multiples. Chosen from
/// measured precision (docs/methodology.md, "How precise the stage shares are"): the
/// lowest rate tried at which a 10 s run's stage shares keep a 95% interval within +-2
/// points (+-1.55 at worst, against +-1.3 at 999 Hz). A sample costs the workload more
/// than its program's run: at 999 Hz bpftrace's `@[tid] = count()`, which reads no stack,
/// cost a traced 1K run as much as this sampler did.
pub const DEFAULT_HZ: u64 = 499;

/// How often the reader empties the sample ring (`SAMPLE_RING_BYTES` holds seconds).
const POLL: Duration = Duration::from_millis(50);

/// ENOSPC and EBADMSG: the stack ids under which samples that found the ring full, and ring
/// items that were not samples, are counted.
const ENOSPC: i32 = 28;
const EBADMSG: i32 = 74;

/// The samples read so far: counts per key, and each distinct stack once.
#[derive(Default)]
pub struct Counted {
    counts: HashMap<SampleKey, u64>,
    /// Stacks by id (the index), instruction pointers innermost first.
    stacks: Vec<Vec<u64>>,
    ids: HashMap<Vec<u64>, i32>,
    /// Ring items that were not samples (never expected).
    malformed: u64,
}

impl Counted {
    /// Count one ring item.
    fn add(&mut self, bytes: &[u8]) {
        let Some(sample) = ReadSample::parse(bytes) else {
            self.malformed += 1;
            return;
        };
        let stack_id = match sample.frames {
            Ok(frames) => {
                let ips: Vec<u64> = frames.ips().collect();
                match self.ids.get(&ips) {
                    Some(id) => *id,
                    None => {
                        let id = i32::try_from(self.stacks.len()).unwrap_or(i32::MAX);
                        self.stacks.push(ips.clone());
                        self.ids.insert(ips, id);
                        id
                    }
                }
            }
            Err(e) => e,
        };
        let key = SampleKey {
            tid: sample.tid,
            stack_id,
            kind: sample.kind,
            _pad: [0; 7],
        };
        *self.counts.entry(key).or_default() += 1;
    }
}

/// The thread that empties the sample ring while the trace runs, into [`Counted`].
pub struct SampleReader {
    shared: Arc<Mutex<(RingBuf<MapData>, Counted)>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

/// Empty the ring into the counts.
fn drain(ring: &mut RingBuf<MapData>, counted: &mut Counted) {
    while let Some(item) = ring.next() {
        counted.add(&item);
    }
}

impl SampleReader {
    fn start(ring: RingBuf<MapData>) -> Result<Self, ProbeError> {
        let shared = Arc::new(Mutex::new((ring, Counted::default())));
        let stop = Arc::new(AtomicBool::new(false));
        let (reading, stopped) = (shared.clone(), stop.clone());
        let handle = thread::Builder::new()
            .name("nc-samples".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    if let Ok(mut guard) = reading.lock() {
                        let (ring, counted) = &mut *guard;
                        drain(ring, counted);
                    }
                    thread::sleep(POLL);
                }
            })
            .map_err(ProbeError::SampleReader)?;
        Ok(Self {
            shared,
            stop,
            handle: Some(handle),
        })
    }

    /// Read what the ring holds now, then run `f` on everything counted.
    fn read<T>(&self, f: impl FnOnce(&Counted) -> T) -> T {
        let mut guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let (ring, counted) = &mut *guard;
        drain(ring, counted);
        f(counted)
    }
}

impl Drop for SampleReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Probes {
    /// Sample the kernel stacks of target threads inside traced calls at `hz` per CPU.
    /// Returns the number of CPUs sampled. With the sample ring hidden, the walk-only twin
    /// samples instead and no sample is counted.
    pub fn attach_sampling(&mut self, hz: u64) -> Result<usize, ProbeError> {
        let name = if self.features.is_hidden(Feature::SampleRing) {
            WALK_PROGRAM
        } else {
            PROGRAM
        };
        let cpus = online_cpus().map_err(|(path, e)| ProbeError::Cpus(format!("{path}: {e}")))?;
        if self.samples.is_none() {
            let map = self.ebpf.take_map(SAMPLE_RING).ok_or(ProbeError::Missing {
                kind: "map",
                name: SAMPLE_RING,
            })?;
            let ring = RingBuf::try_from(map).map_err(map_error(SAMPLE_RING))?;
            self.samples = Some(SampleReader::start(ring)?);
        }
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

    /// Every (thread, kind, stack) and its sample count so far. Under thread 0 and a
    /// negative stack id: the samples that found the ring full (-ENOSPC) and ring items that
    /// were not samples (-EBADMSG). Empty when sampling is not attached.
    pub fn samples(&self) -> Result<Vec<(SampleKey, u64)>, ProbeError> {
        let Some(reader) = &self.samples else {
            return Ok(Vec::new());
        };
        let (mut samples, malformed): (Vec<(SampleKey, u64)>, u64) = reader.read(|c| {
            (
                c.counts.iter().map(|(k, n)| (*k, *n)).collect(),
                c.malformed,
            )
        });
        let lost: u64 = self.per_cpu_slot::<u64>(SAMPLE_LOST)?.iter().sum();
        for (error, n) in [(ENOSPC, lost), (EBADMSG, malformed)] {
            if n > 0 {
                let key = SampleKey {
                    stack_id: -error,
                    ..SampleKey::default()
                };
                samples.push((key, n));
            }
        }
        Ok(samples)
    }

    /// The instruction pointers of stack `id` (from [`Self::samples`]), innermost first.
    pub fn stack(&self, id: u32) -> Result<Vec<u64>, ProbeError> {
        let stack = self
            .samples
            .as_ref()
            .and_then(|reader| reader.read(|c| c.stacks.get(id as usize).cloned()));
        stack.ok_or(ProbeError::NoStack(id))
    }
}

#[cfg(test)]
mod tests {
    use netcopy_common::sample::SAMPLE_HEADER;

    use super::*;

    fn item(tid: u32, kind: u8, frames: &[u64]) -> Vec<u8> {
        let mut v = vec![0u8; SAMPLE_HEADER];
        v[..4].copy_from_slice(&tid.to_ne_bytes());
        v[4] = kind;
        v[8..12].copy_from_slice(&((8 * frames.len()) as i32).to_ne_bytes());
        for f in frames {
            v.extend(f.to_ne_bytes());
        }
        v
    }

    #[test]
    fn each_distinct_stack_is_kept_once_and_samples_count_per_thread_kind_and_stack() {
        let mut c = Counted::default();
        for bytes in [
            item(10, 1, &[0xa, 0xb]),
            item(10, 1, &[0xa, 0xb]),
            item(11, 3, &[0xa, 0xb]),
            item(10, 1, &[0xc]),
            vec![1, 2, 3],
        ] {
            c.add(&bytes);
        }
        assert_eq!(c.stacks, vec![vec![0xa, 0xb], vec![0xc]]);
        let key = |tid, kind, stack_id| SampleKey {
            tid,
            stack_id,
            kind,
            _pad: [0; 7],
        };
        assert_eq!(c.counts.get(&key(10, 1, 0)), Some(&2));
        assert_eq!(c.counts.get(&key(11, 3, 0)), Some(&1));
        assert_eq!(c.counts.get(&key(10, 1, 1)), Some(&1));
        assert_eq!(c.counts.len(), 3);
        assert_eq!(c.malformed, 1);
    }
}
