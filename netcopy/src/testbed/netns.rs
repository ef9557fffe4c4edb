//! `--netns`: the server and the client in two network namespaces joined by a veth pair,
//! so the bytes cross a real (virtual) device instead of loopback.
//!
//! Namespaces are named `ncpy-<pid>-<n>-srv` / `ncpy-<pid>-<n>-cli` and built with iproute2.
//! Dropping the [`Testbed`] removes them (the veth pair goes with them). Namespaces left by a
//! process that no longer exists (a killed run) are removed before a new testbed is built.
//! A thread joins a namespace with setns(2), which moves only that thread: sockets keep the
//! namespace they were created in.

use std::{
    fs::File,
    net::Ipv4Addr,
    path::Path,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use nix::sched::{CloneFlags, setns};
use thiserror::Error;

/// Benchmarking range (RFC 2544), private to the two namespaces: nothing outside sees it.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PREFIX_LEN: u8 = 30;
const NAME_PREFIX: &str = "ncpy-";

static NEXT: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Error)]
pub enum NetnsError {
    #[error(
        "--netns needs the `ip` command from iproute2 (apt-get install iproute2, or `cargo xtask setup`)"
    )]
    NoIp,
    #[error(
        "--netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN to create namespaces: run as root (sudo)"
    )]
    NotPrivileged,
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("enter network namespace {name}: {source}")]
    Enter {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error("open network namespace {name}: {source}")]
    Open {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetnsError {
    /// Missing privileges, which the user can fix.
    pub fn is_usage(&self) -> bool {
        matches!(self, NetnsError::NotPrivileged)
    }
}

/// Two namespaces and the veth pair between them; removed on drop.
#[derive(Debug)]
pub struct Testbed {
    server: String,
    client: String,
}

impl Testbed {
    /// Build the testbed, after removing stale ones left by dead processes.
    pub fn create() -> Result<Self, NetnsError> {
        if !crate::privileges::has_caps(&[
            crate::privileges::Cap::SysAdmin,
            crate::privileges::Cap::NetAdmin,
        ]) {
            return Err(NetnsError::NotPrivileged);
        }
        remove_stale()?;
        let id = format!(
            "{NAME_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let bed = Self {
            server: format!("{id}-srv"),
            client: format!("{id}-cli"),
        };
        // Names from an earlier process with our pid would be stale too: replace them.
        bed.remove();
        // From here on, Drop cleans up whatever was built if a later step fails.
        ip(&["netns", "add", &bed.server])?;
        ip(&["netns", "add", &bed.client])?;
        ip(&[
            "-n",
            &bed.server,
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "veth1",
            "netns",
            &bed.client,
        ])?;
        for (ns, dev, addr) in [
            (&bed.server, "veth0", SERVER_ADDR),
            (&bed.client, "veth1", CLIENT_ADDR),
        ] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/{PREFIX_LEN}"),
                "dev",
                dev,
            ])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(bed)
    }

    pub fn server_ns(&self) -> &str {
        &self.server
    }

    pub fn client_ns(&self) -> &str {
        &self.client
    }

    /// Move the calling thread into the server's namespace.
    pub fn enter_server(&self) -> Result<(), NetnsError> {
        enter(&self.server)
    }

    /// Move the calling thread into the client's namespace.
    pub fn enter_client(&self) -> Result<(), NetnsError> {
        enter(&self.client)
    }

    /// Run `f` on a short-lived thread inside the server's namespace (e.g. to bind a socket).
    pub fn in_server<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter_server()?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Set a sysctl of the server's namespace, e.g. `net/core/optmem_max` (a path under
    /// /proc/sys, which shows the namespace of the thread that opens it).
    pub fn set_server_sysctl(&self, key: &str, value: &str) -> Result<(), NetnsError> {
        let path = Path::new("/proc/sys").join(key);
        self.in_server(|| std::fs::write(&path, value))?
            .map_err(|e| NetnsError::Command {
                command: format!("write {value} to {} in {}", path.display(), self.server),
                stderr: e.to_string(),
            })
    }

    fn remove(&self) {
        for ns in [&self.server, &self.client] {
            if Path::new("/run/netns").join(ns).exists() {
                let _ = ip(&["netns", "del", ns]);
            }
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Names of the netcopy namespaces that exist now.
pub fn list() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(NAME_PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

/// Remove namespaces whose creating process no longer exists.
pub fn remove_stale() -> Result<usize, NetnsError> {
    let mut removed = 0;
    for name in list() {
        if owner_pid(&name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            ip(&["netns", "del", &name])?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The pid in `ncpy-<pid>-<n>-<end>`.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(NAME_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn enter(name: &str) -> Result<(), NetnsError> {
    let file =
        File::open(Path::new("/run/netns").join(name)).map_err(|source| NetnsError::Open {
            name: name.to_owned(),
            source,
        })?;
    setns(file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
        name: name.to_owned(),
        source,
    })
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => NetnsError::NoIp,
            _ => NetnsError::Command {
                command: format!("ip {}", args.join(" ")),
                stderr: e.to_string(),
            },
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            command: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_our_names_only() {
        assert_eq!(owner_pid("ncpy-1234-0-srv"), Some(1234));
        assert_eq!(owner_pid("ncpy-x-0-srv"), None);
        assert_eq!(owner_pid("other-1234"), None);
    }
}
