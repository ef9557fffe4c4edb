//! Attaching every probe family in turn, each recording what it tried and what it used:
//! the [`HookRecord`]s a run saves (`runs.attach_methods`, `runs.fallbacks`) and `netcopy
//! doctor` prints. The record is made while attaching, so it says what happened.
//!
//! For `doctor` ([`Intent::Doctor`]) each family tries its methods without keeping them:
//! programs that load are unloaded or go with the object, classic tracepoints (always there:
//! netcopy mounts tracefs on demand) are not attached, nothing is mounted.

pub use super::Intent;
use super::{ProbeError, Probes, brackets, counters, exact, net, sched, syscalls, uring};
use crate::model::{CounterSource, HookRecord, Outcome, attach, attach::Feature};

/// What a trace asks for beyond the programs every trace has.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    /// What to put in the counter arrays (see `counters`).
    pub counters: CounterSource,
    /// Stack sampling per CPU; no stage breakdown without it.
    pub sample_hz: Option<u64>,
}

/// The note a run keeps when it had to mount tracefs.
pub const MOUNTED_TRACEFS: &str =
    "tracefs: was not mounted; netcopy mounted it at /sys/kernel/tracing";

/// Every hook, attached.
#[derive(Clone, Debug)]
pub struct Attached {
    /// syscalls, sched_switch, net, uring, brackets, stages, cycles, in that order.
    pub hooks: Vec<HookRecord>,
    /// What fills the cycles and instructions columns; `None`: nothing, they are null.
    pub counters: Option<CounterSource>,
    /// This trace mounted tracefs.
    pub mounted_tracefs: bool,
}

impl Attached {
    /// What fell back and why, one line each (tracefs first, when netcopy mounted it).
    pub fn fallbacks(&self) -> Vec<String> {
        let mut lines = attach::fallbacks(&self.hooks);
        if self.mounted_tracefs {
            lines.insert(0, MOUNTED_TRACEFS.to_owned());
        }
        lines
    }

    /// The methods used, as `hook=method` pairs.
    pub fn methods(&self) -> String {
        attach::methods(&self.hooks)
    }
}

impl Probes {
    /// Attach every family (or, for doctor, try each), in the order a trace needs them.
    pub fn attach(&mut self, intent: Intent, wanted: &Wanted) -> Result<Attached, ProbeError> {
        let syscalls = self.attach_syscalls(intent)?;
        let net = self.attach_net(intent)?;
        let uring = self.attach_uring(intent)?;
        let bracketed = self.attach_brackets(intent)?;
        let fentry = self.attach_exact(intent)?;
        let sched = self.attach_sched(intent)?;
        let (cycles, counters) = self.attach_counters(wanted.counters)?;
        let sampling = match (intent, wanted.sample_hz) {
            (Intent::Trace, Some(hz)) => {
                self.attach_sampling(hz)?;
                if self.features.is_hidden(Feature::SampleRing) {
                    Outcome::Hidden(Some(Feature::SampleRing))
                } else {
                    Outcome::Used
                }
            }
            (Intent::Trace, None) => Outcome::Off("--sample-hz 0"),
            (Intent::Doctor, _) => Outcome::Used,
        };
        Ok(Attached {
            hooks: vec![
                syscalls,
                sched,
                net,
                uring,
                brackets::record(bracketed, sampling.clone()),
                exact::record(fentry, sampling),
                cycles,
            ],
            counters,
            mounted_tracefs: self.mounted_tracefs,
        })
    }
}

/// Every hook as doctor shows it when nothing could be tried (`why`: the missing
/// privileges): the methods that need no trial are the ones a trace would fall back to.
pub fn untried(why: &str) -> Vec<HookRecord> {
    let untried = || Outcome::Untried(why.to_owned());
    vec![
        syscalls::record(untried(), untried(), Outcome::Used),
        sched::record(untried(), Outcome::Used),
        net::record(untried(), Outcome::Used),
        uring::record(Outcome::Used),
        brackets::record(untried(), Outcome::Used),
        exact::record(untried(), Outcome::Used),
        counters::record(untried()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untried_hooks_fall_back_to_what_needs_no_trial_and_report_no_fallback() {
        let hooks = untried("cannot try without CAP_BPF");
        assert_eq!(
            attach::methods(&hooks),
            "syscalls=tracepoint,sched_switch=tracepoint,net=tracepoint,uring=tracepoint,brackets=perf_event sampling,stages=perf_event sampling,cycles=none"
        );
        assert!(attach::fallbacks(&hooks).is_empty());
    }

    #[test]
    fn a_refused_upgrade_is_a_fallback_and_tracefs_is_said_first() {
        let a = Attached {
            hooks: vec![
                syscalls::record(Outcome::Used, Outcome::NotNeeded, Outcome::NotNeeded),
                sched::record(Outcome::Hidden(Some(Feature::Btf)), Outcome::Used),
                exact::record(
                    Outcome::Refused("EPERM".into()),
                    Outcome::Off("--sample-hz 0"),
                ),
            ],
            counters: None,
            mounted_tracefs: true,
        };
        assert_eq!(
            a.fallbacks(),
            [
                MOUNTED_TRACEFS,
                "sched_switch: tp_btf BTF hidden by NETCOPY_HIDE -> tracepoint",
                "stages: fentry/fexit refused by the kernel (EPERM) -> null",
            ]
        );
        assert_eq!(
            a.methods(),
            "syscalls=tp_btf,sched_switch=tracepoint,stages=none"
        );
    }
}
