//! `cargo xtask setup`: install what a fresh machine lacks, and nothing when all is there.
//!
//! Each item checks first (cheaply) and installs only when the check fails, so a second run
//! takes about a second.

use std::{path::Path, process::Command};

use anyhow::{Context as _, bail};

use crate::cmd::{self, cargo, output, workspace_root};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Install,
    Check,
}

/// Debian packages netcopy's tests, benchmarks and analysis use.
const DEBIAN_PACKAGES: [&str; 4] = ["iproute2", "iperf3", "bpftool", "python3-venv"];
const BPF_LINKER_VERSION: &str = "0.13.0";

/// One thing setup provides.
struct Item {
    name: &'static str,
    present: fn() -> bool,
    install: fn() -> anyhow::Result<()>,
    /// What the install costs, said before it starts.
    cost: &'static str,
}

/// The toolchain items: all that building netcopy needs.
fn rust_items() -> Vec<Item> {
    vec![
        Item {
            name: "rust-src (nightly)",
            present: has_rust_src,
            install: add_rust_src,
            cost: "a few seconds",
        },
        Item {
            name: "bpf-linker",
            present: has_bpf_linker,
            install: install_bpf_linker,
            cost: "about 2 minutes",
        },
    ]
}

fn items() -> Vec<Item> {
    let mut all = rust_items();
    all.push(Item {
        name: "Debian packages",
        present: || missing_packages().is_empty(),
        install: install_packages,
        cost: "about a minute",
    });
    all.push(Item {
        name: "analysis venv",
        present: venv_current,
        install: install_venv,
        cost: "about a minute",
    });
    all
}

pub fn setup(mode: Mode) -> anyhow::Result<std::process::ExitCode> {
    run_items(&items(), mode)
}

/// Set up only the Rust toolchain items.
pub fn setup_rust() -> anyhow::Result<()> {
    run_items(&rust_items(), Mode::Install).map(|_| ())
}

fn run_items(items: &[Item], mode: Mode) -> anyhow::Result<std::process::ExitCode> {
    let mut missing = 0;
    for item in items {
        if (item.present)() {
            eprintln!("setup: {} ok", item.name);
            continue;
        }
        match mode {
            Mode::Check => {
                eprintln!("setup: {} MISSING", item.name);
                missing += 1;
            }
            Mode::Install => {
                eprintln!("setup: installing {} ({})", item.name, item.cost);
                (item.install)().with_context(|| format!("installing {}", item.name))?;
                if !(item.present)() {
                    bail!("{} is still missing after its install", item.name);
                }
                eprintln!("setup: {} ok", item.name);
            }
        }
    }
    Ok(if missing == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

fn has_rust_src() -> bool {
    output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))
    .is_some_and(|o| o.lines().any(|l| l.starts_with("rust-src")))
}

fn add_rust_src() -> anyhow::Result<()> {
    cmd::run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))
}

fn has_bpf_linker() -> bool {
    output(Command::new("bpf-linker").arg("--version")).is_some()
}

/// bpf-linker against the nightly toolchain's own libLLVM: there is no system LLVM of the
/// same major version (the recipe in ../shared/notes/toolchain.md).
fn install_bpf_linker() -> anyhow::Result<()> {
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("the nightly toolchain is missing: rustup toolchain install nightly")?;
    let nightly_lib = Path::new(sysroot.trim()).join("lib");
    let libllvm = std::fs::read_dir(&nightly_lib)
        .with_context(|| format!("read {}", nightly_lib.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
        })
        .min()
        .with_context(|| format!("no libLLVM.so.*-rust-* in {}", nightly_lib.display()))?;
    let llvm_major = libllvm
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("libLLVM.so."))
        .and_then(|v| v.split(['.', '-']).next())
        .context("cannot read the LLVM version from the library name")?
        .to_owned();
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let prefix = Path::new(&home).join(".cache/netcopy/rust-llvm");
    let lib64 = prefix.join("lib64");
    std::fs::create_dir_all(&lib64).with_context(|| format!("create {}", lib64.display()))?;
    let link = lib64.join("libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&libllvm, &link)
        .with_context(|| format!("link {}", link.display()))?;
    cmd::run(
        cargo()
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
            ])
            .args([
                "--no-default-features",
                "--features",
                &format!("llvm-{llvm_major}"),
            ])
            .env("LLVM_PREFIX", &prefix)
            .env(
                "RUSTFLAGS",
                format!(
                    "-L {} -C link-arg=-Wl,-rpath,{}",
                    lib64.display(),
                    nightly_lib.display()
                ),
            ),
    )
}

fn missing_packages() -> Vec<&'static str> {
    DEBIAN_PACKAGES
        .into_iter()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| s.trim() != "install ok installed")
        })
        .collect()
}

fn install_packages() -> anyhow::Result<()> {
    let missing = missing_packages();
    if output(Command::new("apt-get").arg("--version")).is_none() {
        bail!(
            "no apt-get here: install {} with the system's package manager",
            missing.join(" ")
        );
    }
    cmd::run(cmd::as_root("apt-get").args(["update", "-qq"]))?;
    cmd::run(
        cmd::as_root("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing),
    )
}

fn venv_dir() -> std::path::PathBuf {
    workspace_root().join("analysis/.venv")
}

/// Stamp in the venv holding the requirements it was built from.
fn stamp() -> std::path::PathBuf {
    venv_dir().join(".netcopy-requirements")
}

fn requirements() -> std::path::PathBuf {
    workspace_root().join("analysis/requirements.txt")
}

fn venv_current() -> bool {
    let python = venv_dir().join("bin/python");
    let wanted = std::fs::read_to_string(requirements()).unwrap_or_default();
    python.exists() && std::fs::read_to_string(stamp()).is_ok_and(|s| s == wanted)
}

fn install_venv() -> anyhow::Result<()> {
    let venv = venv_dir();
    if !venv.join("bin/python").exists() {
        cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let wanted = std::fs::read_to_string(requirements())
        .with_context(|| format!("read {}", requirements().display()))?;
    cmd::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "-r"])
            .arg(requirements()),
    )?;
    std::fs::write(stamp(), wanted).with_context(|| format!("write {}", stamp().display()))
}
