//! Syscall family, user side: attach the entry and exit programs of the socket calls.
//!
//! Hooks (`netcopy-ebpf/src/syscalls/`), the first that loads and attaches:
//! - tp_btf on `raw_syscalls:sys_enter`/`sys_exit`, which reads the registers with plain
//!   loads (needs BTF; `NETCOPY_HIDE=btf` hides it);
//! - raw_tp on the same two, which reads them through a helper (`NETCOPY_HIDE=rawtp`);
//! - the 18 classic `syscalls:sys_{enter,exit}_*` tracepoints.
//!
//! `NETCOPY_HIDE=callbodies` attaches [`FLOOR`] instead of the tp_btf programs: the hook
//! floor, which counts nothing. `NETCOPY_HIDE=callwork` attaches [`TIMER`]: the timing
//! floor, which times each traced call and counts nothing either.
//!
//! The first two decode syscall numbers and registers of one architecture
//! (`netcopy_common::syscalls::raw::ARCH`) and are tried only there. Numbers: one record per
//! call and exact per-thread counts (read back in `maps`).

use aya::programs::{BtfTracePoint, TracePoint};
use netcopy_common::syscalls::raw;

use super::{Intent, ProbeError, Probes, program_error};
use crate::model::{HookRecord, Method, Outcome, Step, attach::Feature};

/// (program, tracepoint category, tracepoint name) of the classic programs.
pub const CLASSIC: [(&str, &str, &str); 18] = [
    ("sys_enter_sendto", "syscalls", "sys_enter_sendto"),
    ("sys_exit_sendto", "syscalls", "sys_exit_sendto"),
    ("sys_enter_sendmsg", "syscalls", "sys_enter_sendmsg"),
    ("sys_exit_sendmsg", "syscalls", "sys_exit_sendmsg"),
    ("sys_enter_recvfrom", "syscalls", "sys_enter_recvfrom"),
    ("sys_exit_recvfrom", "syscalls", "sys_exit_recvfrom"),
    ("sys_enter_recvmsg", "syscalls", "sys_enter_recvmsg"),
    ("sys_exit_recvmsg", "syscalls", "sys_exit_recvmsg"),
    ("sys_enter_write", "syscalls", "sys_enter_write"),
    ("sys_exit_write", "syscalls", "sys_exit_write"),
    ("sys_enter_read", "syscalls", "sys_enter_read"),
    ("sys_exit_read", "syscalls", "sys_exit_read"),
    ("sys_enter_writev", "syscalls", "sys_enter_writev"),
    ("sys_exit_writev", "syscalls", "sys_exit_writev"),
    ("sys_enter_readv", "syscalls", "sys_enter_readv"),
    ("sys_exit_readv", "syscalls", "sys_exit_readv"),
    (
        "sys_enter_io_uring_enter",
        "syscalls",
        "sys_enter_io_uring_enter",
    ),
    (
        "sys_exit_io_uring_enter",
        "syscalls",
        "sys_exit_io_uring_enter",
    ),
];

/// (program, raw tracepoint) of the raw_tp programs.
pub const RAW: [(&str, &str); 2] = [("raw_sys_enter", "sys_enter"), ("raw_sys_exit", "sys_exit")];

/// (program, BTF tracepoint) of the tp_btf programs.
pub const BTF: [(&str, &str); 2] = [("btf_sys_enter", "sys_enter"), ("btf_sys_exit", "sys_exit")];

/// (program, BTF tracepoint) of the hook floor, attached instead of [`BTF`] where
/// `NETCOPY_HIDE=callbodies`: the same hooks, programs that return at once.
pub const FLOOR: [(&str, &str); 2] = [
    ("floor_sys_enter", "sys_enter"),
    ("floor_sys_exit", "sys_exit"),
];

/// (program, BTF tracepoint) of the timing floor, attached instead of [`BTF`] where
/// `NETCOPY_HIDE=callwork`: the same hooks, programs that find the thread and read the
/// clock at entry and exit.
pub const TIMER: [(&str, &str); 2] = [
    ("timer_sys_enter", "sys_enter"),
    ("timer_sys_exit", "sys_exit"),
];

/// The syscalls hook: what came of tp_btf, raw_tp and the classic tracepoints.
pub fn record(btf: Outcome, raw: Outcome, classic: Outcome) -> HookRecord {
    HookRecord::new(
        "syscalls",
        "enter/exit of sendto, sendmsg, recvfrom, recvmsg, write, read, writev, readv, io_uring_enter: one record per call",
        vec![
            Step::new(Method::Fentry, Outcome::NotBuilt),
            Step::new(Method::TpBtf, btf),
            Step::new(Method::RawTp, raw),
            Step::new(Method::Tracepoint, classic),
        ],
    )
}

/// Why raw_tp cannot be used on a machine of architecture `arch`, if it cannot.
pub fn arch_outcome(arch: &str) -> Option<Outcome> {
    (arch != raw::ARCH).then(|| {
        Outcome::Unavailable(format!(
            "needs {} (the programs decode its syscall numbers; this is {arch})",
            raw::ARCH
        ))
    })
}

