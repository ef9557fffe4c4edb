//! The group of threads that encode behind the workload (the spool's reader and the
//! table's encoder), at one of three [`Level`]s: held (the reader takes no chunk until the
//! trace ends or the spool's backlog grows too long), in SCHED_IDLE, or in SCHED_OTHER. No
//! hooks, no numbers: a scheduling class for threads of this process.
//!
//! The collector must never wait for a member: a member in SCHED_IDLE that holds the
//! group's lock may stay off the CPU for as long as the workload keeps it busy.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How the group runs, from least to most in the workload's way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Level {
    /// Waiting: the work stays in the spool. Where the workload leaves no CPU spare,
    /// SCHED_IDLE threads run in the moments a workload thread sleeps, and each wake-up of
    /// that thread then preempts them instead of finding its CPU idle: onecopy 1K traced on
    /// a 2-CPU VM kept 0.70 of its untraced throughput with them there and 0.78 with them
    /// kept off its CPUs (docs/methodology.md, "Encoding after the trace where no CPU
    /// is spare").
    Held,
    /// In SCHED_IDLE, on CPU time the workload leaves idle.
    #[default]
    Idle,
    /// In SCHED_OTHER, like any thread.
    Normal,
}

impl Level {
    /// The level to rest at beside a workload of `busy` threads that seldom sleep, all
    /// pinned to `pinned` CPUs if they are (`None`: they run anywhere), on the CPUs this
    /// process may use: held where they leave none spare, else idle.
    pub fn beside(busy: usize, pinned: Option<usize>) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self::beside_on(busy, pinned, cpus)
    }

    fn beside_on(busy: usize, pinned: Option<usize>, cpus: usize) -> Self {
        let taken = pinned.map_or(busy, |n| n.min(busy));
        if taken >= cpus {
            Level::Held
        } else {
            Level::Idle
        }
    }
}

/// The member threads' ids, and the group's level.
struct State {
    tids: Vec<libc::pid_t>,
    level: Level,
}

/// The threads that encode behind the workload, and their level.
pub struct Behind {
    state: Mutex<State>,
    /// Told when the level changes, for members waiting while held.
    moved: Condvar,
    /// The level the group rests at while the trace runs.
    rest: Level,
}

