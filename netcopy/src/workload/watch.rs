//! What a trace watches in a run of the workload ([`Watch`]): which end each workload thread
//! is ([`Roles`], decided once, where the thread starts), and the zerocopy completions the
//! senders reap. The summary, syscalls.parquet and the stage tables all take a thread's role
//! from the run's `Roles`; threads of anything else are `other`.

use std::{
    collections::HashMap,
    fmt::Display,
    sync::{Arc, Mutex, PoisonError},
    thread,
};

use super::zerocopy::CompletionLog;
use crate::model::Role;

/// The roles of one run's workload threads, by tid; registered by each thread as it starts
/// and kept after it exits, so records read at the end of a trace still find their role.
#[derive(Clone, Debug, Default)]
pub struct Roles(Arc<Mutex<HashMap<u32, Role>>>);

impl Roles {
    /// The role of thread `tid`: `Other` for a thread that is not one of the run's ends.
    pub fn of(&self, tid: u32) -> Role {
        let roles = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        roles.get(&tid).copied().unwrap_or(Role::Other)
    }

    /// Start the thread of connection `index` of `role`, named for it (`nc-send-N`,
    /// `nc-recv-N`) and registered as it before it does anything else.
    pub fn spawn<T: Send + 'static>(
        &self,
        role: Role,
        index: impl Display,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<thread::JoinHandle<T>> {
        let roles = self.clone();
        thread::Builder::new()
            .name(thread_name(role, index))
            .spawn(move || {
                roles
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(super::gettid(), role);
                f()
            })
    }
}

/// The thread name of connection `index` of `role`.
pub fn thread_name(role: Role, index: impl Display) -> String {
    match role {
        Role::Server => format!("nc-send-{index}"),
        Role::Client => format!("nc-recv-{index}"),
        Role::Other => format!("nc-{index}"),
    }
}

/// What a trace asks of a run (an untraced run watches nothing: the default).
#[derive(Clone, Debug, Default)]
pub struct Watch {
    pub roles: Roles,
    /// Where the zerocopy senders hand each completion they reap, when someone records them.
    pub completions: Option<CompletionLog>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid_of(roles: &Roles, role: Role) -> u32 {
        roles
            .spawn(role, 7, super::super::gettid)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn threads_keep_the_role_they_started_with_after_they_exit() {
        let roles = Roles::default();
        let (sender, receiver) = (tid_of(&roles, Role::Server), tid_of(&roles, Role::Client));
        assert_eq!(roles.of(sender), Role::Server);
        assert_eq!(roles.of(receiver), Role::Client);
        assert_eq!(roles.of(super::super::gettid()), Role::Other);
        // Another run's book knows none of them.
        assert_eq!(Roles::default().of(sender), Role::Other);
        assert_eq!(thread_name(Role::Server, 3), "nc-send-3");
        assert_eq!(thread_name(Role::Client, 0), "nc-recv-0");
    }
}
