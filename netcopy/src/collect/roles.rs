//! Which end of the workload a traced thread is: read once per thread from its name.
//!
//! The built-in workload names its threads `nc-send-N` (the server, which sends) and
//! `nc-recv-N` (the client, which receives). Threads of other programs are `other`.

use std::collections::HashMap;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The sending end.
    Server,
    /// The receiving end.
    Client,
    /// A thread of some other program.
    Other,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Other => "other",
        }
    }

    /// The role a thread name implies.
    pub fn from_comm(comm: &str) -> Self {
        if comm.starts_with("nc-send-") {
            Role::Server
        } else if comm.starts_with("nc-recv-") {
            Role::Client
        } else {
            Role::Other
        }
    }
}

/// Roles by tid, looked up in /proc the first time a thread is seen.
#[derive(Default)]
pub struct Roles(HashMap<u32, Role>);

impl Roles {
    pub fn of(&mut self, tgid: u32, tid: u32) -> Role {
        *self.0.entry(tid).or_insert_with(|| {
            std::fs::read_to_string(format!("/proc/{tgid}/task/{tid}/comm"))
                .map(|c| Role::from_comm(c.trim()))
                .unwrap_or(Role::Other)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_threads_are_named_by_role() {
        assert_eq!(Role::from_comm("nc-send-0"), Role::Server);
        assert_eq!(Role::from_comm("nc-recv-12"), Role::Client);
        assert_eq!(Role::from_comm("iperf3"), Role::Other);
    }

    #[test]
    fn this_thread_is_found_in_proc() {
        let handle = std::thread::Builder::new()
            .name("nc-recv-7".into())
            .spawn(|| {
                let tid = nix::unistd::gettid().as_raw() as u32;
                Roles::default().of(std::process::id(), tid)
            })
            .unwrap();
        assert_eq!(handle.join().unwrap(), Role::Client);
    }
}
