//! `cargo xtask install`: build netcopy in release and put it in PREFIX/bin, its man pages
//! in PREFIX/share/man/man1 and its bash, zsh and fish completions where those shells look
//! under PREFIX/share (the files come from `netcopy manpages` and `netcopy completions`).

use std::{
    io::ErrorKind,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::Context as _;

use crate::{
    cmd::{self, as_root},
    setup,
};

/// The completion scripts: (shell, path under PREFIX).
pub const COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "share/bash-completion/completions/netcopy"),
    ("zsh", "share/zsh/site-functions/_netcopy"),
    ("fish", "share/fish/vendor_completions.d/netcopy.fish"),
];
/// Where the man pages go under PREFIX.
pub const MAN_DIR: &str = "share/man/man1";

pub fn install(prefix: &Path) -> anyhow::Result<ExitCode> {
    // Building needs only the toolchain items, not the Debian packages or the venv.
    setup::setup_rust()?;
    let bin = cmd::build_netcopy(true)?;
    install_built(&bin, prefix)?;
    Ok(ExitCode::SUCCESS)
}

/// Put the built `bin` and its man pages and completions under `prefix`.
pub fn install_built(bin: &Path, prefix: &Path) -> anyhow::Result<()> {
    let dest = prefix.join("bin/netcopy");
    place(bin, &dest, "0755")?;
    eprintln!("install: {} -> {}", bin.display(), dest.display());
    // Made as this user in a scratch directory, then placed like the binary.
    let scratch = std::env::temp_dir().join(format!("netcopy-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let pages = scratch.join("man1");
    cmd::run(Command::new(bin).arg("manpages").arg(&pages))?;
    let mut extras = Vec::new();
    for entry in std::fs::read_dir(&pages)? {
        let page = entry?.path();
        if let Some(name) = page.file_name() {
            extras.push((page.clone(), prefix.join(MAN_DIR).join(name)));
        }
    }
    for (shell, path) in COMPLETIONS {
        let script = Command::new(bin).args(["completions", shell]).output()?;
        if !script.status.success() {
            anyhow::bail!("`netcopy completions {shell}` failed ({})", script.status);
        }
        let file = scratch.join(shell);
        std::fs::write(&file, &script.stdout)?;
        extras.push((file, prefix.join(path)));
    }
    for (from, to) in &extras {
        place(from, to, "0644")?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!(
        "install: {} man pages in {}, completions for bash, zsh and fish under {}",
        extras.len() - COMPLETIONS.len(),
        prefix.join(MAN_DIR).display(),
        prefix.join("share").display()
    );
    // sudo finds a bare `netcopy` only in its secure_path, which has /usr/local/bin and
    // /usr/bin but not most other prefixes.
    let on_secure_path = [Path::new("/usr/local"), Path::new("/usr")].contains(&prefix);
    let name = if on_secure_path {
        "netcopy".to_owned()
    } else {
        dest.display().to_string()
    };
    eprintln!("install: try `sudo {name} trace --mode onecopy`, `man netcopy-trace`");
    Ok(())
}

/// Copy `from` to `to` with `mode`, with sudo where this user may not write.
fn place(from: &Path, to: &Path, mode: &str) -> anyhow::Result<()> {
    match copy_in(from, to, mode) {
        Err(e) if is_permission_denied(&e) && !cmd::is_root() => {
            eprintln!(
                "install: {} is not writable by this user; using sudo",
                to.display()
            );
            cmd::run(
                as_root("install")
                    .args(["-D", "-m", mode])
                    .arg(from)
                    .arg(to),
            )
        }
        other => other,
    }
}

/// Copy `bin` to `dest` (octal `mode`) through a temporary name and a rename, so a netcopy
/// that is running from `dest` keeps its old file.
fn copy_in(bin: &Path, dest: &Path, mode: &str) -> anyhow::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp: PathBuf = dir.join(".netcopy.xtask-new");
    eprintln!("$ install -m {mode} {} {}", bin.display(), dest.display());
    std::fs::copy(bin, &tmp).with_context(|| format!("copying to {}", tmp.display()))?;
    let bits = u32::from_str_radix(mode, 8).context("file mode")?;
    let result = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(bits))
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

/// Install the release binary the tests built into a scratch prefix and check every file:
/// the binary runs, each command has a man page with its options, each shell's script
/// completes the subcommands.
pub fn check_into_scratch(root: &Path) -> anyhow::Result<()> {
    let bin = root.join("target/release/netcopy");
    let prefix = std::env::temp_dir().join(format!("netcopy-prefix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    install_built(&bin, &prefix)?;
    let read = |rel: &str| {
        std::fs::read_to_string(prefix.join(rel)).with_context(|| format!("reading {rel}"))
    };
    let version = Command::new(prefix.join("bin/netcopy"))
        .arg("--version")
        .output()?;
    anyhow::ensure!(
        String::from_utf8_lossy(&version.stdout).starts_with("netcopy "),
        "the installed binary did not print its version"
    );
    let trace = read(&format!("{MAN_DIR}/netcopy-trace.1"))?;
    anyhow::ensure!(
        trace.contains(".TH") && trace.contains("sample\\-hz"),
        "netcopy-trace.1 is not a man page with the trace options"
    );
    read(&format!("{MAN_DIR}/netcopy.1"))?;
    for (shell, path) in COMPLETIONS {
        let script = read(path)?;
        anyhow::ensure!(
            script.contains("flamegraph") && script.contains("uringzc"),
            "the {shell} completions lack the subcommands or the mode values"
        );
    }
    let bash = Command::new("bash")
        .arg("-n")
        .arg(prefix.join(COMPLETIONS[0].1))
        .status()?;
    anyhow::ensure!(bash.success(), "bash -n rejects the bash completions");
    std::fs::remove_dir_all(&prefix)?;
    Ok(())
}
