//! What each netcopy eBPF program costs per run, from the kernel's own accounting
//! (`kernel.bpf_stats_enabled=1`, then run_time_ns / run_cnt of `bpftool prog show`).
//!
//! The accounting itself adds two clock reads per run, so these numbers are read in a run of
//! their own, never in the runs whose throughput or CPU time the table reports.

use std::{fs, process::Command};

use anyhow::Context;
use serde_json::Value;

const STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// The programs on a traced socket call's path, as `bpftool` names them (the full names,
/// from the programs' BTF).
const ON_THE_PATH: [&str; 22] = [
    "btf_sys_enter",
    "btf_sys_exit",
    FLOOR_ENTER,
    FLOOR_EXIT,
    TIMER_ENTER,
    TIMER_EXIT,
    "raw_sys_enter",
    "raw_sys_exit",
    "sys_enter_sendto",
    "sys_exit_sendto",
    "tcp_sendmsg_locked",
    "skb_copy_datagram_iovec",
    "net_dev_xmit",
    "netif_receive_skb",
    "bracket_softirq_entry",
    "bracket_softirq_exit",
    "bracket_xmit_start",
    "bracket_xmit_end",
    "sched_switch_btf",
    "sched_switch",
    SAMPLER,
    WALK,
];

/// netcopy's own hook floor (`NETCOPY_HIDE=callbodies`): tp_btf programs on the same
/// syscall hooks that return at once.
pub const FLOOR_ENTER: &str = "floor_sys_enter";
pub const FLOOR_EXIT: &str = "floor_sys_exit";

/// netcopy's timing floor (`NETCOPY_HIDE=callwork`): tp_btf programs on the same syscall
/// hooks that find the thread and read the clock at entry and exit, and nothing else.
pub const TIMER_ENTER: &str = "timer_sys_enter";
pub const TIMER_EXIT: &str = "timer_sys_exit";

/// netcopy's stack sampler, as `bpftool` names it.
pub const SAMPLER: &str = "sample_stack";
/// Its calibration twin (`NETCOPY_HIDE=samplering`): the same stack walks, nothing sent.
pub const WALK: &str = "sample_walk";

/// What bpftrace's `profile` programs are listed under when they run beside netcopy's (the
/// sampler's at-once row): their runs and time together, as one entry.
pub const PEER_SAMPLER: &str = "bpftrace's profile programs";

/// One program's cost.
pub struct ProgCost {
    pub name: String,
    pub ns_per_run: f64,
    pub runs: u64,
}

/// Turns the kernel's run-time accounting on until dropped, then back to what it was.
pub struct StatsOn {
    before: String,
}

impl StatsOn {
    pub fn new() -> anyhow::Result<Self> {
        let before = fs::read_to_string(STATS).with_context(|| format!("read {STATS}"))?;
        fs::write(STATS, "1").with_context(|| format!("write {STATS} (needs root)"))?;
        Ok(Self { before })
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        let _ = fs::write(STATS, self.before.trim());
    }
}

/// The cost so far of every program on the path that has run, from `bpftool prog show`.
pub fn read() -> anyhow::Result<Vec<ProgCost>> {
    Ok(parse(&show()?))
}

fn show() -> anyhow::Result<Value> {
    let out = Command::new("bpftool")
        .args(["prog", "show", "-j"])
        .output()
        .context("run bpftool prog show")?;
    serde_json::from_slice(&out.stdout).context("bpftool prog show -j is not JSON")
}

/// bpftrace's syscall programs that have run (netcopy's are not loaded meanwhile): ns per
/// call, the mean entry program plus the mean exit program, each weighted by its runs.
/// bpftrace names a program after its probe, cut to 15 characters (`sys_enter_sendt`).
pub fn bpftrace_per_call() -> anyhow::Result<Option<f64>> {
    Ok(per_call(&show()?))
}

/// bpftrace's perf_event programs (its `profile` probes) that have run: ns per run, all of
/// them together.
pub fn bpftrace_per_sample() -> anyhow::Result<Option<f64>> {
    Ok(per_run_of_type(&show()?, "perf_event", ""))
}

/// ns per run over every program of type `kind` whose name starts with `prefix`, weighted
/// by their runs; `None` when none ran.
fn per_run_of_type(progs: &Value, kind: &str, prefix: &str) -> Option<f64> {
    runs_of_type(progs, kind, prefix).map(|(ns, runs)| ns as f64 / runs as f64)
}

/// Run time and runs added up over the programs of type `kind` whose name starts with
/// `prefix`, leaving netcopy's samplers out (bpftrace names its `profile` programs after the
/// rate); `None` when none ran.
fn runs_of_type(progs: &Value, kind: &str, prefix: &str) -> Option<(u64, u64)> {
    let (ns, runs) = progs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["type"] == kind)
        .filter(|p| {
            p["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix) && ![SAMPLER, WALK].contains(&n))
        })
        .filter_map(|p| Some((p["run_time_ns"].as_u64()?, p["run_cnt"].as_u64()?)))
        .fold((0, 0), |(a, b), (ns, runs)| (a + ns, b + runs));
    (runs > 0).then_some((ns, runs))
}

