//! `cargo xtask setup`: install what a fresh machine lacks, and nothing when all is there.
//!
//! Each item has a cheap check and an install that runs only when the check fails, so a run
//! on a ready machine takes about a second and prints one `ok` line per item.

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context as _, bail};

use crate::cmd::{self, output, workspace_root};

/// Install what is missing, or (`Check`) only report it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Install,
    Check,
}

const BPF_LINKER_VERSION: &str = "0.13.0";

/// Debian packages: iproute2 (`ip netns`, veth for --netns), iperf3 (a reference peer for
/// benchmarks), bpftool (inspecting loaded programs and maps), linux-perf (`perf stat`, the
/// independent count the context-switch test compares with), fonts-dejavu-core (the font of
/// `netcopy plot`), python3-venv (analysis/.venv), bpftrace (the peer and the floor of the
/// observer-effect benchmark), tmux (the test that drives `netcopy top`).
const DEBIAN_PACKAGES: [&str; 8] = [
    "iproute2",
    "iperf3",
    "bpftrace",
    "bpftool",
    "linux-perf",
    "fonts-dejavu-core",
    "python3-venv",
    "tmux",
];

/// One thing setup provides.
struct Item {
    name: &'static str,
    /// `None` when present, else what is missing (said in the report).
    check: fn() -> Option<String>,
    install: fn() -> anyhow::Result<()>,
    /// What the install costs, said before it starts.
    cost: &'static str,
}

/// The items building netcopy needs (also all that `install` needs).
const RUST_ITEMS: [Item; 2] = [
    Item {
        name: "rust-src (nightly)",
        check: check_rust_src,
        install: install_rust_src,
        cost: "a few seconds",
    },
    Item {
        name: "bpf-linker",
        check: check_bpf_linker,
        install: install_bpf_linker,
        cost: "version 0.13.0, about a minute",
    },
];

const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// What running the tests and the analysis needs besides.
const SYSTEM_ITEMS: [Item; 3] = [
    Item {
        name: "Debian packages",
        check: check_packages,
        install: install_packages,
        cost: "about a minute",
    },
    // After the packages: `python3 -m venv` needs python3-venv.
    Item {
        name: "analysis venv",
        check: check_venv,
        install: install_venv,
        cost: "about a minute",
    },
    // The fuzz targets (`cargo xtask fuzz`; CI's fuzz smoke).
    Item {
        name: "cargo-fuzz",
        check: check_cargo_fuzz,
        install: install_cargo_fuzz,
        cost: "version 0.13.2, under a minute",
    },
];

fn check_cargo_fuzz() -> Option<String> {
    match output(Command::new("cargo").args(["fuzz", "--version"])) {
        Some(_) => None,
        None => Some("`cargo fuzz --version` does not run".into()),
    }
}

fn install_cargo_fuzz() -> anyhow::Result<()> {
    cmd::run(Command::new("cargo").args([
        "install",
        "cargo-fuzz",
        "--locked",
        "--version",
        CARGO_FUZZ_VERSION,
    ]))
}

/// Every item. In `Check` mode the exit code is 1 when anything is missing.
pub fn setup(mode: Mode) -> anyhow::Result<ExitCode> {
    let missing = run_items(RUST_ITEMS.iter().chain(&SYSTEM_ITEMS), mode)?;
    if missing > 0 {
        eprintln!("setup: {missing} item(s) missing; `cargo xtask setup` installs them");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Only the Rust toolchain items: what building netcopy needs.
pub fn setup_rust() -> anyhow::Result<()> {
    run_items(RUST_ITEMS.iter(), Mode::Install).map(|_| ())
}

/// Check each item and install it when missing; returns how many are missing (only
/// `Check` mode leaves any).
fn run_items<'a>(items: impl Iterator<Item = &'a Item>, mode: Mode) -> anyhow::Result<usize> {
    let mut missing = 0;
    for item in items {
        let Some(what) = (item.check)() else {
            eprintln!("setup: {} ok", item.name);
            continue;
        };
        if mode == Mode::Check {
            eprintln!("setup: {} MISSING: {what}", item.name);
            missing += 1;
            continue;
        }
        eprintln!("setup: installing {} ({what}; {})", item.name, item.cost);
        (item.install)().with_context(|| format!("setup: installing {} failed", item.name))?;
        if let Some(still) = (item.check)() {
            bail!(
                "setup: {} is still missing after its install: {still}",
                item.name
            );
        }
        eprintln!("setup: {} ok", item.name);
    }
    Ok(missing)
}

// ---- nightly rust-src: `-Z build-std=core` for the bpfel-unknown-none target ----

fn check_rust_src() -> Option<String> {
    let Some(installed) = output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ])) else {
        return Some("`rustup component list --toolchain nightly --installed` failed".into());
    };
    // Lines are bare component names, e.g. `rust-src` or `rustc-x86_64-unknown-linux-gnu`.
    if installed.lines().any(|l| l.trim() == "rust-src") {
        None
    } else {
        Some("not installed for the nightly toolchain".into())
    }
}

