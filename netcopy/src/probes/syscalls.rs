//! Syscall family, user side: attach the send-syscall counters and read them back.
//!
//! Hooks: `syscalls:sys_enter_sendmsg`, `syscalls:sys_enter_sendto` (classic tracepoints).
//! Numbers: per-thread entries into each syscall for the target tgids, exact.

use aya::{
    maps::{HashMap, MapData},
    programs::TracePoint,
};
use netcopy_common::syscalls::{SEND_COUNTS_MAP, SendCounts, TARGET_PRESENT, TARGET_TGIDS_MAP};

use super::{ProbeError, Probes};

/// The programs of this family: (program name = tracepoint name, category).
const PROGRAMS: [(&str, &str); 2] = [
    ("sys_enter_sendmsg", "syscalls"),
    ("sys_enter_sendto", "syscalls"),
];

/// How the counts were taken, saved with the run.
pub const METHOD: &str = "tracepoint syscalls:sys_enter_{sendmsg,sendto}";

impl Probes {
    /// Load and attach the send-syscall counters.
    pub fn attach_send_counters(&mut self) -> Result<(), ProbeError> {
        for (name, category) in PROGRAMS {
            let program: &mut TracePoint = self
                .ebpf
                .program_mut(name)
                .ok_or(ProbeError::Missing {
                    kind: "program",
                    name,
                })?
                .try_into()
                .map_err(|source| ProbeError::Program { name, source })?;
            program
                .load()
                .map_err(|source| ProbeError::Program { name, source })?;
            program
                .attach(category, name)
                .map_err(|source| ProbeError::Program { name, source })?;
        }
        Ok(())
    }

    /// Count the threads of process `tgid` from now on.
    pub fn add_target(&mut self, tgid: u32) -> Result<(), ProbeError> {
        let map = self
            .ebpf
            .map_mut(TARGET_TGIDS_MAP)
            .ok_or(ProbeError::Missing {
                kind: "map",
                name: TARGET_TGIDS_MAP,
            })?;
        let mut targets: HashMap<&mut MapData, u32, u8> =
            HashMap::try_from(map).map_err(|source| ProbeError::Map {
                name: TARGET_TGIDS_MAP,
                source,
            })?;
        targets
            .insert(tgid, TARGET_PRESENT, 0)
            .map_err(|source| ProbeError::Map {
                name: TARGET_TGIDS_MAP,
                source,
            })
    }

    /// The counts of `tids`, summed; a thread that made no send call counts zero.
    pub fn send_counts(&self, tids: &[u32]) -> Result<SendCounts, ProbeError> {
        let map = self.ebpf.map(SEND_COUNTS_MAP).ok_or(ProbeError::Missing {
            kind: "map",
            name: SEND_COUNTS_MAP,
        })?;
        let counts: HashMap<&MapData, u32, SendCounts> =
            HashMap::try_from(map).map_err(|source| ProbeError::Map {
                name: SEND_COUNTS_MAP,
                source,
            })?;
        let mut total = SendCounts::default();
        for tid in tids {
            match counts.get(tid, 0) {
                Ok(c) => {
                    total.sendmsg += c.sendmsg;
                    total.sendto += c.sendto;
                }
                Err(aya::maps::MapError::KeyNotFound) => {}
                Err(source) => {
                    return Err(ProbeError::Map {
                        name: SEND_COUNTS_MAP,
                        source,
                    });
                }
            }
        }
        Ok(total)
    }
}
