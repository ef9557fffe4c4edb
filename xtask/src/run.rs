//! `cargo xtask run`: set up, build netcopy and run it as root.

use std::process::ExitCode;

use crate::{
    cmd::{self, as_root},
    setup,
};

/// Set up, build (release unless `release` is false) and replace xtask with
/// `netcopy ARGS` as root, so its exit code and Ctrl-C handling are netcopy's own.
pub fn run(release: bool, args: &[String]) -> anyhow::Result<ExitCode> {
    let code = setup::setup(setup::Mode::Install)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    let bin = cmd::build_netcopy(release)?;
    Err(cmd::exec(as_root(&bin).args(args)))
}
