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

use super::tools::json_of;

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

    /// The C loop's Gbit/s for `mode` ("twocopy"/"onecopy") and `size` bytes.
    pub fn loop_gbps(&self, mode: &str, size: u64, secs: f64) -> anyhow::Result<f64> {
        let out = Command::new(&self.looped)
            .args([mode, &size.to_string(), &secs.to_string()])
            .output()
            .context("run the C loop")?;
        let v: Value = json_of(&out, "C loop")?;
        v["gbps"].as_f64().context("C loop: no gbps")
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
