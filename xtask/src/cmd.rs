//! Running other programs. Every command that changes something is printed before it runs
//! (`$ cargo build --release -p netcopy`), and a failure names the command.

use std::{
    ffi::{OsStr, OsString},
    io::{BufRead as _, Write as _},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
};

use anyhow::{Context as _, anyhow, bail};

/// `cmd` as a shell would show it, with the variables it sets in front.
pub fn show(cmd: &Command) -> String {
    let vars = cmd
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), quote(v))));
    let words = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote);
    vars.chain(words).collect::<Vec<_>>().join(" ")
}

/// One word, single-quoted when a shell would need it.
fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Run `cmd`, echoing it first, and return how it ended.
pub fn status(cmd: &mut Command) -> anyhow::Result<ExitStatus> {
    eprintln!("$ {}", show(cmd));
    cmd.status()
        .with_context(|| format!("could not start `{}`", show(cmd)))
}

/// Run `cmd`, echoing it first; fail unless it succeeds.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let st = status(cmd)?;
    if !st.success() {
        bail!("`{}` failed ({st})", show(cmd));
    }
    Ok(())
}

/// Run `cmd`, echoing it first, passing its stdout through line by line to `each_line`
/// (and to our stdout). Returns how it ended.
pub fn run_watching(
    cmd: &mut Command,
    mut each_line: impl FnMut(&str),
) -> anyhow::Result<ExitStatus> {
    eprintln!("$ {}", show(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{}`", show(cmd)))?;
    if let Some(out) = child.stdout.take() {
        let mut stdout = std::io::stdout().lock();
        for line in std::io::BufReader::new(out).lines() {
            let line = line.with_context(|| format!("reading the output of `{}`", show(cmd)))?;
            each_line(&line);
            // Our own stdout closing (say, `| head`) must not stop the child's run.
            let _ = writeln!(stdout, "{line}");
        }
    }
    child
        .wait()
        .with_context(|| format!("waiting for `{}`", show(cmd)))
}

/// Echo `cmd` and replace this process with it, so its exit code and signals (Ctrl-C) are
/// the caller's. Returns only if it could not be started.
pub fn exec(cmd: &mut Command) -> anyhow::Error {
    eprintln!("$ {}", show(cmd));
    let err = cmd.exec();
    anyhow!(err).context(format!("could not start `{}`", show(cmd)))
}

/// Run `cmd` silently (a check, not a change) and return its stdout if it succeeded.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether this process runs as root (effective uid 0), read from /proc so no unsafe
/// libc call is needed: the `Uid:` line holds real, effective, saved and fs uid.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// `program`, run through `sudo -E` when we are not root.
pub fn as_root(program: impl AsRef<OsStr>) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.arg("-E").arg(program);
        c
    }
}

/// The workspace root: xtask/ sits right below it.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `cargo`, the same one (and so the same toolchain) that runs xtask, in the workspace root.
///
/// `cargo run` gives xtask `CARGO` (this cargo's path) and rustup's `RUSTUP_TOOLCHAIN`; both
/// are kept so the nested build uses the toolchain the user chose. The eBPF build inside
/// netcopy's build.rs asks for `+nightly` itself.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut c = Command::new(program);
    c.current_dir(workspace_root());
    c
}

/// The workspace's target directory, as cargo itself resolves it (CARGO_TARGET_DIR,
/// `build.target-dir` in a config, or `target/`).
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let json = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))
        .context("`cargo metadata --format-version 1 --no-deps` failed")?;
    json_string_field(&json, "target_directory")
        .map(PathBuf::from)
        .context("`cargo metadata` printed no target_directory")
}

/// Build netcopy (release or debug) and return the path of the binary.
pub fn build_netcopy(release: bool) -> anyhow::Result<PathBuf> {
    let mut build = cargo();
    build.arg("build");
    if release {
        build.arg("--release");
    }
    run(build.args(["-p", "netcopy"]))?;
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir()?.join(profile).join("netcopy"))
}

/// The string value of the first `"key": "..."` in a JSON document. Enough for
/// `cargo metadata`'s top-level fields without a JSON library: the keys searched for do not
/// occur inside other strings there.
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let after_key = &json[json.find(&needle)? + needle.len()..];
    let value = after_key.trim_start().strip_prefix(':')?.trim_start();
    let mut chars = value.strip_prefix('"')?.chars();
    let mut out = String::new();
    let mut units: Vec<u16> = Vec::new(); // a run of \uXXXX escapes (surrogate pairs)
    loop {
        let c = chars.next()?;
        if c != '\\' || chars.clone().next() != Some('u') {
            out.extend(char::decode_utf16(units.drain(..)).map(|r| r.unwrap_or('\u{fffd}')));
        }
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    units.push(u16::from_str_radix(&hex, 16).ok()?);
                }
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                other => out.push(other), // \" \\ \/
            },
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields() {
        let j = r#"{"packages":[],"target_directory" : "/a b/\"q\"\\t\u00e9\ud83d\ude00","x":1}"#;
        assert_eq!(
            json_string_field(j, "target_directory").as_deref(),
            Some("/a b/\"q\"\\t\u{e9}\u{1f600}")
        );
        assert_eq!(json_string_field(j, "x"), None);
        assert_eq!(json_string_field(j, "missing"), None);
        assert_eq!(json_string_field(r#"{"k":"unterminated"#, "k"), None);
    }

    #[test]
    fn commands_show_like_a_shell() {
        let mut c = Command::new("cargo");
        c.env("RUSTFLAGS", "-L /x y")
            .args(["build", "--release", "it's"]);
        assert_eq!(
            show(&c),
            r"RUSTFLAGS='-L /x y' cargo build --release 'it'\''s'"
        );
    }
}