impl Behind {
    /// A new group, at `rest` from the start.
    pub fn new(rest: Level) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                tids: Vec::new(),
                level: rest,
            }),
            moved: Condvar::new(),
            rest,
        })
    }

    /// The level the group rests at while the trace runs.
    pub fn rest(&self) -> Level {
        self.rest
    }

    /// Put the calling thread in the group, in the group's class, until the returned
    /// [`Member`] is dropped. A thread must leave before it ends: its id could be another
    /// process's thread by the next [`Self::set_level`].
    ///
    /// The thread moves itself to SCHED_IDLE only after it lets go of the group's lock: a
    /// thread that did so holding it was taken off the CPU at once by a busy workload and
    /// held the lock for 200-600 ms, and the collector waited for it in [`Self::set_level`]
    /// while the ring buffer filled (records lost in parallel eBPF tests, 2026-12-06).
    #[must_use]
    pub fn join(self: &Arc<Self>) -> Member {
        // SAFETY: a syscall without arguments.
        let tid = unsafe { libc::gettid() };
        let mut idle = match self.state.lock() {
            Ok(mut state) => {
                state.tids.push(tid);
                Some(state.level == Level::Idle)
            }
            Err(_) => None,
        };
        // Until the class set is the group's: a `set_level` between the unlock and
        // `set_class` may have moved this thread already, to the other class.
        while let Some(class) = idle {
            set_class(tid, class);
            idle = match self.state.lock() {
                Ok(state) if (state.level == Level::Idle) != class => {
                    Some(state.level == Level::Idle)
                }
                _ => None,
            };
        }
        Member {
            behind: self.clone(),
            tid,
        }
    }

    /// Return once the group is not held (at once when it is not).
    pub fn wait_while_held(&self) {
        let Ok(state) = self.state.lock() else {
            return;
        };
        // The guard is let go at once: only the wait was wanted.
        drop(
            self.moved
                .wait_while(state, |state| state.level == Level::Held),
        );
    }

    /// Move the group to `level`.
    pub fn set_level(&self, level: Level) {
        if let Ok(state) = self.state.lock() {
            self.apply(state, level);
        }
    }

    /// [`Self::set_level`] unless a member holds the group's lock now (a member in
    /// SCHED_IDLE may hold it for as long as the workload keeps the CPUs busy); whether
    /// the group is at `level` now. The collector calls this, and calls it again with its
    /// next chunk.
    pub fn try_set_level(&self, level: Level) -> bool {
        match self.state.try_lock() {
            Ok(state) => {
                self.apply(state, level);
                true
            }
            Err(_) => false,
        }
    }

    fn apply(&self, mut state: MutexGuard<'_, State>, level: Level) {
        if state.level == level {
            return;
        }
        let idle = level == Level::Idle;
        if (state.level == Level::Idle) != idle {
            for tid in &state.tids {
                set_class(*tid, idle);
            }
        }
        state.level = level;
        self.moved.notify_all();
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
            state.tids.retain(|t| *t != self.tid);
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
    use std::{sync::mpsc::channel, time::Duration};

    use super::*;

    #[test]
    fn the_encoding_threads_run_idle_until_they_are_moved_back() {
        let behind = Behind::new(Level::Idle);
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
        behind.set_level(Level::Normal);
        if nix::unistd::geteuid().is_root() {
            // Leaving SCHED_IDLE needs CAP_SYS_NICE (or a nice limit) without root.
            assert_eq!(policy(), libc::SCHED_OTHER);
        }
        done_tx.send(()).unwrap();
        assert_eq!(tid_rx.recv().unwrap(), 0);
        // A thread that left is not moved any more.
        assert!(behind.state.lock().unwrap().tids.is_empty());
        thread.join().unwrap();
    }

    #[test]
    fn the_writer_does_not_wait_for_a_member_holding_the_lock() {
        let behind = Behind::new(Level::Idle);
        let held = behind.state.lock().unwrap();
        // A blocking `set_level` here would never return.
        assert!(!behind.try_set_level(Level::Normal));
        drop(held);
        assert_eq!(
            behind.state.lock().unwrap().level,
            Level::Idle,
            "unchanged while the lock was held"
        );
        assert!(behind.try_set_level(Level::Normal));
        assert_eq!(behind.state.lock().unwrap().level, Level::Normal);
    }

    #[test]
    fn a_held_member_waits_until_the_group_is_moved_and_runs_in_the_class_it_is_moved_to() {
        let behind = Behind::new(Level::Held);
        let (tx, rx) = channel();
        let thread = {
            let behind = behind.clone();
            std::thread::spawn(move || {
                let _member = behind.join();
                behind.wait_while_held();
                // SAFETY: plain syscalls on this thread.
                let policy = unsafe { libc::sched_getscheduler(libc::gettid()) };
                tx.send(policy).unwrap();
            })
        };
        // Still waiting after a while (a member that did not wait would have answered).
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        assert_eq!(behind.rest(), Level::Held);
        behind.set_level(Level::Idle);
        let policy = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(policy, libc::SCHED_IDLE);
        thread.join().unwrap();
        // Not held: returns at once.
        behind.wait_while_held();
    }

    #[test]
    fn a_workload_with_a_busy_thread_for_every_cpu_leaves_the_group_held() {
        assert_eq!(Level::beside_on(2, None, 2), Level::Held);
        assert_eq!(Level::beside_on(3, None, 2), Level::Held);
        assert_eq!(Level::beside_on(2, None, 4), Level::Idle);
        assert_eq!(Level::beside_on(0, None, 1), Level::Idle);
    }

    #[test]
    fn a_workload_pinned_to_fewer_cpus_than_there_are_leaves_one_spare() {
        // Both ends of a 2-CPU machine's workload pinned to one CPU: the other is free.
        assert_eq!(Level::beside_on(2, Some(1), 2), Level::Idle);
        // Pinned to both: none is.
        assert_eq!(Level::beside_on(2, Some(2), 2), Level::Held);
        // Four busy threads pinned to two of four CPUs.
        assert_eq!(Level::beside_on(4, Some(2), 4), Level::Idle);
        // No busy thread takes a CPU, pinned or not.
        assert_eq!(Level::beside_on(0, Some(2), 2), Level::Idle);
    }
}
