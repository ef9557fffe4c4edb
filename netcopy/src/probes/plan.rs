//! The attach plan: for each hook, the methods in order of preference (fentry/fexit >
//! tp_btf > raw_tp > tracepoint > sampling), what this kernel allows, and the one used.
//!
//! `NETCOPY_HIDE=btf,pmu,fentry,tracefs` hides features from the plan, so the fallbacks can
//! be exercised on a kernel that has them (tests and `netcopy doctor` use it).

use std::path::Path;

use serde::Serialize;

use super::counters::Source;
use crate::privileges::{self, Cap};

/// How a program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Fentry,
    TpBtf,
    RawTp,
    Tracepoint,
    PerfEvent,
    PerfCounter,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Fentry => "fentry/fexit",
            Method::TpBtf => "tp_btf",
            Method::RawTp => "raw_tp",
            Method::Tracepoint => "tracepoint",
            Method::PerfEvent => "perf_event sampling",
            Method::PerfCounter => "perf_event counters",
        }
    }
}

/// What the running kernel and process offer.
#[derive(Clone, Debug, Serialize)]
pub struct Features {
    /// /sys/kernel/btf/vmlinux exists.
    pub btf: bool,
    /// tracefs is mounted at /sys/kernel/tracing (netcopy mounts it when it traces).
    pub tracefs_mounted: bool,
    /// A hardware PMU ("cpu" in /sys/bus/event_source/devices) for cycles and instructions.
    pub pmu: bool,
    /// Capabilities tracing needs that this process lacks.
    pub missing_caps: Vec<String>,
    /// Features hidden with NETCOPY_HIDE.
    pub hidden: Vec<String>,
}

impl Features {
    pub fn detect() -> Self {
        let hidden: Vec<String> = std::env::var("NETCOPY_HIDE")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let shown = |name: &str, present: bool| present && !hidden.iter().any(|h| h == name);
        let pmu = ["cpu", "cpu_core", "cpu_atom", "armv8_pmuv3_0"]
            .iter()
            .any(|d| Path::new("/sys/bus/event_source/devices").join(d).exists());
        Self {
            btf: shown("btf", Path::new("/sys/kernel/btf/vmlinux").exists()),
            tracefs_mounted: shown("tracefs", Path::new("/sys/kernel/tracing/events").exists()),
            pmu: shown("pmu", pmu),
            missing_caps: privileges::missing(&[Cap::Bpf, Cap::Perfmon])
                .iter()
                .map(ToString::to_string)
                .collect(),
            hidden,
        }
    }

    pub fn is_hidden(&self, name: &str) -> bool {
        self.hidden.iter().any(|h| h == name)
    }
}

/// One method considered for a hook.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub method: Method,
    /// "used", or why not.
    pub outcome: String,
}

/// The plan for one hook.
#[derive(Clone, Debug, Serialize)]
pub struct HookPlan {
    pub hook: &'static str,
    pub measures: &'static str,
    pub steps: Vec<Step>,
    pub chosen: Option<Method>,
}

/// Whether a program loaded (or attached) here: `Ok`, or why not.
pub type Tried = Result<(), String>;

/// What trying the upgrades gave on this kernel.
#[derive(Clone, Debug)]
pub struct Probed {
    /// Whether the raw_tp syscall programs are attached (trace) or load (doctor).
    pub raw_syscalls: Tried,
    /// Whether fentry programs load: `Ok` or the kernel's answer.
    pub fentry: Tried,
    /// Whether the BTF sched_switch program loads (doctor) or is attached (trace).
    pub sched_btf: Tried,
    /// What fills the cycles and instructions columns, or why nothing does.
    pub counters: Result<Source, String>,
}

const NOT_BUILT: &str = "not built for this hook yet";