fn install_rust_src() -> anyhow::Result<()> {
    if output(Command::new("rustup").arg("--version")).is_none() {
        bail!("rustup is not on PATH; netcopy needs rustup with the stable and nightly toolchains");
    }
    cmd::run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))
    .context("is the nightly toolchain installed? (`rustup toolchain install nightly`)")
}

// ---- bpf-linker: links the eBPF object; built against the nightly toolchain's LLVM ----

fn check_bpf_linker() -> Option<String> {
    match output(Command::new("bpf-linker").arg("--version")) {
        Some(_) => None,
        None => Some("`bpf-linker --version` does not run".into()),
    }
}

/// `cargo install bpf-linker` on its own looks for a system LLVM of the version it is built
/// for, which Debian does not have. The nightly toolchain ships its own libLLVM, so link
/// bpf-linker against that instead: a private prefix whose lib64/libLLVM.so points at it,
/// and an rpath so the installed binary finds it at run time
/// (recipe: ../shared/notes/toolchain.md).
fn install_bpf_linker() -> anyhow::Result<()> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".cargo"));
    let installed = cargo_home.join("bin/bpf-linker");
    if output(Command::new(&installed).arg("--version")).is_some() {
        bail!(
            "{} works but its folder is not on PATH; add it (export PATH=\"{}:$PATH\")",
            installed.display(),
            cargo_home.join("bin").display()
        );
    }

    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("no nightly toolchain (`rustup toolchain install nightly`)")?;
    let nightly_lib = Path::new(sysroot.trim()).join("lib");
    let libllvm = std::fs::read_dir(&nightly_lib)
        .with_context(|| format!("reading {}", nightly_lib.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
        })
        .min()
        .with_context(|| format!("no libLLVM.so.*-rust-* in {}", nightly_lib.display()))?;
    // libLLVM.so.22.1-rust-1.97.0-nightly: bpf-linker's feature is llvm-22.
    let llvm_major = libllvm
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("libLLVM.so."))
        .and_then(|v| v.split(['.', '-']).next())
        .filter(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
        .with_context(|| format!("no LLVM version in the name {}", libllvm.display()))?
        .to_owned();

    let prefix = Path::new(&home).join(".cache/netcopy/rust-llvm");
    let lib64 = prefix.join("lib64");
    std::fs::create_dir_all(&lib64).with_context(|| format!("creating {}", lib64.display()))?;
    let link = lib64.join("libLLVM.so");
    match std::fs::remove_file(&link) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the old {}", link.display()));
        }
        _ => {}
    }
    std::os::unix::fs::symlink(&libllvm, &link)
        .with_context(|| format!("linking {} to {}", link.display(), libllvm.display()))?;

    let mut install = cmd::cargo();
    install
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
        ])
        .args(["--no-default-features", "--features"])
        .arg(format!("llvm-{llvm_major}"))
        // A cargo install builds in a temporary folder of its own unless told otherwise; a
        // target dir, target triple or encoded flags from the outer build would misdirect it
        // (CARGO_ENCODED_RUSTFLAGS would even override the RUSTFLAGS below).
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("LLVM_PREFIX", &prefix)
        .env(
            "RUSTFLAGS",
            format!(
                "-L {} -C link-arg=-Wl,-rpath,{}",
                lib64.display(),
                nightly_lib.display()
            ),
        );
    cmd::run(&mut install)
}

