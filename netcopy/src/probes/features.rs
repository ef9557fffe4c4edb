//! What the running kernel and process offer, read once per trace (or doctor): BTF, tracefs,
//! a hardware PMU, the capabilities tracing needs, and what `NETCOPY_HIDE` hides so that the
//! fallbacks can be exercised on a kernel that has everything.

use std::path::Path;

use serde::Serialize;

use super::{REQUIRED_CAPS, TRACEFS, btf::VMLINUX};
use crate::{model::attach::Feature, privileges};

/// Devices of `/sys/bus/event_source/devices` that are a hardware PMU.
const PMU_DEVICES: [&str; 4] = ["cpu", "cpu_core", "cpu_atom", "armv8_pmuv3_0"];

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
    /// Features hidden with NETCOPY_HIDE (its words: btf, pmu, fentry, rawtp, brackets,
    /// samplering, callbodies, callwork, totals).
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
        let shown = |f: Feature, present: bool| present && !hidden.iter().any(|h| h == f.key());
        let pmu = PMU_DEVICES
            .iter()
            .any(|d| Path::new("/sys/bus/event_source/devices").join(d).exists());
        Self {
            btf: shown(Feature::Btf, Path::new(VMLINUX).exists()),
            tracefs_mounted: Path::new(TRACEFS).join("events").exists(),
            pmu: shown(Feature::Pmu, pmu),
            missing_caps: privileges::missing(&REQUIRED_CAPS)
                .iter()
                .map(ToString::to_string)
                .collect(),
            hidden,
        }
    }

    pub fn is_hidden(&self, feature: Feature) -> bool {
        self.hidden.iter().any(|h| h == feature.key())
    }
}
