//! `cargo xtask test`: every test, the privileged ones included: setup and the code's shape
//! (`layers`), the Rust tests (`cargo test --workspace --release`, as root), the analysis
//! tests (pytest in analysis/.venv), the bench smoke and the fuzz smoke.

use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};

use crate::{
    cmd::{self, cargo, is_root, output, workspace_root},
    setup,
};

/// Passed, failed and skipped tests, added up over both runners.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }

    /// The closing line, in the plain `N passed, N failed, N skipped` form.
    fn line(&self) -> String {
        format!(
            "tests: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

pub fn test(cargo_args: &[String]) -> anyhow::Result<ExitCode> {
    let code = setup::setup(setup::Mode::Install).context("step `setup` failed")?;
    if code != ExitCode::SUCCESS {
        bail!("step `setup` failed");
    }
    let root = workspace_root();
    crate::layers::check(&root).context("step `layers` failed")?;
    let mut tally = Tally::default();

    // Release, so the build is shared with `run` and `install`, and the workload tests move
    // their real amounts of data quickly.
    let mut cargo_test = cargo();
    cargo_test
        .args(["test", "--workspace", "--release"])
        .args(cargo_args);
    if !is_root() {
        // The eBPF and netns tests load programs and create namespaces: run every test
        // binary through sudo (cargo still builds as this user).
        cargo_test.env(runner_var(), "sudo -E");
    }
    let status = cmd::run_watching(&mut cargo_test, |l| {
        if let Some(t) = parse_cargo_result(l) {
            tally.add(t);
        }
    })?;
    if !status.success() {
        println!("{}", tally.line());
        bail!("step `cargo test` failed ({status})");
    }

    let tests = root.join("analysis/tests");
    if !tests.is_dir() {
        println!("xtask test: cargo tests passed (no analysis/tests)");
        println!("{}", tally.line());
        return Ok(ExitCode::SUCCESS);
    }
    let python = root.join("analysis/.venv/bin/python");
    let netcopy = cmd::target_dir()?.join("release/netcopy");
    let mut pytest = Command::new(python);
    pytest
        .current_dir(&root)
        // The binary the cargo step just built, for the tests that run it.
        .env("NETCOPY_BIN", netcopy)
        .args(["-m", "pytest", "-q", "analysis/tests"]);
    let mut py = Tally::default();
    let status = cmd::run_watching(&mut pytest, |l| {
        if let Some(t) = parse_pytest_result(l) {
            py.add(t);
        }
    })?;
    tally.add(py);
    if status.code() == Some(5) {
        println!("{}", tally.line());
        bail!("step `analysis tests` failed: pytest collected no tests in analysis/tests");
    }
    if !status.success() {
        println!("{}", tally.line());
        bail!("step `analysis tests` failed ({status})");
    }
    println!("xtask test: cargo tests and analysis tests passed");
    // Step 3b: `cargo xtask install` into a scratch prefix: the binary, its man pages and
    // the three shells' completions where those look, each file checked for its content.
    if let Err(e) = crate::install::check_into_scratch(&root) {
        println!("{}", tally.line());
        bail!("step `install smoke` failed: {e:#}");
    }
    println!("xtask test: install smoke placed the binary, man pages and completions");
    // Step 4: the benchmark suite on its reduced setting, to show every bench still runs
    // (no timing is judged here; BENCHMARKS.md comes from `cargo xtask bench`).
    let smoke = crate::bench::Opts::quick(&root)?;
    if let Err(e) = crate::bench::bench(&smoke) {
        println!("{}", tally.line());
        bail!("step `bench smoke` failed: {e:#}");
    }
    println!("xtask test: bench smoke ran ({})", smoke.out.display());
    // Step 5: every fuzz target for a few seconds (the long runs are `cargo xtask fuzz`).
    if let Err(e) = crate::fuzz::fuzz(&[], crate::fuzz::SMOKE_SECONDS) {
        println!("{}", tally.line());
        bail!("step `fuzz smoke` failed: {e:#}");
    }
    println!("{}", tally.line());
    Ok(ExitCode::SUCCESS)
}

/// `CARGO_TARGET_<HOST TRIPLE>_RUNNER`, e.g. `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER`.
fn runner_var() -> String {
    let host = output(Command::new("rustc").arg("-vV"))
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".to_owned());
    format!(
        "CARGO_TARGET_{}_RUNNER",
        host.trim().to_uppercase().replace(['-', '.'], "_")
    )
}

/// `test result: ok. 24 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...`
fn parse_cargo_result(line: &str) -> Option<Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    let num = |word: &str| -> Option<u64> {
        counts.split(';').find_map(|part| {
            let (n, w) = part.trim().split_once(' ')?;
            (w == word).then(|| n.parse().ok()).flatten()
        })
    };
    Some(Tally {
        passed: num("passed")?,
        failed: num("failed")?,
        skipped: num("ignored").unwrap_or(0),
    })
}

/// pytest's summary: `2 passed in 3.15s`, `1 failed, 2 passed, 1 skipped in 0.5s`, maybe
/// between `=` rules.
fn parse_pytest_result(line: &str) -> Option<Tally> {
    let line = line.trim().trim_matches('=').trim();
    let (body, _) = line.rsplit_once(" in ")?;
    let mut t = Tally::default();
    for part in body.split(", ") {
        let (n, word) = part.trim().split_once(' ')?;
        let n: u64 = n.parse().ok()?;
        match word {
            "passed" | "xpassed" => t.passed += n,
            "failed" | "error" | "errors" => t.failed += n,
            "skipped" | "xfailed" | "deselected" => t.skipped += n,
            _ => {}
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(passed: u64, failed: u64, skipped: u64) -> Option<Tally> {
        Some(Tally {
            passed,
            failed,
            skipped,
        })
    }

    #[test]
    fn cargo_results_parse() {
        assert_eq!(
            parse_cargo_result(
                "test result: ok. 24 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s"
            ),
            tally(24, 0, 1)
        );
        assert_eq!(
            parse_cargo_result("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured"),
            tally(3, 2, 0)
        );
        assert_eq!(parse_cargo_result("running 3 tests"), None);
    }

    #[test]
    fn pytest_results_parse() {
        assert_eq!(parse_pytest_result("2 passed in 3.15s"), tally(2, 0, 0));
        assert_eq!(
            parse_pytest_result("==== 1 failed, 2 passed, 1 skipped in 0.50s ===="),
            tally(2, 1, 1)
        );
        assert_eq!(parse_pytest_result("tests/test_runs.py .."), None);
        assert_eq!(parse_pytest_result("no tests ran in 0.01s"), None);
    }

    #[test]
    fn runner_var_names_the_host() {
        let v = runner_var();
        assert!(
            v.starts_with("CARGO_TARGET_") && v.ends_with("_RUNNER"),
            "{v}"
        );
        assert!(!v.contains('-'), "{v}");
    }
}
