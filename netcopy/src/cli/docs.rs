//! `netcopy completions SHELL` (clap_complete) and `netcopy manpages DIR` (clap_mangen):
//! the shell completions and man pages of the whole command line, generated from the same
//! definitions as `--help`. `cargo xtask install` runs both and puts the files where the
//! shells and man look.

use std::{io::Write, path::Path, process::ExitCode};

use clap::Command;
use clap_complete::Shell;

use super::error::{Error, Usage};

/// Write `shell`'s completion script for `cmd` to `out`.
pub fn completions(
    shell: Shell,
    cmd: &mut Command,
    out: &mut dyn Write,
) -> Result<ExitCode, Error> {
    clap_complete::generate(shell, cmd, "netcopy", out);
    Ok(ExitCode::SUCCESS)
}

/// Write `netcopy.1` and `netcopy-COMMAND.1` for every command into `dir`.
pub fn manpages(cmd: &Command, dir: &Path) -> Result<ExitCode, Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Usage(format!("{}: not a directory", dir.display())).into());
    }
    std::fs::create_dir_all(dir).map_err(Error::io("create the man page directory"))?;
    let cmd = cmd.clone().name("netcopy");
    let mut written = 0;
    let mut pages = vec![("netcopy".to_owned(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("netcopy-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("netcopy {}", sub.get_name()));
        pages.push((name, page));
    }
    for (name, page) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .title(name.clone())
            .render(&mut buf)
            .map_err(Error::io("render a man page"))?;
        std::fs::write(dir.join(format!("{name}.1")), buf)
            .map_err(Error::io("write a man page"))?;
        written += 1;
    }
    eprintln!(
        "netcopy manpages: wrote {written} pages into {}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
