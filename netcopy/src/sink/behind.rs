//! The group of threads that encode behind the workload (the spool's reader and the
//! table's encoder): in SCHED_IDLE while the trace runs, moved back to SCHED_OTHER when the
//! spool's backlog grows too long or the trace ends. No hooks, no numbers: a scheduling
//! class for threads of this process.
//!
//! The collector must never wait for a member: a member in SCHED_IDLE that holds the
//! group's lock may stay off the CPU for as long as the workload keeps it busy.

use std::sync::{Arc, Mutex};

/// The threads that encode behind the workload, and whether they are in SCHED_IDLE now.
pub struct Behind {
    /// Their thread ids, and whether they are idle.
    state: Mutex<(Vec<libc::pid_t>, bool)>,
}

impl Behind {
    /// A new group, idle from the start.
    pub fn idle() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new((Vec::new(), true)),
        })
    }

    /// Put the calling thread in the group, in the group's class, until the returned
    /// [`Member`] is dropped. A thread must leave before it ends: its id could be another
    /// process's thread by the next [`Self::set_idle`].
    ///
    /// The thread moves itself to SCHED_IDLE only after it lets go of the group's lock: a
    /// thread that did so holding it was taken off the CPU at once by a busy workload and
    /// held the lock for 200-600 ms, and the collector waited for it in [`Self::set_idle`]
    /// while the ring buffer filled (records lost in parallel eBPF tests, 2026-12-06).
    #[must_use]
    pub fn join(self: &Arc<Self>) -> Member {
        // SAFETY: a syscall without arguments.
        let tid = unsafe { libc::gettid() };
        let mut idle = match self.state.lock() {
            Ok(mut state) => {
                state.0.push(tid);
                Some(state.1)
            }
            Err(_) => None,
        };
        // Until the class set is the group's: a `set_idle` between the unlock and
        // `set_class` may have moved this thread already, to the other class.
        while let Some(class) = idle {
            set_class(tid, class);
            idle = match self.state.lock() {
                Ok(state) if state.1 != class => Some(state.1),
                _ => None,
            };
        }
        Member {
            behind: self.clone(),
            tid,
        }
    }

    /// Move every thread of the group to SCHED_IDLE (`idle`) or back to SCHED_OTHER.
    pub fn set_idle(&self, idle: bool) {
        if let Ok(state) = self.state.lock() {
            Self::apply(state, idle);
        }
    }

    /// [`Self::set_idle`] unless a member holds the group's lock now (a member in
    /// SCHED_IDLE may hold it for as long as the workload keeps the CPUs busy); whether
    /// the group is in `idle`'s class now. The collector calls this, and calls it again
    /// with its next chunk.
    pub fn try_set_idle(&self, idle: bool) -> bool {
        match self.state.try_lock() {
            Ok(state) => {
                Self::apply(state, idle);
                true
            }
            Err(_) => false,
        }
    }

    fn apply(mut state: std::sync::MutexGuard<'_, (Vec<libc::pid_t>, bool)>, idle: bool) {
        if state.1 != idle {
            state.1 = idle;
            for tid in &state.0 {
                set_class(*tid, idle);
            }
        }
    }
}

/// A thread's place in a [`Behind`] group: it leaves the group when this is dropped.
pub struct Member {
    behind: Arc<Behind>,
    tid: libc::pid_t,
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Ok(mut state) = self.behind.state.lock() {
            state.0.retain(|t| *t != self.tid);
        }
    }
}

/// Best effort: a thread left in its class by a refused call only encodes sooner.
fn set_class(tid: libc::pid_t, idle: bool) {
    let policy = if idle {
        libc::SCHED_IDLE
    } else {
        libc::SCHED_OTHER
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a plain syscall on a thread of this process, with a valid parameter.
    unsafe { libc::sched_setscheduler(tid, policy, &param) };
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use super::*;

    #[test]
    fn the_encoding_threads_run_idle_until_they_are_moved_back() {
        let behind = Behind::idle();
        let (tid_tx, tid_rx) = channel();
        let (done_tx, done_rx) = channel::<()>();
        let thread = {
            let behind = behind.clone();
            std::thread::spawn(move || {
                let member = behind.join();
                // SAFETY: a syscall without arguments.
                tid_tx.send(unsafe { libc::gettid() }).unwrap();
                let _ = done_rx.recv_timeout(std::time::Duration::from_secs(10));
                drop(member);
                tid_tx.send(0).unwrap();
            })
        };
        let tid = tid_rx.recv().unwrap();
        // SAFETY: a plain syscall on a thread of this process.
        let policy = || unsafe { libc::sched_getscheduler(tid) };
        assert_eq!(policy(), libc::SCHED_IDLE);
        behind.set_idle(false);
        if nix::unistd::geteuid().is_root() {
            // Leaving SCHED_IDLE needs CAP_SYS_NICE (or a nice limit) without root.
            assert_eq!(policy(), libc::SCHED_OTHER);
        }
        done_tx.send(()).unwrap();
        assert_eq!(tid_rx.recv().unwrap(), 0);
        // A thread that left is not moved any more.
        assert!(behind.state.lock().unwrap().0.is_empty());
        thread.join().unwrap();
    }

    #[test]
    fn the_writer_does_not_wait_for_a_member_holding_the_lock() {
        let behind = Behind::idle();
        let held = behind.state.lock().unwrap();
        // A blocking `set_idle` here would never return.
        assert!(!behind.try_set_idle(false));
        drop(held);
        assert!(
            behind.state.lock().unwrap().1,
            "unchanged while the lock was held"
        );
        assert!(behind.try_set_idle(false));
        assert!(!behind.state.lock().unwrap().1);
    }
}
