//! The C programs of the bench (sources in `c/`), built here with `cc -O2`: `loop`, the
//! calls netcopy's workload makes per message and nothing else (the reference for `netcopy
//! run --no-verify`), and `getpid`, a neighbour making millions of untraced syscalls per
//! second (what hooking raw_syscalls costs every other process).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::{Context, bail};
use serde_json::Value;

use super::tools::{json_of, per_message};

const LOOP_C: &str = include_str!("c/loop.c");
const GETPID_C: &str = include_str!("c/getpid.c");

/// The two programs, built.
pub struct CProgs {
    pub looped: PathBuf,
    pub getpid: PathBuf,
}

/// Compile `source` with `cc -O2` into `dir/name`.
fn build(dir: &Path, name: &str, source: &str) -> anyhow::Result<PathBuf> {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, source).with_context(|| format!("write {}", src.display()))?;
    let out = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg("-lpthread")
        .output()
        .context("cc (the bench builds its C programs with it)")?;
    if !out.status.success() {
        bail!(
            "cc -O2 {name}.c failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(bin)
}

impl CProgs {
    pub fn build(dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            looped: build(dir, "loop", LOOP_C)?,
            getpid: build(dir, "getpid", GETPID_C)?,
        })
    }

    /// The C loop's Gbit/s for `mode` ("twocopy"/"onecopy") and `size` bytes; `pin`: the
    /// sender's and the receiver's CPU, as `netcopy run --cpu-affinity S,R` pins its ends.
    pub fn loop_gbps(
        &self,
        mode: &str,
        size: u64,
        secs: f64,
        pin: Option<(u32, u32)>,
    ) -> anyhow::Result<f64> {
        let v = self.loop_start(mode, size, secs, pin)?.json()?;
        v["gbps"].as_f64().context("C loop: no gbps")
    }

    /// Start the C loop (as [`Self::loop_gbps`] runs it) without waiting for it.
    pub fn loop_start(
        &self,
        mode: &str,
        size: u64,
        secs: f64,
        pin: Option<(u32, u32)>,
    ) -> anyhow::Result<Running> {
        let mut args = vec![mode.to_owned(), size.to_string(), secs.to_string()];
        if let Some((s, r)) = pin {
            args.extend([s.to_string(), r.to_string()]);
        }
        let child = Command::new(&self.looped)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("run the C loop")?;
        Ok(Running(child))
    }

    /// Start the getpid neighbour for `secs`.
    pub fn neighbour(&self, secs: f64) -> anyhow::Result<Neighbour> {
        let child = Command::new(&self.getpid)
            .arg(secs.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .context("run the getpid neighbour")?;
        Ok(Neighbour(child))
    }
}

/// A running C loop.
pub struct Running(Child);

impl Running {
    /// The JSON it prints, once it ends.
    pub fn json(self) -> anyhow::Result<Value> {
        let out = self.0.wait_with_output().context("wait for the C loop")?;
        json_of(&out, "C loop")
    }

    /// Its sender's CPU nanoseconds per message sent, once it ends.
    pub fn sender_ns_per_message(self) -> anyhow::Result<f64> {
        per_message(&self.json()?, "send_cpu_ns", "send_msgs", "C loop")
    }
}

/// A running getpid neighbour.
pub struct Neighbour(Child);

impl Neighbour {
    /// Its getpid calls per second, once it ends.
    pub fn rate(self) -> anyhow::Result<f64> {
        let out = self.0.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("getpid neighbour failed ({})", out.status);
        }
        text.trim()
            .parse()
            .with_context(|| format!("getpid neighbour printed {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progs() -> (PathBuf, CProgs) {
        let dir = std::env::temp_dir().join(format!("xtask-cprogs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let progs = CProgs::build(&dir).unwrap();
        (dir, progs)
    }

    #[test]
    fn the_c_loop_moves_whole_messages_pinned_and_refuses_a_cpu_it_cannot_have() {
        let (dir, c) = progs();
        for mode in ["twocopy", "onecopy"] {
            let gbps = c.loop_gbps(mode, 1024, 0.3, Some((0, 0))).unwrap();
            assert!(gbps > 0.0, "{mode}: {gbps}");
        }
        let out = Command::new(&c.looped)
            .args(["onecopy", "1024", "0.3", "0", "0"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let (bytes, sends) = (
            v["bytes"].as_u64().unwrap(),
            v["send_calls"].as_u64().unwrap(),
        );
        assert_eq!(bytes % 1024, 0, "whole messages only");
        // The sender numbers its messages from 1 as netcopy does, so the last one received
        // carries the count of messages received.
        assert_eq!(v["last_seq"].as_u64(), Some(bytes / 1024), "{v}");
        let (msgs, cpu) = (
            v["send_msgs"].as_u64().unwrap(),
            v["send_cpu_ns"].as_u64().unwrap(),
        );
        // The sender sent at least what arrived, in at most its calls, and its thread ran for
        // some but not more than the run's 0.3 s and a margin.
        assert!(
            msgs >= bytes / 1024 && msgs <= sends,
            "{msgs} messages, {sends} sends"
        );
        assert!(cpu > 0 && cpu < 1_000_000_000, "{cpu} ns");
        let per = c
            .loop_start("onecopy", 1024, 0.3, Some((0, 0)))
            .unwrap()
            .sender_ns_per_message()
            .unwrap();
        assert!(per > 0.0 && per < 1e6, "{per} ns per message");
        assert!(sends >= bytes / 1024, "{sends} sends for {bytes} bytes");
        // A CPU no machine here has: pinning fails and says so, instead of running unpinned.
        let err = c
            .loop_gbps("onecopy", 1024, 0.3, Some((1000, 0)))
            .unwrap_err();
        assert!(format!("{err:#}").contains("setaffinity"), "{err:#}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