impl Probes {
    /// Attach tp_btf where it loads and attaches, else raw_tp, else the classic
    /// tracepoints. A doctor tries tp_btf and raw_tp both and keeps neither.
    pub fn attach_syscalls(&mut self, intent: Intent) -> Result<HookRecord, ProbeError> {
        let keep = intent == Intent::Trace;
        // A floor replaces the tp_btf programs in a trace; the record says that no method
        // traces the calls.
        let floor = [(Feature::CallBodies, &FLOOR), (Feature::CallWork, &TIMER)]
            .into_iter()
            .find(|(f, _)| keep && self.features.is_hidden(*f));
        let btf = self.try_btf_syscalls(keep, floor.map_or(&BTF, |(_, p)| p));
        let raw = match (&btf, intent) {
            (Ok(()), Intent::Trace) => Err(Outcome::NotNeeded),
            _ => self.try_raw(keep),
        };
        let upgrade = if btf.is_ok() { &btf } else { &raw };
        let classic = self.fall_back(upgrade, intent, &CLASSIC)?;
        let btf = match (btf, floor) {
            (Ok(()), Some((hidden, _))) => Outcome::Hidden(Some(hidden)),
            (tried, _) => Outcome::of(tried),
        };
        Ok(record(btf, Outcome::of(raw), classic))
    }

    fn try_btf_syscalls(
        &mut self,
        keep: bool,
        programs: &[(&'static str, &'static str)],
    ) -> Result<(), Outcome> {
        if let Some(no) = arch_outcome(std::env::consts::ARCH) {
            return Err(no);
        }
        let btf = self.btf()?;
        self.attach_all::<BtfTracePoint>(
            programs,
            keep,
            |p, tp| p.load(tp, &btf),
            |p, _| p.attach().map(|_| ()),
            BtfTracePoint::unload,
        )
    }

    fn try_raw(&mut self, keep: bool) -> Result<(), Outcome> {
        if self.features.is_hidden(Feature::RawTp) {
            return Err(Outcome::Hidden(None));
        }
        if let Some(no) = arch_outcome(std::env::consts::ARCH) {
            return Err(no);
        }
        self.attach_raw_tps(&RAW, keep)
    }

    /// The classic tracepoints' outcome where `upgrade` was tried first: not needed when it
    /// worked, else attached (a doctor only says they would be: they are always there).
    pub(crate) fn fall_back(
        &mut self,
        upgrade: &Result<(), Outcome>,
        intent: Intent,
        programs: &[(&'static str, &str, &str)],
    ) -> Result<Outcome, ProbeError> {
        match (upgrade, intent) {
            (Ok(()), _) => Ok(Outcome::NotNeeded),
            (Err(_), Intent::Doctor) => Ok(Outcome::Used),
            (Err(_), Intent::Trace) => {
                self.attach_tracepoints(programs)?;
                Ok(Outcome::Used)
            }
        }
    }

    /// Load and attach classic tracepoint programs, mounting tracefs if it is not there.
    pub(crate) fn attach_tracepoints(
        &mut self,
        programs: &[(&'static str, &str, &str)],
    ) -> Result<(), ProbeError> {
        self.mounted_tracefs |= super::ensure_tracefs()?;
        for &(name, category, event) in programs {
            let program: &mut TracePoint = self.program(name)?;
            program.load().map_err(program_error(name))?;
            program
                .attach(category, event)
                .map_err(program_error(name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use netcopy_common::syscalls::{SyscallKind, raw::NUMBERS};

    use super::*;

    #[test]
    fn another_architecture_falls_back_to_the_tracepoints_and_says_why() {
        assert_eq!(arch_outcome("x86_64"), None);
        let why = arch_outcome("aarch64").unwrap();
        assert!(why.is_fallback());
        let r = record(why.clone(), why, Outcome::Used);
        assert_eq!(r.chosen, Some(Method::Tracepoint));
        assert_eq!(
            r.fallback().as_deref(),
            Some(
                "syscalls: tp_btf needs x86_64 (the programs decode its syscall numbers; this is aarch64) -> tracepoint"
            )
        );
    }

    /// The hook floor's record: no method traces the calls, and it says why.
    #[test]
    fn the_hook_floor_is_recorded_as_tracing_no_call() {
        let r = record(
            Outcome::Hidden(Some(Feature::CallBodies)),
            Outcome::NotNeeded,
            Outcome::NotNeeded,
        );
        assert_eq!(r.chosen, None);
        assert_eq!(
            r.fallback().as_deref(),
            Some("syscalls: tp_btf call bodies hidden by NETCOPY_HIDE -> null")
        );
    }

    /// The numbers raw_tp decodes are this architecture's, where it is the one they are for.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn raw_syscall_numbers_are_the_kernels() {
        for (nr, kind) in NUMBERS {
            let libc_nr = match kind {
                SyscallKind::Sendto => libc::SYS_sendto,
                SyscallKind::Sendmsg => libc::SYS_sendmsg,
                SyscallKind::Recvfrom => libc::SYS_recvfrom,
                SyscallKind::Recvmsg => libc::SYS_recvmsg,
                SyscallKind::Write => libc::SYS_write,
                SyscallKind::Read => libc::SYS_read,
                SyscallKind::Writev => libc::SYS_writev,
                SyscallKind::Readv => libc::SYS_readv,
                SyscallKind::IoUringEnter => libc::SYS_io_uring_enter,
            };
            assert_eq!(nr, libc_nr as u64, "{kind:?}");
        }
        // Every kind once, and the classic programs name every kind's enter and exit.
        for kind in SyscallKind::ALL {
            assert_eq!(NUMBERS.iter().filter(|(_, k)| *k == kind).count(), 1);
            for end in ["enter", "exit"] {
                let name = format!("sys_{end}_{}", kind.name());
                assert!(CLASSIC.iter().any(|(p, _, e)| *p == name && *e == name));
            }
        }
    }
}
