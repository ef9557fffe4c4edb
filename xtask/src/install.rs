//! `cargo xtask run` and `cargo xtask install`: build netcopy in release and use it.

use std::{path::Path, process::ExitCode};

use anyhow::Context as _;

use crate::{
    cmd::{self, as_root, cargo, target_dir, workspace_root},
    setup,
};

/// Build the release binary and return its path.
pub fn build_release() -> anyhow::Result<std::path::PathBuf> {
    cmd::run(
        cargo()
            .current_dir(workspace_root())
            .args(["build", "--release", "-p", "netcopy"]),
    )?;
    Ok(target_dir().join("release/netcopy"))
}

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    setup::setup(setup::Mode::Install)?;
    let bin = build_release()?;
    let status = cmd::status(as_root(&bin.to_string_lossy()).args(args))?;
    Ok(ExitCode::from(
        status.code().map_or(1, |c| c.clamp(0, 255) as u8),
    ))
}

pub fn install(prefix: &Path) -> anyhow::Result<ExitCode> {
    setup::setup_rust()?;
    let bin = build_release()?;
    let dest_dir = prefix.join("bin");
    let dest = dest_dir.join("netcopy");
    let writable = std::fs::create_dir_all(&dest_dir).is_ok()
        && std::fs::metadata(&dest_dir).is_ok_and(|m| !m.permissions().readonly())
        && cmd::is_root();
    if writable {
        // Copy to a temporary name and rename, so a running netcopy is not overwritten in place.
        let tmp = dest_dir.join(".netcopy.new");
        std::fs::copy(&bin, &tmp).with_context(|| format!("copy to {}", tmp.display()))?;
        std::fs::rename(&tmp, &dest).with_context(|| format!("install {}", dest.display()))?;
    } else {
        cmd::run(
            as_root("install")
                .args(["-D", "-m", "0755"])
                .arg(&bin)
                .arg(&dest),
        )?;
    }
    eprintln!("installed {}", dest.display());
    eprintln!("try: sudo netcopy trace --mode onecopy");
    Ok(ExitCode::SUCCESS)
}
