//! `netcopy doctor`'s table: what this kernel and process allow, and for each hook the
//! methods tried, what came of each, and the one a trace uses.

use std::fmt::Write as _;

use crate::{model::HookRecord, probes::features::Features};

pub fn render(features: &Features, hooks: &[HookRecord]) -> String {
    let mut o = String::new();
    let yes_no = |b: bool, yes: &str, no: &str| if b { yes.to_owned() } else { no.to_owned() };
    let _ = writeln!(o, "netcopy doctor");
    let privileges = if features.missing_caps.is_empty() {
        "ok (CAP_BPF and CAP_PERFMON)".to_owned()
    } else {
        format!(
            "missing {}: run as root (sudo) or setcap the binary",
            features.missing_caps.join(" and ")
        )
    };
    let _ = writeln!(o, "  privileges  {privileges}");
    let _ = writeln!(
        o,
        "  BTF         {}",
        yes_no(
            features.btf,
            "/sys/kernel/btf/vmlinux present",
            "absent: no tp_btf or fentry"
        )
    );
    let _ = writeln!(
        o,
        "  tracefs     {}",
        yes_no(
            features.tracefs_mounted,
            "mounted at /sys/kernel/tracing",
            "not mounted: netcopy mounts it when it traces (mount -t tracefs tracefs /sys/kernel/tracing)"
        )
    );
    let _ = writeln!(
        o,
        "  PMU         {}",
        yes_no(
            features.pmu,
            "present",
            "none: cycles and instructions are null"
        )
    );
    if !features.hidden.is_empty() {
        let _ = writeln!(
            o,
            "  hidden      {} (NETCOPY_HIDE)",
            features.hidden.join(", ")
        );
    }
    let _ = writeln!(o, "  plan        hook          method used          tried");
    for h in hooks {
        let tried: Vec<String> = h
            .steps
            .iter()
            .map(|s| format!("{}: {}", s.method.name(), s.outcome))
            .collect();
        let _ = writeln!(
            o,
            "              {:<13} {:<20} {}",
            h.hook,
            h.chosen.map_or("none (null)", |m| m.name()),
            tried.join("; ")
        );
    }
    o
}
