//! The terminal table of `netcopy trace --pid/--comm/--cgroup` (its JSON is the
//! [`ExternalSummary`] itself).

use std::fmt::Write as _;

use super::summary::{
    render_fallbacks, render_offcpu, render_stackless, render_stages, render_syscalls,
};
use crate::model::ExternalSummary;

pub fn render(s: &ExternalSummary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "netcopy trace: {} for {:.2} s{}",
        s.targets.join(", "),
        s.seconds,
        if s.interrupted { "  [INTERRUPTED]" } else { "" }
    );
    if s.syscalls.is_empty() {
        o.push_str("  no socket calls were traced\n");
    } else {
        render_syscalls(&mut o, &s.syscalls);
        render_offcpu(&mut o, &s.syscalls);
    }
    if let Some(rows) = &s.stages {
        render_stages(&mut o, rows);
    }
    render_fallbacks(&mut o, &s.fallbacks);
    render_stackless(&mut o, s.stackless_samples);
    let _ = writeln!(o, "  records     {} lost", s.lost);
    o
}
