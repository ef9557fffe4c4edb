//! `netcopy trace --pid/--comm/--cgroup`: the same probes and tables for any program's
//! socket I/O (iperf3, nginx, ...), without the built-in workload.

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::{
    TraceError, TraceOptions,
    session::{Session, period_ns},
};
use crate::{
    model::{ExternalSummary, Role},
    sink::stages,
    workload::{conn::Stop, watch::Roles},
};

/// What to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Pid(u32),
    /// A command name (the kernel keeps its first 15 bytes).
    Comm(String),
    /// A cgroup v2 directory, absolute or relative to /sys/fs/cgroup.
    Cgroup(PathBuf),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Pid(p) => format!("pid {p}"),
            Target::Comm(c) => format!("comm {c}"),
            Target::Cgroup(c) => format!("cgroup {}", c.display()),
        }
    }
}

/// Check the targets before anything is loaded: a missing pid or cgroup is bad input.
pub fn validate(targets: &[Target]) -> Result<(), TraceError> {
    for t in targets {
        match t {
            Target::Pid(p) if !alive(*p) => {
                return Err(TraceError::Target(format!("no process with pid {p}")));
            }
            Target::Cgroup(c) if cgroup_id(c).is_none() => {
                return Err(TraceError::Target(format!(
                    "{} is not a cgroup v2 directory",
                    cgroup_path(c).display()
                )));
            }
            Target::Comm(c) if c.is_empty() => {
                return Err(TraceError::Target("--comm needs a command name".into()));
            }
            _ => {}
        }
    }
    Ok(())
}

fn cgroup_path(c: &Path) -> PathBuf {
    if c.is_absolute() {
        c.to_owned()
    } else {
        Path::new("/sys/fs/cgroup").join(c)
    }
}

/// The cgroup v2 id: the inode of its directory.
fn cgroup_id(c: &Path) -> Option<u64> {
    std::fs::metadata(cgroup_path(c))
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| m.ino())
}

impl Session {
    /// Trace `t` from now on.
    pub fn add_target(&mut self, t: &Target) -> Result<(), TraceError> {
        let probes = &mut self.probes;
        match t {
            Target::Pid(p) => probes.add_target(*p)?,
            Target::Comm(c) => probes.add_comm(c)?,
            Target::Cgroup(c) => probes.add_cgroup(cgroup_id(c).unwrap_or_default())?,
        }
        Ok(())
    }
}

/// The process exists and is not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(!matches!(state, 'Z' | 'X'))
        })
        .unwrap_or(false)
}

/// Trace `targets` for `duration` (or until a stop, or until every traced pid has exited).
/// `ready` runs once the probes are attached and the targets set.
pub fn trace_targets(
    targets: &[Target],
    duration: Duration,
    opts: &TraceOptions,
    stop: &Stop,
    ready: impl FnOnce(),
) -> Result<ExternalSummary, TraceError> {
    validate(targets)?;
    // No workload thread registers: every thread of the targets is `other`.
    let other = Roles::default();
    let mut session = Session::start(opts, &other)?;
    for t in targets {
        session.add_target(t)?;
    }
    ready();
    let start = Instant::now();
    let only_pids: Vec<u32> = targets
        .iter()
        .filter_map(|t| {
            if let Target::Pid(p) = t {
                Some(*p)
            } else {
                None
            }
        })
        .collect();
    let all_pids = only_pids.len() == targets.len();
    while start.elapsed() < duration && !stop.requested() {
        if all_pids && !only_pids.iter().any(|p| alive(*p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50).min(duration.saturating_sub(start.elapsed())));
    }
    let seconds = start.elapsed().as_secs_f64();
    let ended = session.finish()?;
    let sampled = session.sampled(opts.sample_hz, &other)?;
    let syscalls = ended.collected.summarize_processes(&other, &[Role::Other]);
    if let (Some(dir), Some(s)) = (&opts.out, &sampled) {
        stages::write(dir, s, &syscalls, period_ns(opts.sample_hz))?;
    }
    if let Some(dir) = &opts.out {
        stages::write_offcpu(dir, &session.offcpu_stacks(&other)?)?;
    }
    let stages = sampled
        .as_ref()
        .map(|s| s.stage_rows(&syscalls, period_ns(opts.sample_hz)));
    Ok(ExternalSummary {
        targets: targets.iter().map(Target::describe).collect(),
        seconds,
        interrupted: stop.requested(),
        syscalls,
        stages,
        lost: ended.lost,
        stackless_samples: sampled.as_ref().map(|s| s.lost_stacks),
        fallbacks: session.meta.fallbacks,
    })
}
