//! Loading netcopy's eBPF object, attaching its programs and reading its maps, one module
//! per probe family (their headers name the hooks; `netcopy-ebpf/src` has the programs).
//!
//! - `attach`: every family in turn, each recording what it tried and used ([`HookRecord`]s).
//! - `syscalls`: entry/exit of the socket calls, raw_tp or the classic tracepoints.
//! - `net`, `sched`: what happens inside a call (tcp/skb/net tracepoints; sched_switch).
//! - `brackets`: softirqs and device transmits inside a call, timed between tracepoints.
//! - `exact`: fentry/fexit on the stage functions; `counters`: cycles and instructions.
//! - `sample`: kernel stacks of target threads inside calls (CPU-clock perf events).
//! - `maps`: targets, the config word, and reading the totals, batches and samples back.
//! - `features`: what this kernel and process offer; `btf`: one struct offset from BTF;
//!   `object`: the embedded object's names, checked against `netcopy_common::maps`.
//!
//! [`HookRecord`]: crate::model::HookRecord

pub mod attach;
pub mod brackets;
pub mod btf;
pub mod counters;
pub mod exact;
pub mod features;
pub mod mapped;
pub mod maps;
pub mod net;
pub mod object;
pub mod sample;
pub mod sched;
pub mod syscalls;
pub mod uring;

use aya::{
    Ebpf,
    programs::{Program, ProgramError, RawTracePoint},
};
use thiserror::Error;

use self::features::Features;
use crate::{
    model::{Outcome, attach::Feature},
    privileges::{self, Cap},
};

/// The object built by build.rs from netcopy-ebpf, embedded in the binary.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netcopy-ebpf"));

const TRACEFS: &str = "/sys/kernel/tracing";

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error(
        "tracing needs {missing}: run it as root (sudo netcopy ...) or give the binary the capabilities (sudo setcap cap_bpf,cap_perfmon,cap_sys_admin,cap_net_admin+ep \"$(command -v netcopy)\")"
    )]
    Privileges { missing: String },
    #[error(
        "this netcopy was built with AYA_BUILD_SKIP=1 and carries no eBPF programs; rebuild it with `cargo xtask install`"
    )]
    NotBuilt,
    #[error(
        "tracefs is not mounted at {TRACEFS} and mounting it failed ({0}); mount it with `mount -t tracefs tracefs {TRACEFS}`"
    )]
    Tracefs(nix::Error),
    #[error("load eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("map {name}: {source}")]
    Mapped {
        name: &'static str,
        source: mapped::MappedError,
    },
    #[error("list the online CPUs: {0}")]
    Cpus(String),
    #[error("the eBPF object has no {kind} named {name}")]
    Missing {
        kind: &'static str,
        name: &'static str,
    },
    #[error("start the sample reader thread: {0}")]
    SampleReader(std::io::Error),
    #[error("no sampled stack has id {0}")]
    NoStack(u32),
    #[error(
        "a CPU's batch in {} does not read as records: the eBPF object and netcopy disagree on their layout",
        netcopy_common::maps::STAGING
    )]
    Staging,
}

/// Whether attaching is for a trace, or only to find out what a trace would use (`netcopy
/// doctor`: see `attach`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Trace,
    Doctor,
}

/// The capabilities loading and attaching need.
pub const REQUIRED_CAPS: [Cap; 2] = [Cap::Bpf, Cap::Perfmon];

/// Fail early, naming what is missing, when this process cannot load programs.
pub fn check_privileges() -> Result<(), ProbeError> {
    let missing = privileges::missing(&REQUIRED_CAPS);
    if missing.is_empty() {
        return Ok(());
    }
    let missing = missing
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    Err(ProbeError::Privileges { missing })
}

