//! Which process each traced thread belongs to, and its command name, read from /proc when
//! the thread is first seen (a program that exits before the trace ends keeps its name).
//! Records carry the tgid; the `--aggregate` totals only the tid, whose tgid comes from
//! /proc/TID/status.

use std::collections::BTreeMap;

use crate::model::Process;

/// The comm of a process that had gone when it was looked up.
pub const GONE: &str = "?";

/// tid -> process, pid -> comm, and tid -> thread name.
#[derive(Clone, Debug, Default)]
pub struct Processes {
    tgid: BTreeMap<u32, u32>,
    comm: BTreeMap<u32, String>,
    thread: BTreeMap<u32, String>,
}

impl Processes {
    /// Note thread `tid` (of process `tgid`, when known) the first time it is seen.
    pub fn see(&mut self, tid: u32, tgid: Option<u32>) {
        if self.tgid.contains_key(&tid) {
            return;
        }
        let pid = tgid.or_else(|| tgid_of(tid)).unwrap_or(tid);
        self.tgid.insert(tid, pid);
        self.comm.entry(pid).or_insert_with(|| comm_of(pid));
        let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
            .map(|c| c.trim_end_matches('\n').to_owned())
            .unwrap_or_else(|_| GONE.to_owned());
        self.thread.insert(tid, name);
    }

    /// The name thread `tid` had when first seen (threads can name themselves apart from
    /// their process).
    pub fn thread_name(&self, tid: u32) -> Option<&str> {
        self.thread.get(&tid).map(String::as_str)
    }

    /// The process of `tid`: looked up now if it was never seen.
    pub fn of(&self, tid: u32) -> Process {
        let pid = self.tgid.get(&tid).copied().unwrap_or(tid);
        let comm = self.comm.get(&pid).cloned().unwrap_or_else(|| comm_of(pid));
        Process { pid, comm }
    }

    /// The comm of process `pid`, as first seen.
    pub fn comm(&self, pid: u32) -> Option<&str> {
        self.comm.get(&pid).map(String::as_str)
    }
}

/// `Tgid:` of /proc/TID/status.
fn tgid_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// /proc/PID/comm without its newline, or [`GONE`].
pub fn comm_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end_matches('\n').to_owned())
        .unwrap_or_else(|_| GONE.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_named_and_a_missing_one_is_gone() {
        let me = std::process::id();
        let mut p = Processes::default();
        p.see(me, None);
        let own = p.of(me);
        assert_eq!(own.pid, me);
        let expected = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
        assert_eq!(own.comm, expected.trim_end());
        assert_ne!(own.comm, GONE);
        // Pids above pid_max never exist.
        p.see(u32::MAX - 1, Some(u32::MAX - 1));
        assert_eq!(p.of(u32::MAX - 1).comm, GONE);
    }

    #[test]
    fn a_thread_belongs_to_the_tgid_it_was_first_seen_with() {
        let mut p = Processes::default();
        let me = std::process::id();
        p.see(4_000_000_001, Some(me));
        p.see(4_000_000_001, Some(1));
        assert_eq!(p.of(4_000_000_001).pid, me);
    }
}
