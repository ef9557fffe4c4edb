//! `cargo xtask fuzz`: run the cargo-fuzz targets in fuzz/ one after another, each for a
//! fixed time, and say for each how many inputs it ran and whether anything crashed.
//!
//! Each target starts from its seeds (fuzz/seeds/TARGET, committed) and keeps what it finds in
//! fuzz/corpus/TARGET (not committed). A crash leaves its input in fuzz/artifacts/TARGET and
//! fails the command.

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context as _, bail};

use crate::cmd;

/// Every fuzz target, as named in fuzz/Cargo.toml.
pub const TARGETS: [&str; 6] = ["units", "wire", "records", "kallsyms", "folded", "btf"];

/// Seconds per target in CI's smoke run.
pub const SMOKE_SECONDS: u64 = 10;

/// Fuzz `targets` (all when empty) for `seconds` each.
pub fn fuzz(targets: &[String], seconds: u64) -> anyhow::Result<()> {
    let root = cmd::workspace_root();
    let chosen: Vec<&str> = if targets.is_empty() {
        TARGETS.to_vec()
    } else {
        targets.iter().map(String::as_str).collect()
    };
    if let Some(bad) = chosen.iter().find(|t| !TARGETS.contains(t)) {
        bail!("no fuzz target {bad:?}; there are: {}", TARGETS.join(", "));
    }
    // One build for all targets (the eBPF object is not needed by any parser).
    cmd::run(
        Command::new("cargo")
            .current_dir(&root)
            .env("AYA_BUILD_SKIP", "1")
            .args(["+nightly", "fuzz", "build", "-O"]),
    )
    .context("building the fuzz targets")?;
    let mut lines = Vec::new();
    for target in chosen {
        lines.push(run_one(&root, target, seconds)?);
        eprintln!("fuzz: {}", lines.last().map_or("", String::as_str));
    }
    println!("fuzz: every target ran {seconds} s without a crash");
    for l in lines {
        println!("  {l}");
    }
    Ok(())
}

fn run_one(root: &Path, target: &str, seconds: u64) -> anyhow::Result<String> {
    let corpus = root.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("mkdir {}", corpus.display()))?;
    let seeds = root.join("fuzz/seeds").join(target);
    let mut c = Command::new("cargo");
    c.current_dir(root)
        .env("AYA_BUILD_SKIP", "1")
        .args(["+nightly", "fuzz", "run", "-O", target])
        .arg(&corpus)
        .arg(&seeds)
        .args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-print_final_stats=1",
            "-rss_limit_mb=2048",
            "-max_len=8192",
        ]);
    eprintln!("$ {}", cmd::show(&c));
    let started = Instant::now();
    let out = c
        .output()
        .with_context(|| format!("run {}", cmd::show(&c)))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "fuzz target {target} failed ({}); its input is under fuzz/artifacts/{target}:\n{}",
            out.status,
            tail.join("\n")
        );
    }
    let stat = |key: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
    };
    let runs = stat("stat::number_of_executed_units:").unwrap_or_else(|| "?".into());
    let corpus_files = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
    Ok(format!(
        "{target}: {runs} inputs in {:.0} s, no crash, {corpus_files} inputs in its corpus",
        started.elapsed().as_secs_f64()
    ))
}
