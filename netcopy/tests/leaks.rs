//! After a trace, nothing of netcopy's stays in the kernel: no program, no link, nothing
//! pinned. A test binary of its own, so that no other test traces while it looks (bpftool
//! here cannot say which process holds a program).

mod common;

use std::{process::Command, time::Duration};

use common::require_root;

const BIN: &str = env!("CARGO_BIN_EXE_netcopy");

/// netcopy's program names (bpftool shows the full name from BTF, or the kernel's 15 bytes).
const OURS: [&str; 17] = [
    "raw_sys_enter",
    "raw_sys_exit",
    "sys_enter_sendto",
    "sys_exit_sendto",
    "sys_enter_sendmsg",
    "sys_exit_sendmsg",
    "sys_enter_recvfrom",
    "sys_exit_recvfrom",
    "sys_enter_recvmsg",
    "sys_exit_recvmsg",
    "sched_switch",
    "sched_switch_btf",
    "tcp_sendmsg_locked",
    "skb_copy_datagram_iovec",
    "net_dev_xmit",
    "netif_receive_skb",
    "sample_stack",
];

fn is_ours(name: &str) -> bool {
    OURS.iter()
        .any(|o| *o == name || (name.len() == 15 && o.starts_with(name)))
}

/// (ids of netcopy's loaded programs, links that use them).
fn in_kernel() -> (Vec<u64>, usize) {
    let json = |what: &str| -> serde_json::Value {
        let out = Command::new("bpftool")
            .args([what, "show", "-j"])
            .output()
            .unwrap_or_else(|e| panic!("bpftool (cargo xtask setup installs it): {e}"));
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let progs: Vec<u64> = json("prog")
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"].as_str().is_some_and(is_ours))
        .filter_map(|p| p["id"].as_u64())
        .collect();
    let links = json("link")
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|id| progs.contains(&id)))
        .count();
    (progs, links)
}

#[test]
fn nothing_stays_in_the_kernel_after_a_trace() {
    require_root("loading eBPF programs");
    let dir = std::env::temp_dir().join(format!("netcopy-leaks-{}", std::process::id()));
    let mut child = Command::new(BIN)
        .args([
            "trace",
            "--mode",
            "zerocopy",
            "--size",
            "16K",
            "--duration",
            "2s",
        ])
        .args(["--warmup", "0", "--force", "--out"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // While it traces, the check sees its programs and links: it can fail.
    std::thread::sleep(Duration::from_millis(1500));
    let (progs, links) = in_kernel();
    assert!(
        progs.len() >= 6 && links >= 3,
        "a trace shows: {progs:?}, {links} links"
    );
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
    // The kernel frees programs shortly after their last holder exits.
    let started = std::time::Instant::now();
    let mut left = in_kernel();
    while (!left.0.is_empty() || left.1 > 0) && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        left = in_kernel();
    }
    assert_eq!(left, (vec![], 0), "programs and links left in the kernel");
    let pinned = std::fs::read_dir("/sys/fs/bpf")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains("netcopy"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(pinned, 0, "nothing of netcopy's pinned in bpffs");
}
