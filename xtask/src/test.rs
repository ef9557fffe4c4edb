//! `cargo xtask test`: every test, the privileged ones included.

use std::process::{Command, ExitCode};

use anyhow::bail;

use crate::{
    cmd::{self, cargo, is_root, target_dir, workspace_root},
    setup,
};

pub fn test(args: &[String]) -> anyhow::Result<ExitCode> {
    setup::setup(setup::Mode::Install)?;
    let root = workspace_root();

    // Release, so the build is shared with `run` and `install` and the workload tests move
    // real amounts of data quickly.
    let mut cargo_test = cargo();
    cargo_test.current_dir(&root).args(["test", "--workspace", "--release"]).args(args);
    if !is_root() {
        // The eBPF and netns tests need root: run the test binaries through sudo.
        cargo_test.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
    }
    if !cmd::status(&mut cargo_test)?.success() {
        bail!("cargo tests failed");
    }

    let tests = root.join("analysis/tests");
    if tests.is_dir() && args.is_empty() {
        let python = root.join("analysis/.venv/bin/python");
        let status = cmd::status(
            Command::new(python)
                .current_dir(root.join("analysis"))
                .env("NETCOPY_BIN", target_dir().join("release/netcopy"))
                .args(["-m", "pytest", "-q", "tests"]),
        )?;
        match status.code() {
            Some(0) => {}
            Some(5) => bail!("pytest collected no analysis tests"),
            _ => bail!("analysis tests failed"),
        }
    }
    eprintln!("xtask test: cargo tests and analysis tests passed");
    Ok(ExitCode::SUCCESS)
}
