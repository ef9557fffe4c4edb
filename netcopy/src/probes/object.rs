//! The embedded eBPF object's names against what user space uses: every map of
//! `netcopy_common::maps::ALL` (and no other), the `TASK_PID_OFFSET` global, and every
//! program the families attach, of the kind they attach it as (and no other program), with
//! each fentry/fexit program on the function `netcopy_common::exact::TIMED` names.

use std::collections::BTreeSet;

use aya_obj::{Object, ProgramSection};
use netcopy_common::{exact::TIMED, maps};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use super::{net, sample, sched, syscalls};

/// How a program is attached, as its ELF section says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    TracePoint,
    RawTracePoint,
    BtfTracePoint,
    PerfEvent,
    FEntry,
    FExit,
}

fn kind_of(section: &ProgramSection) -> Option<Kind> {
    Some(match section {
        ProgramSection::TracePoint => Kind::TracePoint,
        ProgramSection::RawTracePoint => Kind::RawTracePoint,
        ProgramSection::BtfTracePoint => Kind::BtfTracePoint,
        ProgramSection::PerfEvent => Kind::PerfEvent,
        ProgramSection::FEntry { .. } => Kind::FEntry,
        ProgramSection::FExit { .. } => Kind::FExit,
        _ => return None,
    })
}

/// Every program user space attaches, with its kind and, for fentry/fexit, its ELF section.
fn expected() -> Vec<(&'static str, Kind, Option<String>)> {
    let mut v = Vec::new();
    for (name, _, _) in syscalls::CLASSIC
        .iter()
        .chain(&net::CLASSIC)
        .chain(&netcopy_common::uring::PROGRAMS)
        .chain(&sched::CLASSIC)
    {
        v.push((*name, Kind::TracePoint, None));
    }
    for (name, _) in syscalls::RAW
        .iter()
        .chain(&net::RAW)
        .chain(&netcopy_common::brackets::PROGRAMS)
    {
        v.push((name, Kind::RawTracePoint, None));
    }
    for (name, _) in syscalls::BTF
        .iter()
        .chain(&syscalls::FLOOR)
        .chain(&syscalls::TIMER)
    {
        v.push((name, Kind::BtfTracePoint, None));
    }
    v.push((sched::BTF_PROGRAM, Kind::BtfTracePoint, None));
    v.push((sample::PROGRAM, Kind::PerfEvent, None));
    v.push((sample::WALK_PROGRAM, Kind::PerfEvent, None));
    for t in &TIMED {
        v.push((
            t.enter,
            Kind::FEntry,
            Some(format!("fentry/{}", t.function)),
        ));
        v.push((t.exit, Kind::FExit, Some(format!("fexit/{}", t.function))));
    }
    v
}

/// The names of every program user space may attach (a test looks for them in the kernel).
pub fn program_names() -> Vec<&'static str> {
    expected().into_iter().map(|(name, _, _)| name).collect()
}

/// What differs between the object and the names user space uses; empty when they agree.
pub fn problems(bytes: &[u8]) -> Vec<String> {
    let obj = match Object::parse(bytes) {
        Ok(o) => o,
        Err(e) => return vec![format!("the object does not parse: {e}")],
    };
    let elf = match object::File::parse(bytes) {
        Ok(f) => f,
        Err(e) => return vec![format!("the object is not ELF: {e}")],
    };
    let mut out = Vec::new();
    // The data sections (`.rodata`, `.bss`, ...) become maps too; they are not named ones.
    let in_object: BTreeSet<&str> = obj
        .maps
        .keys()
        .map(String::as_str)
        .filter(|m| !m.starts_with('.'))
        .collect();
    let named: BTreeSet<&str> = maps::ALL.into_iter().collect();
    for m in in_object.difference(&named) {
        out.push(format!(
            "map {m} is in the object but not in netcopy_common::maps::ALL"
        ));
    }
    for m in named.difference(&in_object) {
        out.push(format!(
            "map {m} of netcopy_common::maps::ALL is not in the object"
        ));
    }
    // Each symbol's section name, for the fentry/fexit targets and the global.
    let section_of = |symbol: &str| {
        elf.symbols().find(|s| s.name() == Ok(symbol)).map(|s| {
            s.section_index()
                .and_then(|i| elf.section_by_index(i).ok())
                .and_then(|sec| sec.name().ok().map(str::to_owned))
                .unwrap_or_default()
        })
    };
    for global in [maps::TASK_PID_OFFSET, netcopy_common::offcpu::WAIT_RANGES] {
        if section_of(global).is_none() {
            out.push(format!("the object has no global {global}"));
        }
    }
    let expected = expected();
    for (name, kind, section) in &expected {
        match obj.programs.get(*name).map(|p| kind_of(&p.section)) {
            None => out.push(format!("program {name} is not in the object")),
            Some(k) if k != Some(*kind) => out.push(format!(
                "program {name} is {k:?} in the object, used as {kind:?}"
            )),
            Some(_) => {}
        }
        if let Some(want) = section {
            let got = section_of(name);
            if got.as_deref() != Some(want.as_str()) {
                out.push(format!("program {name} is in section {got:?}, not {want}"));
            }
        }
    }
    for name in obj.programs.keys() {
        if !expected.iter().any(|(n, _, _)| n == name) {
            out.push(format!(
                "program {name} is in the object but no family attaches it"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_has_the_names_user_space_uses() {
        assert!(
            !super::super::OBJECT.is_empty(),
            "built with AYA_BUILD_SKIP=1: no object to check"
        );
        let problems = problems(super::super::OBJECT);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_renamed_map_is_found() {
        let mut renamed = super::super::OBJECT.to_vec();
        // Every THREADS -> THREADZ: the same length, so the ELF and its BTF stay whole.
        let at: Vec<usize> = renamed
            .windows(8)
            .enumerate()
            .filter(|(_, w)| *w == b"THREADS\0")
            .map(|(i, _)| i)
            .collect();
        assert!(!at.is_empty(), "the map's name is in the object");
        for i in at {
            renamed[i + 6] = b'Z';
        }
        let problems = problems(&renamed);
        assert!(
            problems.iter().any(|p| p.contains("THREADZ"))
                && problems.iter().any(|p| p.contains("THREADS")),
            "{problems:#?}"
        );
    }
}