// ---- Debian packages ----

fn missing_packages() -> Vec<&'static str> {
    DEBIAN_PACKAGES
        .into_iter()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| s.trim() != "install ok installed")
        })
        .collect()
}

fn check_packages() -> Option<String> {
    let missing = missing_packages();
    (!missing.is_empty()).then(|| missing.join(" "))
}

fn install_packages() -> anyhow::Result<()> {
    let missing = missing_packages();
    if output(Command::new("apt-get").arg("--version")).is_none() {
        bail!(
            "this is not a Debian-like system (no apt-get): install {} with its package \
             manager (the names may differ), then run `cargo xtask setup` again",
            missing.join(" ")
        );
    }
    if !cmd::is_root() && output(Command::new("sudo").arg("--version")).is_none() {
        bail!("not root and no sudo: run `cargo xtask setup` as root");
    }
    // `env` so the variable reaches apt-get through sudo too.
    let apt = |args: &[&str]| {
        let mut c = cmd::as_root("env");
        c.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(args);
        c
    };
    cmd::run(&mut apt(&["update", "-q"]))?;
    cmd::run(apt(&["install", "-y", "-q", "--no-install-recommends"]).args(&missing))
}

// ---- the Python venv for analysis/: the locked packages, then netcopy_analysis ----

fn venv() -> PathBuf {
    workspace_root().join("analysis/.venv")
}

/// Holds a copy of what the venv was last installed from: the lock, then pyproject.toml.
fn stamp() -> PathBuf {
    venv().join(".netcopy-installed-from")
}

/// Every package the venv holds, pinned with its hashes: the analysis's, the tests' and the
/// build backend's (regenerated with the command at its top).
fn lock() -> PathBuf {
    workspace_root().join("analysis/requirements.lock")
}

/// netcopy_analysis's own metadata: its package, built with the locked backend.
fn pyproject() -> PathBuf {
    workspace_root().join("analysis/pyproject.toml")
}

/// What the stamp holds once the venv is installed; `None` when there is no lock (nothing
/// to install into the venv).
fn wanted() -> anyhow::Result<Option<String>> {
    let lock = match std::fs::read_to_string(lock()) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", lock().display())),
    };
    let pyproject = std::fs::read_to_string(pyproject())
        .with_context(|| format!("reading {}", pyproject().display()))?;
    Ok(Some(format!(
        "{lock}\n# ---- analysis/pyproject.toml ----\n{pyproject}"
    )))
}

fn check_venv() -> Option<String> {
    if !venv().join("bin/python").exists() {
        return Some("no analysis/.venv".into());
    }
    let wanted = match wanted() {
        Ok(Some(w)) => w,
        Ok(None) => return None,
        Err(e) => return Some(format!("{e:#}")),
    };
    match std::fs::read_to_string(stamp()) {
        Ok(done) if done == wanted => None,
        Ok(_) => Some("analysis/requirements.lock or analysis/pyproject.toml changed".into()),
        Err(_) => Some("analysis/requirements.lock not installed".into()),
    }
}

/// Each install makes the venv anew, so that nothing from an older lock stays behind; then
/// come the locked packages, hash-checked, and netcopy_analysis itself: editable, without
/// its dependencies (the lock has them), and built with the locked flit_core rather than
/// one fetched unpinned into an isolated build environment.
fn install_venv() -> anyhow::Result<()> {
    let venv = venv();
    let python = venv.join("bin/python");
    let Some(wanted) = wanted()? else {
        if !python.exists() {
            cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        return Ok(());
    };
    // --clear also removes the stamp, so an install that fails half way is redone.
    cmd::run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )?;
    cmd::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--require-hashes", "-r"])
            .arg(lock()),
    )?;
    cmd::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-e",
            ])
            .arg(workspace_root().join("analysis")),
    )?;
    std::fs::write(stamp(), wanted).with_context(|| format!("writing {}", stamp().display()))
}
