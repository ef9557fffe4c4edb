//! The programs the benches run, each returning what it measured: `netcopy run`/`trace`
//! throughput, iperf3's, the minimal loops (`cargo xtask bench-loop`), a loop traced by
//! `netcopy trace --pid` (with the programs' costs from bpf_stats), and a run's peak RSS.

use std::{
    io::{BufRead, BufReader, Write as _},
    os::unix::process::ExitStatusExt as _,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use serde_json::Value;

use super::{PINNED_CPUS, progs};

pub fn json_of(out: &std::process::Output, what: &str) -> anyhow::Result<Value> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{what}: not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

/// A trace at the hook floor, checked: its programs counted none of the calls made. A trace
/// of netcopy's own workload (`probe.threads`) must also show that the workload made calls;
/// a trace of other processes (`--pid`, its `syscalls` rows) must have no row.
fn counted_nothing(v: Value) -> anyhow::Result<Value> {
    let Some(threads) = v["probe"]["threads"].as_array() else {
        let rows = v["syscalls"]
            .as_array()
            .context("the hook floor's trace: neither probe.threads nor syscalls")?;
        let counted: u64 = rows.iter().filter_map(|r| r["calls"].as_u64()).sum();
        if !rows.is_empty() {
            bail!("the hook floor's programs counted {counted} calls: they are not empty");
        }
        return Ok(v);
    };
    let sum = |key: &str| -> u64 { threads.iter().filter_map(|t| t[key].as_u64()).sum() };
    let (made, counted) = (sum("workload"), sum("kernel") + sum("records"));
    if made == 0 {
        bail!("the hook floor's trace: the workload made no call");
    }
    if counted != 0 {
        bail!("the hook floor's programs counted {counted} of {made} calls: they are not empty");
    }
    Ok(v)
}

/// `v[ns] / v[msgs]`: CPU nanoseconds per message from a program's JSON, an error when either
/// is missing or no message was sent.
pub fn per_message(v: &Value, ns: &str, msgs: &str, what: &str) -> anyhow::Result<f64> {
    match (v[ns].as_f64(), v[msgs].as_f64()) {
        (Some(ns), Some(msgs)) if msgs > 0.0 => Ok(ns / msgs),
        _ => bail!("{what}: no {ns} or {msgs}, or no message, in {v}"),
    }
}

/// The programs the benches run, and a scratch directory.
#[derive(Clone)]
pub struct Tools {
    pub netcopy: PathBuf,
    pub xtask: PathBuf,
    pub tmp: PathBuf,
    /// Records lost, and traces run, by the `netcopy trace` runs of [`Self::netcopy_gbps`]
    /// (shared by the clones, so that every side's traces count).
    pub lost: std::rc::Rc<std::cell::Cell<(u64, u64)>>,
    /// `NETCOPY_HIDE` for the netcopy runs (None: nothing hidden).
    pub hide: Option<&'static str>,
}

impl Tools {
    pub fn netcopy(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = self.netcopy_output(args)?;
        json_of(&out, &format!("netcopy {}", args.join(" ")))
    }

    fn netcopy_output(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let mut c = Command::new(&self.netcopy);
        if let Some(hide) = self.hide {
            c.env("NETCOPY_HIDE", hide);
        }
        c.args(args).output().context("run netcopy")
    }

    /// The same tools at netcopy's own hook floor: its tp_btf syscall hooks with programs
    /// that return at once (`callbodies`), and no brackets.
    pub fn hooks_only(&self) -> Tools {
        Tools {
            hide: Some("callbodies,brackets"),
            ..self.clone()
        }
    }

    /// The same tools at netcopy's timing floor: its tp_btf syscall hooks with programs
    /// that find the thread and read the clock at entry and exit (`callwork`), the least any
    /// per-call timer does there, and no brackets.
    pub fn timer_only(&self) -> Tools {
        Tools {
            hide: Some("callwork,brackets"),
            ..self.clone()
        }
    }

    /// Whether the syscall programs are a floor's (the hook floor's or the timing floor's),
    /// which count nothing.
    fn at_hook_floor(&self) -> bool {
        self.hide
            .is_some_and(|h| h.split(',').any(|w| w == "callbodies" || w == "callwork"))
    }

    /// The JSON of a finished `netcopy trace`. At the hook floor the count check of a trace
    /// of its own workload fails by design, and its exit status says so: what it must show
    /// instead is that its programs counted nothing. A trace of other processes (`--pid`)
    /// has no count check, and its status still counts.
    fn trace_json(&self, out: &std::process::Output, what: &str) -> anyhow::Result<Value> {
        if !self.at_hook_floor() {
            return json_of(out, what);
        }
        let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "{what} at the hook floor: not JSON: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
        if v["probe"]["threads"].is_null() && !out.status.success() {
            return json_of(out, what);
        }
        counted_nothing(v)
    }

    /// `netcopy run` (or `trace`) throughput in Gbit/s.
    pub fn netcopy_gbps(
        &self,
        verb: &str,
        mode: &str,
        size: &str,
        secs: f64,
        extra: &[&str],
    ) -> anyhow::Result<f64> {
        let v = self.netcopy_json(verb, mode, size, secs, extra)?;
        v["throughput_gbps"].as_f64().context("no throughput_gbps")
    }

    /// The JSON of one `netcopy run` (or `trace`, whose lost records are added up) of
    /// `secs` after 1 s of warmup.
    pub fn netcopy_json(
        &self,
        verb: &str,
        mode: &str,
        size: &str,
        secs: f64,
        extra: &[&str],
    ) -> anyhow::Result<Value> {
        let d = format!("{secs}s");
        let out = self.tmp.join("trace");
        let out = out.to_string_lossy();
        let mut args = vec![
            verb,
            "--mode",
            mode,
            "--size",
            size,
            "--duration",
            &d,
            "--warmup",
            "1s",
            "--json",
        ];
        if verb == "trace" {
            args.extend(["--out", &out, "--force"]);
        }
        args.extend(extra);
        if verb == "trace" && self.at_hook_floor() {
            return self.trace_json(&self.netcopy_output(&args)?, "netcopy trace");
        }
        let v = self.netcopy(&args)?;
        if verb == "trace" {
            let (lost, runs) = self.lost.get();
            let more = v["probe"]["lost"].as_u64().context("no probe.lost")?;
            self.lost.set((lost + more, runs + 1));
        }
        Ok(v)
    }

    pub fn iperf3_gbps(&self, secs: f64) -> anyhow::Result<f64> {
        let port = "5399";
        let mut server = Command::new("iperf3")
            .args(["-s", "-1", "-p", port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("iperf3 -s (cargo xtask setup installs iperf3)")?;
        std::thread::sleep(Duration::from_millis(300));
        let t = format!("{}", secs.ceil() as u64 + 1);
        let out = Command::new("iperf3")
            .args([
                "-c",
                "127.0.0.1",
                "-p",
                port,
                "-l",
                "64K",
                "-t",
                &t,
                "-O",
                "1",
                "-J",
                "-A",
                PINNED_CPUS,
            ])
            .output()
            .context("iperf3 -c")?;
        let _ = server.wait();
        let v = json_of(&out, "iperf3")?;
        let bps = v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .context("iperf3: no end.sum_received")?;
        Ok(bps / 1e9)
    }

    /// `xtask bench-loop` with these settings.
    fn loop_command(&self, mode: &str, size: &str, secs: f64) -> Command {
        let mut c = Command::new(&self.xtask);
        c.args(["bench-loop", "--mode", mode, "--size", size, "--seconds"])
            .arg(secs.to_string());
        c
    }

    pub fn bench_loop(&self, mode: &str, size: &str, secs: f64) -> anyhow::Result<Value> {
        let out = self
            .loop_command(mode, size, secs)
            .output()
            .context("run bench-loop")?;
        json_of(&out, "bench-loop")
    }

    /// The loop traced by `netcopy trace --pid`: (the loop's result, netcopy's summary, and
    /// with `costs` what each program cost per run, read halfway through with the kernel's
    /// accounting and the stack sampler on); the trace hides [`Self::hide`].
    pub fn traced_loop(
        &self,
        mode: &str,
        size: &str,
        secs: f64,
        costs: bool,
    ) -> anyhow::Result<(Value, Value, Vec<progs::ProgCost>)> {
        let mut lp = self
            .loop_command(mode, size, secs)
            .arg("--wait-go")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("run bench-loop")?;
        let mut lp_out = BufReader::new(lp.stdout.take().context("loop stdout")?);
        let mut line = String::new();
        lp_out.read_line(&mut line)?;
        let pid = line
            .strip_prefix("ready ")
            .map(str::trim)
            .context("bench-loop did not say ready")?
            .to_owned();
        let dir = self.tmp.join("traced-loop");
        // The throughput runs leave the sampler out; the costs run keeps it, so its
        // program is measured too.
        let sampling: &[&str] = if costs { &[] } else { &["--sample-hz", "0"] };
        let mut nc = Command::new(&self.netcopy);
        if let Some(hide) = self.hide {
            nc.env("NETCOPY_HIDE", hide);
        }
        let mut nc = nc
            .args(["trace", "--pid", &pid, "--duration", "600s"])
            .args(sampling)
            .args(["--json", "--force", "--out"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("netcopy trace --pid")?;
        let mut nc_err = BufReader::new(nc.stderr.take().context("netcopy stderr")?);
        loop {
            let mut l = String::new();
            if nc_err.read_line(&mut l)? == 0 {
                bail!("netcopy trace ended before it attached");
            }
            if l.contains("netcopy: tracing") {
                break;
            }
        }
        let mut stdin = lp.stdin.take().context("loop stdin")?;
        // The accounting starts with the loop, so the runs it counts are the loop's: a
        // sampler loaded earlier (bpftrace's, beside this one) is not credited with the cheap
        // runs it made on idle threads while this trace started.
        let stats = costs.then(progs::StatsOn::new).transpose()?;
        writeln!(stdin, "go")?;
        let mut read_costs = Vec::new();
        if stats.is_some() {
            std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
            read_costs = progs::read()?;
        }
        drop(stats);
        line.clear();
        lp_out.read_line(&mut line)?;
        let loop_result: Value = serde_json::from_str(&line).context("bench-loop result")?;
        let _ = lp.wait();
        let out = nc.wait_with_output()?;
        let summary = self.trace_json(&out, "netcopy trace --pid")?;
        Ok((loop_result, summary, read_costs))
    }

    /// Peak RSS in MiB of one `netcopy` run, from wait4.
    pub fn peak_rss_mib(&self, args: &[&str]) -> anyhow::Result<f64> {
        let child = Command::new(&self.netcopy)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, status and usage are valid pointers.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("wait4");
        }
        let exit = std::process::ExitStatus::from_raw(status);
        if !exit.success() {
            bail!("netcopy {} failed ({exit})", args.join(" "));
        }
        Ok(usage.ru_maxrss as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tools that run nothing, with `hide`.
    fn t(hide: Option<&'static str>) -> Tools {
        Tools {
            netcopy: PathBuf::new(),
            xtask: PathBuf::new(),
            tmp: PathBuf::new(),
            lost: Default::default(),
            hide,
        }
    }

    fn trace(threads: Value) -> Value {
        serde_json::json!({ "probe": { "threads": threads } })
    }

    #[test]
    fn the_hook_floor_must_count_nothing_of_a_workload_that_ran() {
        let empty = trace(serde_json::json!([
            { "workload": 500, "kernel": 0, "records": 0 },
            { "workload": 499, "kernel": 0, "records": 0 },
        ]));
        assert!(counted_nothing(empty).is_ok());
        let counting = trace(serde_json::json!([
            { "workload": 500, "kernel": 500, "records": 0 },
        ]));
        let e = counted_nothing(counting).unwrap_err().to_string();
        assert!(e.contains("counted 500 of 500 calls"), "{e}");
        let idle = trace(serde_json::json!([{ "workload": 0, "kernel": 0, "records": 0 }]));
        assert!(counted_nothing(idle).is_err());
        assert!(counted_nothing(serde_json::json!({ "probe": {} })).is_err());
    }

    #[test]
    fn only_a_hide_list_naming_callbodies_is_the_hook_floor() {
        assert!(t(Some("callbodies,brackets")).at_hook_floor());
        assert!(t(Some("brackets,callbodies")).at_hook_floor());
        assert!(t(Some("callwork,brackets")).at_hook_floor());
        assert!(!t(Some("brackets")).at_hook_floor());
        assert!(!t(None).at_hook_floor());
        assert!(t(None).hooks_only().at_hook_floor());
    }

    #[test]
    fn a_finished_trace_is_read_by_its_status_except_at_the_hook_floor() {
        let out = |code: i32, v: Value| std::process::Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: v.to_string().into_bytes(),
            stderr: b"counts differ".to_vec(),
        };
        let empty = trace(serde_json::json!([{ "workload": 9, "kernel": 0, "records": 0 }]));
        let full = trace(serde_json::json!([{ "workload": 9, "kernel": 9, "records": 9 }]));
        let floor = t(None).hooks_only();
        // At the floor a failed count check is what it should show...
        assert!(floor.trace_json(&out(1, empty.clone()), "trace").is_ok());
        // ...and programs that counted are not a floor, whatever the status.
        assert!(floor.trace_json(&out(0, full.clone()), "trace").is_err());
        // Anywhere else the status decides.
        let e = t(None)
            .trace_json(&out(1, full.clone()), "trace")
            .unwrap_err();
        assert!(e.to_string().contains("counts differ"), "{e}");
        assert!(t(None).trace_json(&out(0, full), "trace").is_ok());
        // A trace of other processes (`--pid`): no rows at the floor, and a clean exit.
        let pid = |rows: Value| serde_json::json!({ "syscalls": rows, "lost": 0 });
        assert!(
            floor
                .trace_json(&out(0, pid(serde_json::json!([]))), "trace")
                .is_ok()
        );
        assert!(
            floor
                .trace_json(&out(1, pid(serde_json::json!([]))), "trace")
                .is_err()
        );
        let counted = pid(serde_json::json!([{ "syscall": "sendto", "calls": 5 }]));
        let e = floor.trace_json(&out(0, counted), "trace").unwrap_err();
        assert!(e.to_string().contains("counted 5 calls"), "{e}");
    }
}