/// Mount tracefs if it is not there: classic tracepoints are found through it. True when
/// this call mounted it.
pub fn ensure_tracefs() -> Result<bool, ProbeError> {
    if std::path::Path::new(TRACEFS).join("events").exists() {
        return Ok(false);
    }
    nix::mount::mount(
        Some("tracefs"),
        TRACEFS,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(ProbeError::Tracefs)?;
    Ok(true)
}

/// The loaded eBPF object. Dropping it detaches every program.
pub struct Probes {
    pub(crate) ebpf: Ebpf,
    /// What this kernel offers, read when the object was loaded.
    pub(crate) features: Features,
    /// Where `task_struct.pid` is, from the kernel's BTF, or why it is not known (the BTF
    /// sched_switch program needs it).
    pub(crate) task_pid_offset: Result<u32, Outcome>,
    /// This run mounted tracefs (it was not mounted).
    pub mounted_tracefs: bool,
    /// The per-CPU counters the programs read; closed when the probes go.
    pub(crate) counter_fds: Vec<std::os::fd::OwnedFd>,
    /// The kernel's BTF once a BTF program asked for it, or why there is none.
    btf: Option<Result<aya::Btf, Outcome>>,
    /// The reader of the sampler's ring, once sampling is attached.
    pub(crate) samples: Option<sample::SampleReader>,
    /// `TOTALS`' values, mapped the first time the totals are read.
    pub(crate) totals: std::sync::OnceLock<mapped::Mapped<netcopy_common::aggregate::Aggregate>>,
}

impl Probes {
    /// The program `name` of the object, as its program type.
    pub(crate) fn program<'a, P>(&'a mut self, name: &'static str) -> Result<&'a mut P, ProbeError>
    where
        &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
    {
        self.ebpf
            .program_mut(name)
            .ok_or(ProbeError::Missing {
                kind: "program",
                name,
            })?
            .try_into()
            .map_err(|source| ProbeError::Program { name, source })
    }

    /// Check privileges and load the object into memory (no program is in the kernel yet),
    /// with a record ring buffer of `ring_bytes` (a power of two, at least a page) instead
    /// of the object's [`netcopy_common::maps::RECORDS_BYTES`], and the off-CPU waiters'
    /// address ranges (`netcopy_common::offcpu`; zeros: every wait is `other`).
    pub fn load(
        ring_bytes: Option<u32>,
        wait_ranges: &[[u64; 2]; netcopy_common::offcpu::WAITERS.len()],
    ) -> Result<Self, ProbeError> {
        check_privileges()?;
        if OBJECT.is_empty() {
            return Err(ProbeError::NotBuilt);
        }
        let features = Features::detect();
        let task_pid_offset = if features.btf {
            btf::task_pid_offset()
                .map_err(|e| Outcome::Unavailable(format!("needs task_struct.pid from BTF: {e}")))
        } else if features.is_hidden(Feature::Btf) {
            Err(Outcome::Hidden(Some(Feature::Btf)))
        } else {
            Err(Outcome::Unavailable(format!(
                "needs BTF ({})",
                btf::VMLINUX
            )))
        };
        let offset = *task_pid_offset.as_ref().unwrap_or(&0);
        let mut loader = aya::EbpfLoader::new();
        loader.override_global(netcopy_common::maps::TASK_PID_OFFSET, &offset, true);
        loader.override_global(netcopy_common::offcpu::WAIT_RANGES, wait_ranges, true);
        if let Some(bytes) = ring_bytes {
            loader.map_max_entries(netcopy_common::maps::RECORDS, bytes);
        }
        let ebpf = loader.load(OBJECT)?;
        Ok(Self {
            ebpf,
            features,
            task_pid_offset,
            mounted_tracefs: false,
            counter_fds: Vec::new(),
            btf: None,
            samples: None,
            totals: std::sync::OnceLock::new(),
        })
    }

    /// The kernel's BTF for loading BTF programs (parsed once), or why they cannot load.
    pub(crate) fn btf(&mut self) -> Result<aya::Btf, Outcome> {
        let features = &self.features;
        self.btf
            .get_or_insert_with(|| {
                if !features.btf {
                    return Err(if features.is_hidden(Feature::Btf) {
                        Outcome::Hidden(Some(Feature::Btf))
                    } else {
                        Outcome::Unavailable(format!("needs BTF ({})", btf::VMLINUX))
                    });
                }
                aya::Btf::from_sys_fs()
                    .map_err(|e| Outcome::Unavailable(format!("BTF: {}", root_cause(&e))))
            })
            .clone()
    }

    /// Load the raw tracepoint programs of `programs` (program, raw tracepoint) and attach
    /// them if `keep`, as [`Self::attach_all`] does.
    pub(crate) fn attach_raw_tps(
        &mut self,
        programs: &[(&'static str, &'static str)],
        keep: bool,
    ) -> Result<(), Outcome> {
        self.attach_all::<RawTracePoint>(
            programs,
            keep,
            |p, _| p.load(),
            |p, tp| p.attach(tp).map(|_| ()),
            RawTracePoint::unload,
        )
    }

    /// Load each of `programs` (program, point) and, if `keep`, attach it; on any failure,
    /// or when not keeping them, unload the ones loaded.
    pub(crate) fn attach_all<P>(
        &mut self,
        programs: &[(&'static str, &'static str)],
        keep: bool,
        load: impl Fn(&mut P, &str) -> Result<(), ProgramError>,
        attach: impl Fn(&mut P, &str) -> Result<(), ProgramError>,
        unload: impl Fn(&mut P) -> Result<(), ProgramError>,
    ) -> Result<(), Outcome>
    where
        for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
    {
        let mut loaded = Vec::new();
        let mut result = Ok(());
        for &(name, point) in programs {
            let step = self
                .program::<P>(name)
                .map_err(|e| Outcome::Unavailable(e.to_string()))
                .and_then(|p| {
                    load(p, point).map_err(|e| refused(&e))?;
                    loaded.push(name);
                    if keep {
                        attach(p, point).map_err(|e| refused(&e))?;
                    }
                    Ok(())
                });
            if let Err(e) = step {
                result = Err(e);
                break;
            }
        }
        if result.is_err() || !keep {
            for name in loaded {
                if let Ok(p) = self.program::<P>(name) {
                    let _ = unload(p);
                }
            }
        }
        result
    }

    /// Map `name` of the object.
    pub(crate) fn map(&self, name: &'static str) -> Result<&aya::maps::Map, ProbeError> {
        self.ebpf
            .map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })
    }

    /// Map `name` of the object, to write.
    pub(crate) fn map_mut(
        &mut self,
        name: &'static str,
    ) -> Result<&mut aya::maps::Map, ProbeError> {
        self.ebpf
            .map_mut(name)
            .ok_or(ProbeError::Missing { kind: "map", name })
    }
}

/// A map error of map `name`.
pub(crate) fn map_error(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> ProbeError {
    move |source| ProbeError::Map { name, source }
}

/// A program error of program `name`.
pub(crate) fn program_error(
    name: &'static str,
) -> impl FnOnce(aya::programs::ProgramError) -> ProbeError {
    move |source| ProbeError::Program { name, source }
}

/// The innermost error: the kernel's errno is what the user needs (EPERM for trampolines here).
pub(crate) fn root_cause(e: &dyn std::error::Error) -> String {
    let mut source = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

/// The kernel refused to load or attach: its innermost error.
pub(crate) fn refused(e: &dyn std::error::Error) -> Outcome {
    Outcome::Refused(root_cause(e))
}

impl ProbeError {
    /// Bad setup the user can fix (missing privileges), as opposed to a failure.
    pub fn is_usage(&self) -> bool {
        matches!(self, ProbeError::Privileges { .. })
    }
}
