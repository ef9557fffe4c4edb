//! How each hook was attached: the methods netcopy tries for it, in order of preference
//! (fentry/fexit > tp_btf > raw_tp > tracepoint > sampling), and what came of each. `probes`
//! builds one [`HookRecord`] per hook while it attaches (or, for `netcopy doctor`, while it
//! tries without keeping anything), so the record says what happened, not what was hoped.

use std::fmt;

use serde::{Serialize, Serializer};

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

/// A kernel feature that `NETCOPY_HIDE` can hide (to exercise the fallbacks where the kernel
/// has it). tracefs is not one: netcopy mounts it when it is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Btf,
    Pmu,
    Fentry,
    RawTp,
    /// The bracket tracepoints (softirqs, device transmits).
    Brackets,
    /// The stack sampler's output: it still samples and walks each stack, and sends nothing
    /// (a calibration of what the walk alone costs; no stage is sampled).
    SampleRing,
    /// The syscall programs' work: the tp_btf hooks attach programs that return at once (a
    /// calibration of what hooking every syscall costs; no call is counted).
    CallBodies,
    /// The syscall programs' work beyond timing each call: the tp_btf hooks attach programs
    /// that find the thread and read the clock at entry and exit, and nothing else (a
    /// calibration of what any per-call timer costs; no call is counted).
    CallWork,
    /// `--aggregate`'s `TOTALS` array: every slot is taken before the trace, so every call
    /// folds into the `AGGREGATES` hash map, the path of a thread whose slot another holds
    /// (for tests; the totals are the same).
    Totals,
}

impl Feature {
    /// The word `NETCOPY_HIDE` takes.
    pub fn key(self) -> &'static str {
        match self {
            Feature::Btf => "btf",
            Feature::Pmu => "pmu",
            Feature::Fentry => "fentry",
            Feature::RawTp => "rawtp",
            Feature::Brackets => "brackets",
            Feature::SampleRing => "samplering",
            Feature::CallBodies => "callbodies",
            Feature::CallWork => "callwork",
            Feature::Totals => "totals",
        }
    }

    /// How outcomes name it.
    fn label(self) -> &'static str {
        match self {
            Feature::Btf => "BTF",
            Feature::Pmu => "PMU",
            Feature::Fentry => "fentry",
            Feature::RawTp => "raw_tp",
            Feature::Brackets => "brackets",
            Feature::SampleRing => "sample ring",
            Feature::CallBodies => "call bodies",
            Feature::CallWork => "call work",
            Feature::Totals => "totals array",
        }
    }
}

/// What came of one method for one hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Attached (or, for `doctor`, loaded and attached for a moment): this hook's method.
    Used,
    /// A method earlier in the order is used.
    NotNeeded,
    /// netcopy has no program for this hook with this method.
    NotBuilt,
    /// Not asked for (e.g. `--sample-hz 0`): why.
    Off(&'static str),
    /// The kernel refused to load or attach it; the kernel's error.
    Refused(String),
    /// `NETCOPY_HIDE` hid it (`None`) or a feature it needs.
    Hidden(Option<Feature>),
    /// This kernel or machine lacks what it needs; what is missing.
    Unavailable(String),
    /// Not tried (`doctor` without the privileges to load programs); why.
    Untried(String),
}

impl Outcome {
    /// A reason this method is not the one used that a run reports as a fallback.
    pub fn is_fallback(&self) -> bool {
        matches!(
            self,
            Outcome::Refused(_) | Outcome::Hidden(_) | Outcome::Unavailable(_)
        )
    }

    /// `Used` for `Ok`, else the outcome carried in the error.
    pub fn of(tried: Result<(), Outcome>) -> Self {
        tried.err().unwrap_or(Outcome::Used)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Used => f.write_str("used"),
            Outcome::NotNeeded => f.write_str("not needed"),
            Outcome::NotBuilt => f.write_str("not built for this hook yet"),
            Outcome::Off(why) => write!(f, "off ({why})"),
            Outcome::Refused(e) => write!(f, "refused by the kernel ({e})"),
            Outcome::Hidden(None) => f.write_str("hidden by NETCOPY_HIDE"),
            Outcome::Hidden(Some(feature)) => {
                write!(f, "{} hidden by NETCOPY_HIDE", feature.label())
            }
            Outcome::Unavailable(need) | Outcome::Untried(need) => f.write_str(need),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One method considered for a hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub method: Method,
    pub outcome: Outcome,
}

impl Step {
    pub fn new(method: Method, outcome: Outcome) -> Self {
        Self { method, outcome }
    }
}

/// One hook: what it measures, each method considered, and the one used.
#[derive(Clone, Debug, Serialize)]
pub struct HookRecord {
    pub hook: &'static str,
    pub measures: &'static str,
    pub steps: Vec<Step>,
    pub chosen: Option<Method>,
}

impl HookRecord {
    /// The record of `steps`, in order of preference: the first one used is chosen.
    pub fn new(hook: &'static str, measures: &'static str, steps: Vec<Step>) -> Self {
        let chosen = steps
            .iter()
            .find(|s| s.outcome == Outcome::Used)
            .map(|s| s.method);
        Self {
            hook,
            measures,
            steps,
            chosen,
        }
    }

