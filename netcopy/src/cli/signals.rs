//! Ctrl-C, SIGTERM and SIGHUP: caught from the first line of `main`, so a signal during
//! argument checks and setup stops the run as soon as it starts instead of killing the
//! process halfway through its setup; while a run goes they only request a stop, and the run
//! winds down, cleans up (namespaces, programs) and still reports what it measured.

use std::sync::atomic::{AtomicBool, Ordering};

use super::error::Error;
use crate::workload::conn::Stop;

/// Set by a signal that came before [`with_signals`] listened.
static EARLY_STOP: AtomicBool = AtomicBool::new(false);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn early_stop(_: libc::c_int) {
    // A second signal before the run listens: the user means it.
    if EARLY_STOP.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// The first thing `main` does.
pub fn catch_early() {
    for sig in SIGNALS {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, early_stop as *const () as libc::sighandler_t);
        }
    }
}

/// The default dispositions back, for commands that run no workload (report, plot, doctor):
/// Ctrl-C simply ends them.
pub fn default_signals() {
    for sig in SIGNALS {
        // SAFETY: restoring the default disposition.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// Run blocking `work` while the signals only request a stop of `stop`.
pub fn with_signals<T: Send + 'static, E: Into<Error> + Send + 'static>(
    stop: &Stop,
    work: impl FnOnce(&Stop) -> Result<T, E> + Send + 'static,
) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("start the signal handler"))?;
    let stop = stop.clone();
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let handler = |kind| signal(kind).map_err(Error::io("install a signal handler"));
        let mut int = handler(SignalKind::interrupt())?;
        let mut term = handler(SignalKind::terminate())?;
        let mut hup = handler(SignalKind::hangup())?;
        // From here on tokio sees every signal (its handlers also call the early one); one
        // that came before is in the flag.
        if EARLY_STOP.load(Ordering::SeqCst) {
            eprintln!("netcopy: interrupted while starting, stopping at once");
            stop.request();
        }
        let worker_stop = stop.clone();
        let mut handle = tokio::task::spawn_blocking(move || work(&worker_stop));
        loop {
            tokio::select! {
                done = &mut handle => {
                    return done.map_err(|_| Error::Panicked("the workload thread"))?.map_err(Into::into);
                }
                _ = int.recv() => {
                    eprintln!("netcopy: interrupted, stopping (the summary covers the part that ran)");
                    stop.request();
                }
                _ = term.recv() => {
                    eprintln!("netcopy: terminated, stopping");
                    stop.request();
                }
                _ = hup.recv() => {
                    eprintln!("netcopy: hangup, stopping");
                    stop.request();
                }
            }
        }
    })
}
