//! `cargo xtask install`: build netcopy in release and put it in PREFIX/bin.

use std::{
    io::ErrorKind,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;

use crate::{
    cmd::{self, as_root},
    setup,
};

pub fn install(prefix: &Path) -> anyhow::Result<ExitCode> {
    // Building needs only the toolchain items, not the Debian packages or the venv.
    setup::setup_rust()?;
    let bin = cmd::build_netcopy(true)?;
    let dest = prefix.join("bin/netcopy");
    match copy_in(&bin, &dest) {
        Ok(()) => {}
        Err(e) if is_permission_denied(&e) && !cmd::is_root() => {
            eprintln!(
                "install: {} is not writable by this user; using sudo",
                prefix.display()
            );
            cmd::run(
                as_root("install")
                    .args(["-D", "-m", "0755"])
                    .arg(&bin)
                    .arg(&dest),
            )?;
        }
        Err(e) => return Err(e),
    }
    eprintln!("install: {} -> {}", bin.display(), dest.display());
    // sudo finds a bare `netcopy` only in its secure_path, which has /usr/local/bin and
    // /usr/bin but not most other prefixes.
    let on_secure_path = [Path::new("/usr/local"), Path::new("/usr")].contains(&prefix);
    let name = if on_secure_path {
        "netcopy".to_owned()
    } else {
        dest.display().to_string()
    };
    eprintln!("install: try `sudo {name} trace --mode onecopy`");
    Ok(ExitCode::SUCCESS)
}

/// Copy `bin` to `dest` (mode 0755) through a temporary name and a rename, so a netcopy that
/// is running from `dest` keeps its old file.
fn copy_in(bin: &Path, dest: &Path) -> anyhow::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp: PathBuf = dir.join(".netcopy.xtask-new");
    eprintln!("$ install -m 0755 {} {}", bin.display(), dest.display());
    std::fs::copy(bin, &tmp).with_context(|| format!("copying to {}", tmp.display()))?;
    let result = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .and_then(|()| std::fs::rename(&tmp, dest));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("installing {}", dest.display()))
}

fn is_permission_denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::PermissionDenied)
    })
}