    /// A hook built only as classic tracepoints (`outcome` is theirs): the other methods
    /// are not built for it.
    pub fn tracepoint_only(hook: &'static str, measures: &'static str, outcome: Outcome) -> Self {
        let not_built = |method| Step::new(method, Outcome::NotBuilt);
        Self::new(
            hook,
            measures,
            vec![
                not_built(Method::Fentry),
                not_built(Method::TpBtf),
                not_built(Method::RawTp),
                Step::new(Method::Tracepoint, outcome),
            ],
        )
    }

    /// What fell back and why: the first step with a fallback reason, and what was used
    /// instead (`null` when nothing was).
    pub fn fallback(&self) -> Option<String> {
        // Only a method preferred to the one used is fallen back from.
        let refused = self
            .steps
            .iter()
            .take_while(|s| s.outcome != Outcome::Used)
            .find(|s| s.outcome.is_fallback())?;
        Some(format!(
            "{}: {} {} -> {}",
            self.hook,
            refused.method.name(),
            refused.outcome,
            self.chosen.map_or("null", Method::name)
        ))
    }
}

/// Each hook that fell back, one line each.
pub fn fallbacks(hooks: &[HookRecord]) -> Vec<String> {
    hooks.iter().filter_map(HookRecord::fallback).collect()
}

/// The methods used as `hook=method` pairs (`none` for a hook with none), saved with the run.
pub fn methods(hooks: &[HookRecord]) -> String {
    hooks
        .iter()
        .map(|h| format!("{}={}", h.hook, h.chosen.map_or("none", Method::name)))
        .collect::<Vec<_>>()
        .join(",")
}

/// What fills the cycles and instructions columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterSource {
    /// Hardware cycles and instructions.
    Pmu,
    /// The software CPU clock in both (tests; see `probes::counters`).
    CpuClock,
}

impl CounterSource {
    pub fn name(self) -> &'static str {
        match self {
            CounterSource::Pmu => "pmu",
            CounterSource::CpuClock => "cpu-clock stand-in",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_used_step_is_chosen_and_the_first_refusal_is_the_fallback() {
        let h = HookRecord::new(
            "stages",
            "",
            vec![
                Step::new(Method::Fentry, Outcome::Refused("EPERM".into())),
                Step::new(Method::PerfEvent, Outcome::Used),
            ],
        );
        assert_eq!(h.chosen, Some(Method::PerfEvent));
        assert_eq!(
            h.fallback().as_deref(),
            Some("stages: fentry/fexit refused by the kernel (EPERM) -> perf_event sampling")
        );
        assert_eq!(methods(&[h]), "stages=perf_event sampling");
    }

    #[test]
    fn outcomes_that_are_not_reasons_are_not_fallbacks() {
        let h = HookRecord::new(
            "net",
            "",
            vec![
                Step::new(Method::Fentry, Outcome::NotBuilt),
                Step::new(Method::Tracepoint, Outcome::Used),
            ],
        );
        assert_eq!(h.fallback(), None);
        // A method after the one used was never needed, whatever became of it.
        let later = HookRecord::new(
            "brackets",
            "",
            vec![
                Step::new(Method::RawTp, Outcome::Used),
                Step::new(
                    Method::PerfEvent,
                    Outcome::Hidden(Some(Feature::SampleRing)),
                ),
            ],
        );
        assert_eq!(
            (later.chosen, later.fallback()),
            (Some(Method::RawTp), None)
        );
        let none = HookRecord::new(
            "cycles",
            "",
            vec![Step::new(
                Method::PerfCounter,
                Outcome::Untried("cannot try without CAP_BPF".into()),
            )],
        );
        assert_eq!((none.chosen, none.fallback()), (None, None));
        assert_eq!(methods(&[none]), "cycles=none");
    }

    #[test]
    fn hidden_features_are_named_and_serialized_as_text() {
        let h = HookRecord::new(
            "sched_switch",
            "",
            vec![
                Step::new(Method::TpBtf, Outcome::Hidden(Some(Feature::Btf))),
                Step::new(Method::Tracepoint, Outcome::Used),
            ],
        );
        assert_eq!(
            h.fallback().as_deref(),
            Some("sched_switch: tp_btf BTF hidden by NETCOPY_HIDE -> tracepoint")
        );
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["steps"][0]["outcome"], "BTF hidden by NETCOPY_HIDE");
        assert_eq!(json["chosen"], "tracepoint");
    }
}
