//! `netcopy trace --pid/--comm/--cgroup`: the same probes and tables for any program's
//! socket I/O (iperf3, nginx, ...), without the built-in workload.

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::Serialize;

use super::{
    Role, Session, StageRow, SyscallSummary, TraceError, TraceOptions, sample_report, stage_rows,
    summarize,
};
use crate::{probes::sample::DEFAULT_HZ, report::summary, sink::stages, workload::conn::Stop};

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

/// What tracing other programs found.
#[derive(Clone, Debug, Serialize)]
pub struct ExternalSummary {
    pub targets: Vec<String>,
    pub seconds: f64,
    pub interrupted: bool,
    pub syscalls: Vec<SyscallSummary>,
    pub stages: Option<Vec<StageRow>>,
    /// Records the ring buffer had no room for.
    pub lost: u64,
    /// What fell back and why.
    pub fallbacks: Vec<String>,
}

impl ExternalSummary {
    pub fn to_text(&self) -> String {
        let mut o = format!(
            "netcopy trace: {} for {:.2} s{}\n",
            self.targets.join(", "),
            self.seconds,
            if self.interrupted {
                "  [INTERRUPTED]"
            } else {
                ""
            }
        );
        if self.syscalls.is_empty() {
            o.push_str("  no socket calls were traced\n");
        } else {
            summary::render_syscalls(&mut o, &self.syscalls);
        }
        if let Some(rows) = &self.stages {
            summary::render_stages(&mut o, rows);
        }
        summary::render_fallbacks(&mut o, &self.fallbacks);
        o.push_str(&format!("  records     {} lost\n", self.lost));
        o
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
    let Session {
        mut probes,
        collector,
        meta,
    } = Session::start(opts)?;
    for t in targets {
        match t {
            Target::Pid(p) => probes.add_target(*p)?,
            Target::Comm(c) => probes.add_comm(c)?,
            Target::Cgroup(c) => probes.add_cgroup(cgroup_id(c).unwrap_or_default())?,
        }
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
    let mut collected = super::stop_collecting(&mut probes, collector)?;
    collected.add_aggregates(&probes.aggregates()?);
    let lost = probes.lost()? + collected.malformed;
    let other = |_: u32| Role::Other;
    let sampled = sample_report(&probes, opts.sample_hz, &other)?;
    let period_ns = 1_000_000_000 / opts.sample_hz.unwrap_or(DEFAULT_HZ).max(1);
    let syscalls = summarize(&collected, other, &[Role::Other]);
    if let (Some(dir), Some(s)) = (&opts.out, &sampled) {
        stages::write(dir, s, period_ns, &syscalls)?;
    }
    Ok(ExternalSummary {
        targets: targets.iter().map(Target::describe).collect(),
        seconds,
        interrupted: stop.requested(),
        syscalls,
        stages: sampled.as_ref().map(|s| stage_rows(s, period_ns)),
        lost,
        fallbacks: meta.fallbacks,
    })
}
