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
    cargo_test
        .current_dir(&root)
        .args(["test", "--workspace", "--release"])
        .args(args);
    if !is_root() {
        // The eBPF and netns tests need root: run the test binaries through sudo.
        cargo_test.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
    }
    let (cargo_ok, mut tally) = cmd::run_tallied(&mut cargo_test, parse_cargo_result)?;
    if !cargo_ok {
        eprintln!("{}", tally.line());
        bail!("cargo tests failed");
    }

    let tests = root.join("analysis/tests");
    if tests.is_dir() && args.is_empty() {
        let python = root.join("analysis/.venv/bin/python");
        let (pytest_ok, py) = cmd::run_tallied(
            Command::new(python)
                .current_dir(root.join("analysis"))
                .env("NETCOPY_BIN", target_dir().join("release/netcopy"))
                .args(["-m", "pytest", "-q", "tests"]),
            parse_pytest_result,
        )?;
        tally.add(py);
        if !pytest_ok || py.passed == 0 {
            println!("{}", tally.line());
            bail!("analysis tests failed (or none were collected)");
        }
    }
    // One closing line for everything, in the plain "N passed, N failed" form.
    println!("{}", tally.line());
    Ok(ExitCode::SUCCESS)
}

/// `test result: ok. 24 passed; 0 failed; 0 ignored; ...`
fn parse_cargo_result(line: &str) -> Option<cmd::Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let num = |word: &str| -> Option<u64> {
        rest.split(';')
            .find_map(|part| {
                part.trim()
                    .trim_start_matches("ok. ")
                    .trim_start_matches("FAILED. ")
                    .strip_suffix(word)
            })
            .and_then(|n| n.trim().parse().ok())
    };
    Some(cmd::Tally {
        passed: num("passed")?,
        failed: num("failed")?,
        skipped: num("ignored").unwrap_or(0),
    })
}

/// `2 passed in 3.15s`, `1 failed, 2 passed in 3.1s`, `3 passed, 1 skipped in ...`
fn parse_pytest_result(line: &str) -> Option<cmd::Tally> {
    let line = line.trim().trim_matches('=').trim();
    let body = line.split(" in ").next()?;
    let mut t = cmd::Tally::default();
    let mut any = false;
    for part in body.split(", ") {
        let (n, word) = part.trim().split_once(' ')?;
        let n: u64 = n.parse().ok()?;
        match word {
            "passed" => t.passed += n,
            "failed" | "error" | "errors" => t.failed += n,
            "skipped" | "xfailed" | "deselected" => t.skipped += n,
            _ => continue,
        }
        any = true;
    }
    any.then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_results_parse() {
        let t = parse_cargo_result(
            "test result: ok. 24 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s",
        );
        assert_eq!(
            t,
            Some(cmd::Tally {
                passed: 24,
                failed: 0,
                skipped: 1
            })
        );
        let t =
            parse_cargo_result("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured");
        assert_eq!(
            t,
            Some(cmd::Tally {
                passed: 3,
                failed: 2,
                skipped: 0
            })
        );
        assert_eq!(parse_cargo_result("running 3 tests"), None);
    }

    #[test]
    fn pytest_results_parse() {
        assert_eq!(
            parse_pytest_result("2 passed in 3.15s"),
            Some(cmd::Tally {
                passed: 2,
                failed: 0,
                skipped: 0
            })
        );
        assert_eq!(
            parse_pytest_result("==== 1 failed, 2 passed, 1 skipped in 0.5s ===="),
            Some(cmd::Tally {
                passed: 2,
                failed: 1,
                skipped: 1
            })
        );
        assert_eq!(parse_pytest_result("tests/test_runs.py .."), None);
    }
}
