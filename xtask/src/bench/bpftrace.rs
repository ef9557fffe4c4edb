//! bpftrace beside netcopy in the observer-effect comparison: the latency one-liner a
//! performance engineer reaches for first (the peer), and empty programs on
//! `raw_syscalls:sys_enter`/`sys_exit` (the floor: what hooking every syscall costs at all,
//! before any work is done in the program).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};

/// The syscalls a mode's loops make per message: (send, receive). The bench's 1-byte loop
/// (`tiny`) sends with send(2), which is sendto, and reads with read(2).
fn calls(mode: &str) -> (&'static str, &'static str) {
    match mode {
        "twocopy" => ("sendto", "recvfrom"),
        "tiny" => ("sendto", "read"),
        _ => ("sendmsg", "recvmsg"),
    }
}

/// The peer: per-call latency histograms of the mode's send and receive calls (for onecopy
/// exactly the one-liner of the observer-effect issue; twocopy's calls are send/recv, so it
/// hooks sendto/recvfrom the same way).
pub fn peer(mode: &str) -> String {
    let (s, r) = calls(mode);
    format!(
        "tracepoint:syscalls:sys_enter_{s},tracepoint:syscalls:sys_enter_{r} {{ @s[tid] = nsecs; }} \
         tracepoint:syscalls:sys_exit_{s},tracepoint:syscalls:sys_exit_{r} /@s[tid]/ \
         {{ @lat[probe] = hist(nsecs - @s[tid]); delete(@s[tid]); }}"
    )
}

/// The floor: programs that do nothing, on the two tracepoints netcopy's syscall family uses.
pub const FLOOR: &str =
    "tracepoint:raw_syscalls:sys_enter { } tracepoint:raw_syscalls:sys_exit { }";

/// The clock floor: programs on the same two tracepoints that read the clock once and do
/// nothing else, what timing a call costs at the least (bpf_stats of these programs is the
/// floor netcopy's syscall programs are judged beside).
pub const CLOCK_FLOOR: &str = "tracepoint:raw_syscalls:sys_enter { $t = nsecs; } \
     tracepoint:raw_syscalls:sys_exit { $t = nsecs; }";

/// The hook floor: programs that do nothing on every event a default trace hooks (the
/// attach plan `netcopy doctor` prints): syscall entry and exit, sched_switch, the four net
/// tracepoints, the two io_uring ones, the brackets' softirq and transmit events, and a
/// clock on every CPU for the stack sampler. bpftrace 0.17 has no raw tracepoints, so
/// the hooks netcopy attaches as tp_btf or raw_tp are classic tracepoints here, which cost
/// more to fire: a floor on the pessimistic side. The clock runs at [`SAMPLE_HZ`], the
/// default trace's rate.
pub fn hooks_floor() -> String {
    format!(
        "tracepoint:raw_syscalls:sys_enter, tracepoint:raw_syscalls:sys_exit, \
         tracepoint:sched:sched_switch, tracepoint:tcp:tcp_sendmsg_locked, \
         tracepoint:skb:skb_copy_datagram_iovec, tracepoint:net:net_dev_xmit, \
         tracepoint:net:netif_receive_skb, tracepoint:io_uring:io_uring_submit_req, \
         tracepoint:io_uring:io_uring_complete, tracepoint:irq:softirq_entry, \
         tracepoint:irq:softirq_exit, tracepoint:net:net_dev_start_xmit, profile:hz:{SAMPLE_HZ} {{ }}"
    )
}

/// netcopy trace's default stack sampling rate per CPU (`DEFAULT_HZ` in
/// netcopy/src/probes/sample.rs; a test checks they agree).
pub const SAMPLE_HZ: u32 = 499;

/// What bpftrace's sampler counts each sample under.
#[derive(Clone, Copy)]
pub enum SampleKey {
    /// The whole kernel stack, as netcopy's sampler reads it (the peer).
    Stack,
    /// The kernel stack cut at its first frame: the least any sampler that walks the
    /// kernel stack at all pays per sample.
    OneFrame,
    /// The thread only: what a sample costs before any stack is walked.
    Thread,
}

