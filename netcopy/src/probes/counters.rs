//! Counters family, user side: open a cycles and an instructions counter on every CPU and
//! hand them to the eBPF programs through the `CYCLES` and `INSTRUCTIONS` perf event arrays.
//!
//! Hooks: none of their own; the syscall and sched programs read the counters
//! (`netcopy-ebpf/src/counters.rs`). Numbers: cycles and instructions per call. Where the
//! kernel has no hardware PMU (this VM: perf_event_open fails with ENOENT), nothing is
//! opened and the columns stay null.
//!
//! `NETCOPY_COUNTERS=cpu-clock` puts the software CPU clock in both arrays instead. It exists
//! for tests on machines without a PMU: the per-call "cycles" are then on-CPU nanoseconds,
//! which the syscall records measure independently, so the whole path (per-CPU reads at entry,
//! switch out, switch in and exit) is checked against a known answer. Runs made with it say
//! so in `runs.parquet` (`counter_source`) and never claim a PMU.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use aya::util::online_cpus;
use netcopy_common::{
    config::COUNTERS,
    maps::{CYCLES, INSTRUCTIONS},
};

use super::{ProbeError, Probes};
use crate::model::{CounterSource, HookRecord, Method, Outcome, Step, attach::Feature};

/// The cycles hook.
pub fn record(outcome: Outcome) -> HookRecord {
    HookRecord::new(
        "cycles",
        "cycles and instructions per call (per-CPU counters read in the programs)",
        vec![Step::new(Method::PerfCounter, outcome)],
    )
}

/// (perf type, config) for the cycles and the instructions counter of `source`.
fn events(source: CounterSource) -> [(u32, u64); 2] {
    const HARDWARE: u32 = 0;
    const SOFTWARE: u32 = 1;
    const HW_CPU_CYCLES: u64 = 0;
    const HW_INSTRUCTIONS: u64 = 1;
    const SW_CPU_CLOCK: u64 = 0;
    match source {
        CounterSource::Pmu => [(HARDWARE, HW_CPU_CYCLES), (HARDWARE, HW_INSTRUCTIONS)],
        CounterSource::CpuClock => [(SOFTWARE, SW_CPU_CLOCK), (SOFTWARE, SW_CPU_CLOCK)],
    }
}

/// The source asked for: the stand-in only through `NETCOPY_COUNTERS=cpu-clock`.
pub fn wanted() -> CounterSource {
    match std::env::var("NETCOPY_COUNTERS").as_deref() {
        Ok("cpu-clock") => CounterSource::CpuClock,
        _ => CounterSource::Pmu,
    }
}

/// `struct perf_event_attr` up to PERF_ATTR_SIZE_VER0, all a counting event needs.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}
// PERF_ATTR_SIZE_VER0, the size the kernel takes this prefix for.
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 64);

/// A counting event on `cpu` for every process.
fn open_counter((kind, config): (u32, u64), cpu: u32) -> std::io::Result<OwnedFd> {
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
    let attr = PerfEventAttr {
        kind,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config,
        ..Default::default()
    };
    // SAFETY: the attr outlives the call and its size field is right; pid -1 with a cpu is a
    // per-CPU counter.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &raw const attr,
            -1 as libc::pid_t,
            cpu as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor this process owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `bpf(BPF_MAP_UPDATE_ELEM)`: aya has no call that stores a perf event fd in an array.
fn store_fd(map: impl AsFd, index: u32, fd: &OwnedFd) -> std::io::Result<()> {
    #[repr(C)]
    struct UpdateAttr {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }
    // The map-element part of `union bpf_attr`: map_fd, key, value, flags.
    const _: () = assert!(std::mem::size_of::<UpdateAttr>() == 32);
    const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
    let value = fd.as_raw_fd() as u32;
    let attr = UpdateAttr {
        map_fd: map.as_fd().as_raw_fd() as u32,
        _pad: 0,
        key: &raw const index as u64,
        value: &raw const value as u64,
        flags: 0,
    };
    // SAFETY: key and value outlive the call; the attr's size is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_UPDATE_ELEM,
            &raw const attr,
            std::mem::size_of::<UpdateAttr>() as u32,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Probes {
    /// Open the counters on every CPU and switch reading them on: the cycles hook, and the
    /// source that fills the columns (`None` when this kernel has none: they stay null).
    pub fn attach_counters(
        &mut self,
        source: CounterSource,
    ) -> Result<(HookRecord, Option<CounterSource>), ProbeError> {
        let outcome = self.open_counters(source)?;
        let used = (outcome == Outcome::Used).then_some(source);
        Ok((record(outcome), used))
    }

    fn open_counters(&mut self, source: CounterSource) -> Result<Outcome, ProbeError> {
        if source == CounterSource::Pmu && self.features.is_hidden(Feature::Pmu) {
            return Ok(Outcome::Hidden(Some(Feature::Pmu)));
        }
        let cpus = online_cpus().map_err(|(path, e)| ProbeError::Cpus(format!("{path}: {e}")))?;
        let mut opened = Vec::new();
        for cpu in &cpus {
            for event in events(source) {
                match open_counter(event, *cpu) {
                    Ok(fd) => opened.push((*cpu, fd)),
                    Err(e) if source == CounterSource::Pmu => {
                        return Ok(match e.raw_os_error() {
                            Some(libc::ENOENT | libc::EOPNOTSUPP | libc::ENODEV) => {
                                Outcome::Unavailable(format!(
                                    "no hardware PMU here (perf_event_open: {e})"
                                ))
                            }
                            _ => Outcome::Refused(e.to_string()),
                        });
                    }
                    Err(e) => return Ok(Outcome::Refused(format!("cpu-clock counter: {e}"))),
                }
            }
        }
        for (i, (cpu, fd)) in opened.iter().enumerate() {
            let name = if i % 2 == 0 { CYCLES } else { INSTRUCTIONS };
            let aya::maps::Map::PerfEventArray(data) = self.map(name)? else {
                return Err(ProbeError::Missing {
                    kind: "perf event array",
                    name,
                });
            };
            if let Err(e) = store_fd(data.fd(), *cpu, fd) {
                return Ok(Outcome::Refused(format!(
                    "store the counter of cpu {cpu} in {name}: {e}"
                )));
            }
        }
        self.counter_fds = opened.into_iter().map(|(_, fd)| fd).collect();
        self.update_config(|word| word | COUNTERS)?;
        Ok(Outcome::Used)
    }
}