/// Build the plan from the features and the result of trying to load an fentry program.
pub fn plan(f: &Features, probed: &Probed) -> Vec<HookPlan> {
    let fentry_outcome = if f.is_hidden("fentry") {
        "hidden by NETCOPY_HIDE".to_owned()
    } else if !f.btf {
        "needs BTF (/sys/kernel/btf/vmlinux)".to_owned()
    } else {
        match &probed.fentry {
            Ok(()) => "used".to_owned(),
            Err(e) => format!("refused by the kernel ({e})"),
        }
    };
    // tracefs is mounted on demand, so classic tracepoints are there unless hidden.
    let tracepoint = if f.is_hidden("tracefs") {
        "tracefs hidden by NETCOPY_HIDE".to_owned()
    } else {
        "used".to_owned()
    };
    let step = |method, outcome: &str| Step {
        method,
        outcome: outcome.to_owned(),
    };
    let classic = |hook, measures| HookPlan {
        hook,
        measures,
        steps: vec![
            step(Method::Fentry, NOT_BUILT),
            step(Method::TpBtf, NOT_BUILT),
            step(Method::RawTp, NOT_BUILT),
            step(Method::Tracepoint, &tracepoint),
        ],
        chosen: (tracepoint == "used").then_some(Method::Tracepoint),
    };
    vec![
        syscalls(&probed.raw_syscalls, &tracepoint),
        sched(&probed.sched_btf, &tracepoint),
        classic(
            "net",
            "skbs built, sent, received and bytes copied to user inside a call",
        ),
        HookPlan {
            hook: "stages",
            measures: "kernel time by copy stage: sampled shares, plus exact per-call time of the stage functions where fentry/fexit load",
            chosen: Some(if fentry_outcome == "used" {
                Method::Fentry
            } else {
                Method::PerfEvent
            }),
            steps: vec![
                step(Method::Fentry, &fentry_outcome),
                step(Method::PerfEvent, "used"),
            ],
        },
        HookPlan {
            hook: "cycles",
            measures: "cycles and instructions per call (per-CPU counters read in the programs)",
            steps: vec![step(
                Method::PerfCounter,
                &match &probed.counters {
                    Ok(Source::Pmu) => "used".to_owned(),
                    Ok(Source::CpuClock) => {
                        "used, with the cpu-clock stand-in (NETCOPY_COUNTERS, for tests)".to_owned()
                    }
                    Err(e) => e.clone(),
                },
            )],
            chosen: probed.counters.is_ok().then_some(Method::PerfCounter),
        },
    ]
}

/// Syscall entry and exit: raw_tp on raw_syscalls where it attached, else the classic
/// per-syscall tracepoints.
fn syscalls(raw: &Tried, tracepoint: &str) -> HookPlan {
    let (raw_outcome, classic) = match raw {
        Ok(()) => ("used".to_owned(), "not needed"),
        Err(e) => (e.clone(), tracepoint),
    };
    let steps = vec![
        Step {
            method: Method::Fentry,
            outcome: NOT_BUILT.to_owned(),
        },
        Step {
            method: Method::RawTp,
            outcome: raw_outcome,
        },
        Step {
            method: Method::Tracepoint,
            outcome: classic.to_owned(),
        },
    ];
    HookPlan {
        hook: "syscalls",
        measures: "enter/exit of sendto, sendmsg, recvfrom, recvmsg, write, read, writev, readv: one record per call",
        chosen: steps.iter().find(|s| s.outcome == "used").map(|s| s.method),
        steps,
    }
}

/// sched_switch: tp_btf where it attached, else the classic tracepoint.
fn sched(btf: &Tried, tracepoint: &str) -> HookPlan {
    let (btf_outcome, classic) = match btf {
        Ok(()) => ("used".to_owned(), "not needed"),
        Err(e) => (e.clone(), tracepoint),
    };
    let steps = vec![
        Step {
            method: Method::TpBtf,
            outcome: btf_outcome,
        },
        Step {
            method: Method::Tracepoint,
            outcome: classic.to_owned(),
        },
    ];
    HookPlan {
        hook: "sched_switch",
        measures: "off-CPU time and voluntary/involuntary switches inside a call",
        chosen: steps.iter().find(|s| s.outcome == "used").map(|s| s.method),
        steps,
    }
}

/// One line naming what the plan skipped, for the start of a trace.
pub fn skipped_line(plan: &[HookPlan]) -> Option<String> {
    let fallbacks = fallbacks(plan);
    (!fallbacks.is_empty()).then(|| format!("netcopy: fallbacks: {}", fallbacks.join("; ")))
}

/// Each hook that fell back: what was refused and why, and what was used instead.
pub fn fallbacks(plan: &[HookPlan]) -> Vec<String> {
    plan.iter()
        .filter_map(|h| {
            let refused = h.steps.iter().find(|s| {
                s.outcome.starts_with("refused")
                    || s.outcome.contains("hidden")
                    || s.outcome.starts_with("needs")
                    || s.outcome.starts_with("no ")
            })?;
            Some(format!(
                "{}: {} {} -> {}",
                h.hook,
                refused.method.name(),
                refused.outcome,
                h.chosen.map_or("null", Method::name)
            ))
        })
        .collect()
}

