//! Which end of the workload each of its threads is, decided once, where the thread is
//! started ([`spawn`]): a sending thread is the server, a receiving one the client. The
//! summary, syscalls.parquet and the stage tables all take a thread's role from [`of`].
//!
//! Threads register only while a trace records (a [`Recording`] is alive), and stay
//! registered until the last recording ends, so records read at the very end of a trace,
//! after their threads exited, still find their role. Untraced runs and `netcopy serve` keep
//! nothing.

use std::{
    collections::BTreeMap,
    fmt::Display,
    sync::{Mutex, PoisonError},
    thread,
};

use crate::model::Role;

struct Book {
    recordings: usize,
    roles: BTreeMap<u32, Role>,
}

static BOOK: Mutex<Book> = Mutex::new(Book {
    recordings: 0,
    roles: BTreeMap::new(),
});

fn book() -> std::sync::MutexGuard<'static, Book> {
    BOOK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// While alive, workload threads that start register their role.
#[must_use = "threads register only while the recording is alive"]
pub struct Recording(());

impl Recording {
    pub fn start() -> Self {
        book().recordings += 1;
        Self(())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let mut b = book();
        b.recordings = b.recordings.saturating_sub(1);
        if b.recordings == 0 {
            b.roles.clear();
        }
    }
}

/// The role of thread `tid`: `Other` for a thread that is not one of the workload's ends.
pub fn of(tid: u32) -> Role {
    book().roles.get(&tid).copied().unwrap_or(Role::Other)
}

/// The calling thread is `role`'s, from now on.
fn register(role: Role) {
    let mut b = book();
    if b.recordings > 0 {
        b.roles.insert(super::gettid(), role);
    }
}

/// The thread name of connection `index` of `role`: `nc-send-N` or `nc-recv-N`.
pub fn thread_name(role: Role, index: impl Display) -> String {
    match role {
        Role::Server => format!("nc-send-{index}"),
        Role::Client => format!("nc-recv-{index}"),
        Role::Other => format!("nc-{index}"),
    }
}

/// Start the thread of connection `index` of `role`, named for it, registered as it.
pub fn spawn<T: Send + 'static>(
    role: Role,
    index: impl Display,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<thread::JoinHandle<T>> {
    thread::Builder::new()
        .name(thread_name(role, index))
        .spawn(move || {
            register(role);
            f()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid_of(role: Role) -> u32 {
        spawn(role, 7, super::super::gettid)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn threads_keep_their_role_while_a_recording_lasts() {
        let recording = Recording::start();
        let (sender, receiver) = (tid_of(Role::Server), tid_of(Role::Client));
        // Both threads have exited: their records, read later, still find their roles.
        assert_eq!(of(sender), Role::Server);
        assert_eq!(of(receiver), Role::Client);
        assert_eq!(of(super::super::gettid()), Role::Other);
        drop(recording);
        // Other tests may record at the same time; only a thread started with none is sure
        // to be unknown, so check the names instead of the emptied book.
        assert_eq!(thread_name(Role::Server, 3), "nc-send-3");
        assert_eq!(thread_name(Role::Client, 0), "nc-recv-0");
    }
}
