//! `netcopy trace`: run the built-in workload with the probes attached, and check what the
//! probes counted against what the workload counted itself.
//!
//! So far the probes are the send-syscall counters (the tracer issue adds the rest).

use thiserror::Error;

use crate::{
    probes::{ProbeError, Probes, syscalls::METHOD},
    report::summary::{ProbeCheck, RunSummary},
    workload::{
        client::ClientConfig,
        conn::Stop,
        run::{NetPath, RunError, run},
    },
};

#[derive(Debug, Error)]
pub enum TraceError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Attach the probes to this process, run the workload, and return its summary with the
/// probes' counts beside the workload's.
pub fn trace(cfg: &ClientConfig, path: NetPath, stop: &Stop) -> Result<RunSummary, TraceError> {
    let mut probes = Probes::load()?;
    probes.attach_send_counters()?;
    probes.add_target(std::process::id())?;
    let outcome = run(cfg, path, stop)?;

    let senders = outcome
        .served
        .iter()
        .map(|s| (s.report.tid, s.report.calls));
    let receivers = outcome.client.receivers.iter().map(|r| (r.tid, r.calls));
    let (tids, calls): (Vec<u32>, Vec<_>) = senders.chain(receivers).unzip();
    let counted = probes.send_counts(&tids)?;
    let mut summary = RunSummary::new(&outcome);
    summary.probe = Some(ProbeCheck {
        method: METHOD,
        sendmsg_probe: counted.sendmsg,
        sendmsg_workload: calls.iter().map(|c| c.sendmsg).sum(),
        sendto_probe: counted.sendto,
        sendto_workload: calls.iter().map(|c| c.sendto).sum(),
    });
    Ok(summary)
}
