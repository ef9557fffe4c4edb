//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use netcopy::{model::Mode, workload::client::ClientConfig};

pub const MIB: u64 = 1 << 20;

/// A run of `mode` with 64 KiB messages for `secs` seconds, no warmup, content verified.
pub fn config(mode: Mode, size: u64, threads: u32, secs: f64) -> ClientConfig {
    ClientConfig::new(
        mode,
        size,
        threads,
        Duration::ZERO,
        Duration::from_secs_f64(secs),
    )
}

/// Fail with a clear message when the test is not root: these tests need privileges and
/// `cargo xtask test` runs them as root.
pub fn require_root(what: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{what} needs root: run the tests with `cargo xtask test` (it uses sudo when needed)"
    );
}

/// A fresh run directory under the system temp dir.
pub fn run_dir(name: &str) -> netcopy::sink::RunDir {
    let path = std::env::temp_dir().join(format!("netcopy-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    netcopy::sink::RunDir::for_run(Some(&path), name, Some(format!("test-{name}")), false)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Every batch of a Parquet file.
pub fn read_parquet(path: &std::path::Path) -> Vec<arrow_array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{e}"))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|b| b.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// A column of a batch by name.
pub fn column<'a>(batch: &'a arrow_array::RecordBatch, name: &str) -> &'a arrow_array::ArrayRef {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()))
}

/// A Python program run for a test, with its stdin and stdout as pipes.
pub struct Python {
    pub child: std::process::Child,
    pub stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Python {
    pub fn spawn(script: &str) -> Self {
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("python3: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        Self {
            child,
            stdin,
            stdout: std::io::BufReader::new(stdout),
        }
    }

    /// The next line the program prints, trimmed.
    pub fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{e}"));
        line.trim().to_owned()
    }

    /// Tell the program to go on (it waits on a line of stdin).
    pub fn go(&mut self) {
        use std::io::Write;
        let _ = writeln!(self.stdin, "go");
    }
}