fn per_call(progs: &Value) -> Option<f64> {
    let mean = |prefix: &str| per_run_of_type(progs, "tracepoint", prefix);
    Some(mean("sys_enter")? + mean("sys_exit")?)
}

fn parse(progs: &Value) -> Vec<ProgCost> {
    let mut costs: Vec<ProgCost> = progs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str()?;
            let runs = p["run_cnt"].as_u64().filter(|&n| n > 0)?;
            let ns = p["run_time_ns"].as_u64()?;
            ON_THE_PATH.contains(&name).then(|| ProgCost {
                name: name.to_owned(),
                ns_per_run: ns as f64 / runs as f64,
                runs,
            })
        })
        .collect();
    costs.sort_by_key(|c| ON_THE_PATH.iter().position(|n| *n == c.name));
    if let Some((ns, runs)) = runs_of_type(progs, "perf_event", "") {
        costs.push(ProgCost {
            name: PEER_SAMPLER.to_owned(),
            ns_per_run: ns as f64 / runs as f64,
            runs,
        });
    }
    costs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_path_programs_that_ran_in_path_order() {
        let v: Value = serde_json::from_str(
            r#"[{"name":"raw_sys_exit","run_cnt":4,"run_time_ns":1000},
                {"name":"other_prog","run_cnt":9,"run_time_ns":9},
                {"name":"tcp_sendmsg_locked","run_cnt":0,"run_time_ns":0},
                {"name":"raw_sys_enter","run_cnt":2,"run_time_ns":300},
                {"name":"net_dev_xmit"}]"#,
        )
        .unwrap();
        let c = parse(&v);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["raw_sys_enter", "raw_sys_exit"]);
        assert_eq!(c[0].ns_per_run, 150.0);
        assert_eq!(c[1].runs, 4);
    }

    #[test]
    fn a_bpftrace_call_is_its_mean_entry_plus_its_mean_exit() {
        let v: Value = serde_json::from_str(
            r#"[{"type":"tracepoint","name":"sys_enter_sendt","run_cnt":100,"run_time_ns":30000},
                {"type":"tracepoint","name":"sys_enter_read","run_cnt":300,"run_time_ns":30000},
                {"type":"tracepoint","name":"sys_exit_sendto","run_cnt":100,"run_time_ns":50000},
                {"type":"kprobe","name":"sys_exit_other","run_cnt":100,"run_time_ns":9999999},
                {"type":"tracepoint","name":"sys_exit_read","run_cnt":0,"run_time_ns":0}]"#,
        )
        .unwrap();
        // Entry: 60000 ns over 400 runs; exit: 50000 over 100.
        assert_eq!(per_call(&v), Some(150.0 + 500.0));
        let no_exit: Value = serde_json::from_str(
            r#"[{"type":"tracepoint","name":"sys_enter","run_cnt":1,"run_time_ns":50}]"#,
        )
        .unwrap();
        assert_eq!(per_call(&no_exit), None);
    }

    #[test]
    fn a_bpftrace_sample_is_the_mean_run_of_its_perf_event_programs() {
        let v: Value = serde_json::from_str(
            r#"[{"type":"perf_event","name":"999","run_cnt":100,"run_time_ns":300000},
                {"type":"perf_event","name":"99","run_cnt":300,"run_time_ns":100000},
                {"type":"tracepoint","name":"sys_enter","run_cnt":100,"run_time_ns":9999999}]"#,
        )
        .unwrap();
        assert_eq!(per_run_of_type(&v, "perf_event", ""), Some(1000.0));
        assert_eq!(per_run_of_type(&v, "kprobe", ""), None);
    }

    #[test]
    fn beside_netcopys_sampler_bpftraces_is_counted_apart_from_it() {
        let v: Value = serde_json::from_str(
            r#"[{"type":"perf_event","name":"sample_stack","run_cnt":100,"run_time_ns":200000},
                {"type":"perf_event","name":"999","run_cnt":50,"run_time_ns":150000},
                {"type":"tracepoint","name":"btf_sys_enter","run_cnt":10,"run_time_ns":1000}]"#,
        )
        .unwrap();
        assert_eq!(per_run_of_type(&v, "perf_event", ""), Some(3000.0));
        let c = parse(&v);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["btf_sys_enter", "sample_stack", PEER_SAMPLER]);
        assert_eq!(
            (c[1].ns_per_run, c[2].ns_per_run, c[2].runs),
            (2000.0, 3000.0, 50)
        );
        // Alone, netcopy's sampler is not mistaken for bpftrace's.
        let alone: Value = serde_json::from_str(
            r#"[{"type":"perf_event","name":"sample_stack","run_cnt":100,"run_time_ns":200000}]"#,
        )
        .unwrap();
        assert!(parse(&alone).iter().all(|c| c.name != PEER_SAMPLER));
    }
}