/// bpftrace sampling the bench loop's threads (`xtask bench-loop`: `xtask` sends,
/// `bl-recv` receives) at [`SAMPLE_HZ`], counting samples by `key`.
pub fn sampler(key: SampleKey) -> String {
    let key = match key {
        SampleKey::Stack => "kstack",
        SampleKey::OneFrame => "kstack(1)",
        SampleKey::Thread => "tid",
    };
    format!(
        "profile:hz:{SAMPLE_HZ} /comm == \"xtask\" || comm == \"bl-recv\"/ {{ @[{key}] = count(); }}"
    )
}

/// Where netcopy mounts tracefs when it is missing (`TRACEFS` in netcopy/src/probes/mod.rs).
const TRACEFS: &str = "/sys/kernel/tracing";

/// bpftrace finds tracepoints through tracefs, and a fresh machine may not have it mounted
/// before netcopy first traces ("tracepoint not found"): mount it as netcopy would.
fn ensure_tracefs() -> anyhow::Result<()> {
    if std::path::Path::new(TRACEFS).join("events").exists() {
        return Ok(());
    }
    let status = Command::new("mount")
        .args(["-t", "tracefs", "tracefs", TRACEFS])
        .status()
        .context("mount")?;
    if !status.success() {
        bail!(
            "tracefs is not mounted at {TRACEFS} and `mount -t tracefs tracefs {TRACEFS}` failed ({status})"
        );
    }
    Ok(())
}

/// A bpftrace program running until dropped (then stopped with SIGINT and reaped).
pub struct Running(Child);

impl Running {
    /// Start `program` and wait until its probes are attached.
    pub fn start(program: &str) -> anyhow::Result<Self> {
        ensure_tracefs()?;
        let mut child = Command::new("bpftrace")
            .args(["-e", program])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("bpftrace (cargo xtask setup installs it)")?;
        let mut out = BufReader::new(child.stdout.take().context("bpftrace stdout")?);
        let mut line = String::new();
        // bpftrace says "Attaching N probes..." and attaches them right after.
        if out.read_line(&mut line)? == 0 || !line.starts_with("Attaching") {
            let _ = child.kill();
            let err = child.wait_with_output()?;
            bail!(
                "bpftrace did not attach ({line:?}): {}",
                String::from_utf8_lossy(&err.stderr).trim()
            );
        }
        // Whatever it prints later (the maps at exit) is read and dropped, so it never
        // blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        std::thread::sleep(Duration::from_millis(500));
        Ok(Self(child))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // bpftrace 0.17 has been seen to miss a SIGINT (it stayed in epoll_wait until a
        // second one came): ask once a second, and kill it after 10 s.
        let pid = self.0.id() as libc::pid_t;
        for _ in 0..10 {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGINT) };
            for _ in 0..20 {
                if self.0.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `f` while `program` runs under bpftrace.
pub fn under<T>(program: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let _running = Running::start(program)?;
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_hooks_the_calls_each_mode_makes() {
        let one = peer("onecopy");
        assert!(one.contains("sys_enter_sendmsg,tracepoint:syscalls:sys_enter_recvmsg"));
        assert!(one.contains("sys_exit_sendmsg,tracepoint:syscalls:sys_exit_recvmsg"));
        let two = peer("twocopy");
        assert!(two.contains("sys_enter_sendto,tracepoint:syscalls:sys_enter_recvfrom"));
        assert!(!two.contains("sendmsg"));
        let tiny = peer("tiny");
        assert!(tiny.contains("sys_enter_sendto,tracepoint:syscalls:sys_enter_read "));
    }

    #[test]
    fn the_sampling_rate_is_netcopys_default() {
        let source = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../netcopy/src/probes/sample.rs"
        );
        let text = std::fs::read_to_string(source).unwrap();
        let line = format!("pub const DEFAULT_HZ: u64 = {SAMPLE_HZ};");
        assert!(text.contains(&line), "{source} does not say `{line}`");
        assert!(hooks_floor().ends_with(&format!("profile:hz:{SAMPLE_HZ} {{ }}")));
        assert!(sampler(SampleKey::Stack).contains("@[kstack] = count()"));
        assert!(sampler(SampleKey::OneFrame).contains("@[kstack(1)] = count()"));
        assert!(!sampler(SampleKey::Thread).contains("kstack"));
    }
}