/// The plan as `hook=method` pairs, saved with the run.
pub fn methods(plan: &[HookPlan]) -> String {
    plan.iter()
        .map(|h| format!("{}={}", h.hook, h.chosen.map_or("none", Method::name)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> Features {
        Features {
            btf: true,
            tracefs_mounted: true,
            pmu: false,
            missing_caps: vec![],
            hidden: vec![],
        }
    }

    fn probed(fentry: Tried, sched_btf: Tried) -> Probed {
        Probed {
            raw_syscalls: Ok(()),
            fentry,
            sched_btf,
            counters: Err(
                "no hardware PMU here (perf_event_open: No such file or directory)".into(),
            ),
        }
    }

    #[test]
    fn sched_switch_prefers_tp_btf_and_falls_back_to_the_tracepoint() {
        let p = plan(&features(), &probed(Err("EPERM".into()), Ok(())));
        let sched = p.iter().find(|h| h.hook == "sched_switch").unwrap();
        assert_eq!(sched.chosen, Some(Method::TpBtf));
        assert!(methods(&p).contains("sched_switch=tp_btf"));
        let p = plan(
            &features(),
            &probed(
                Err("EPERM".into()),
                Err("BTF hidden by NETCOPY_HIDE".into()),
            ),
        );
        let sched = p.iter().find(|h| h.hook == "sched_switch").unwrap();
        assert_eq!(sched.chosen, Some(Method::Tracepoint));
        let line = skipped_line(&p).unwrap();
        assert!(
            line.contains("sched_switch: tp_btf BTF hidden by NETCOPY_HIDE -> tracepoint"),
            "{line}"
        );
    }

    #[test]
    fn loaded_fentry_is_the_stage_method() {
        let p = plan(&features(), &probed(Ok(()), Ok(())));
        let stages = p.iter().find(|h| h.hook == "stages").unwrap();
        assert_eq!(stages.chosen, Some(Method::Fentry));
        assert!(methods(&p).contains("stages=fentry/fexit"));
    }

    #[test]
    fn refused_fentry_falls_back_to_sampling() {
        let p = plan(&features(), &probed(Err("EPERM".into()), Ok(())));
        let stages = p.iter().find(|h| h.hook == "stages").unwrap();
        assert_eq!(stages.chosen, Some(Method::PerfEvent));
        assert_eq!(stages.steps[0].outcome, "refused by the kernel (EPERM)");
        let line = skipped_line(&p).unwrap();
        assert!(
            line.contains(
                "stages: fentry/fexit refused by the kernel (EPERM) -> perf_event sampling"
            ),
            "{line}"
        );
        assert!(methods(&p).contains("stages=perf_event sampling"));
        assert!(methods(&p).contains("cycles=none"));
    }

    #[test]
    fn hidden_btf_is_reported_as_the_reason() {
        let mut f = features();
        f.btf = false;
        let p = plan(
            &f,
            &probed(Ok(()), Err("needs BTF (/sys/kernel/btf/vmlinux)".into())),
        );
        let stages = p.iter().find(|h| h.hook == "stages").unwrap();
        assert!(stages.steps[0].outcome.starts_with("needs BTF"));
        // raw_tp needs no BTF.
        assert_eq!(
            p.iter().find(|h| h.hook == "syscalls").unwrap().chosen,
            Some(Method::RawTp)
        );
        let mut refused = probed(Ok(()), Ok(()));
        refused.raw_syscalls = Err("hidden by NETCOPY_HIDE".into());
        let p = plan(&f, &refused);
        assert_eq!(
            p.iter().find(|h| h.hook == "syscalls").unwrap().chosen,
            Some(Method::Tracepoint)
        );
    }

    #[test]
    fn no_pmu_means_null_cycles() {
        let p = plan(&features(), &probed(Err("EPERM".into()), Ok(())));
        let cycles = p.iter().find(|h| h.hook == "cycles").unwrap();
        assert_eq!(cycles.chosen, None);
        assert!(
            skipped_line(&p)
                .unwrap()
                .contains("cycles: perf_event counters no hardware PMU")
        );
        let mut with = probed(Err("EPERM".into()), Ok(()));
        with.counters = Ok(Source::Pmu);
        let p = plan(&features(), &with);
        assert!(
            methods(&p).contains("cycles=perf_event counters"),
            "{}",
            methods(&p)
        );
    }
}
