//! The reference loops the benchmarks measure netcopy against, run as `cargo xtask
//! bench-loop` in a process of their own (so that `netcopy trace --pid` can trace them).
//!
//! - `twocopy` / `onecopy`: the least a program can do to move messages of 8 separate
//!   fields over TCP on loopback: copy the fields into one buffer and `send` it, or
//!   `sendmsg` them with an 8-entry iovec; the receiver `recv`s into one buffer and copies
//!   back, or `recvmsg`s into 8 fields. No framing, no verification, no statistics.
//! - `tiny`: 1-byte `send` calls as fast as they go, to time one call (and, traced, the
//!   probes' cost per call).
//!
//! Prints one JSON object: bytes received in the window, seconds, Gbit/s, send calls, and
//! ns per send call.

use std::{
    io::{BufRead, Read, Write},
    net::{TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

const FIELDS: usize = 8;

/// Send all of `iov` with sendmsg, calling again for what a partial call left.
fn sendmsg_all(fd: i32, fields: &[Vec<u8>]) -> anyhow::Result<u64> {
    let total: usize = fields.iter().map(Vec::len).sum();
    let mut sent = 0usize;
    let mut calls = 0;
    while sent < total {
        let mut iov = Vec::with_capacity(FIELDS);
        let mut skip = sent;
        for f in fields {
            if skip >= f.len() {
                skip -= f.len();
                continue;
            }
            iov.push(libc::iovec {
                iov_base: f[skip..].as_ptr() as *mut libc::c_void,
                iov_len: f.len() - skip,
            });
            skip = 0;
        }
        // SAFETY: a zeroed msghdr is valid; the iovecs point into `fields`, alive for the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        // SAFETY: fd is an open socket; msg is valid.
        let n = unsafe { libc::sendmsg(fd, &msg, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("sendmsg");
        }
        sent += n as usize;
        calls += 1;
    }
    Ok(calls)
}

/// Receive exactly the fields' bytes with recvmsg; false at end of stream.
fn recvmsg_all(fd: i32, fields: &mut [Vec<u8>]) -> anyhow::Result<bool> {
    let total: usize = fields.iter().map(Vec::len).sum();
    let mut got = 0usize;
    while got < total {
        let mut iov = Vec::with_capacity(FIELDS);
        let mut skip = got;
        for f in fields.iter_mut() {
            if skip >= f.len() {
                skip -= f.len();
                continue;
            }
            let len = f.len() - skip;
            iov.push(libc::iovec {
                iov_base: f[skip..].as_mut_ptr().cast(),
                iov_len: len,
            });
            skip = 0;
        }
        // SAFETY: as in sendmsg_all, with writable buffers.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        // SAFETY: fd is an open socket; msg is valid.
        let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("recvmsg");
        }
        if n == 0 {
            return Ok(false);
        }
        got += n as usize;
    }
    Ok(true)
}

/// CPU time the calling thread has used, in ns.
fn thread_cpu_ns() -> u64 {
    // SAFETY: a zeroed timespec is valid and clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Run one loop for `duration` after `warmup` and print its JSON line.
pub fn run(
    mode: &str,
    size: usize,
    warmup: Duration,
    duration: Duration,
    wait_go: bool,
) -> anyhow::Result<()> {
    if !matches!(mode, "twocopy" | "onecopy" | "tiny") {
        bail!("bench-loop mode must be twocopy, onecopy or tiny, not {mode}");
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let receiver = {
        let (received, mode) = (received.clone(), mode.to_owned());
        std::thread::Builder::new().name("bl-recv".into()).spawn(
            move || -> anyhow::Result<()> {
                let (mut s, _) = listener.accept()?;
                let fd = s.as_raw_fd();
                let field = size.div_ceil(FIELDS);
                let mut fields: Vec<Vec<u8>> = (0..FIELDS).map(|_| vec![0u8; field]).collect();
                let mut buf = vec![
                    0u8;
                    if mode == "tiny" {
                        65536
                    } else {
                        field * FIELDS
                    }
                ];
                loop {
                    let n = match mode.as_str() {
                        "onecopy" => {
                            if !recvmsg_all(fd, &mut fields)? {
                                break;
                            }
                            field * FIELDS
                        }
                        "twocopy" => {
                            if s.read_exact(&mut buf).is_err() {
                                break;
                            }
                            for (i, f) in fields.iter_mut().enumerate() {
                                f.copy_from_slice(&buf[i * field..(i + 1) * field]);
                            }
                            buf.len()
                        }
                        _ => match s.read(&mut buf)? {
                            0 => break,
                            n => n,
                        },
                    };
                    received.fetch_add(n as u64, Ordering::Relaxed);
                }
                Ok(())
            },
        )?
    };
    let mut out = TcpStream::connect(addr)?;
    if wait_go {
        // A tracer attaches first; it says so by writing a line.
        println!("ready {}", std::process::id());
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
    }
    let field = size.div_ceil(FIELDS);
    let fields: Vec<Vec<u8>> = (0..FIELDS).map(|i| vec![i as u8; field]).collect();
    let mut buf = vec![0u8; field * FIELDS];
    let fd = out.as_raw_fd();
    let start = Instant::now();
    let (mut calls, mut window_calls) = (0u64, 0u64);
    let (mut w0, mut t0) = (None::<u64>, start);
    let mut cpu0 = 0u64;
    while start.elapsed() < warmup + duration {
        if w0.is_none() && start.elapsed() >= warmup {
            w0 = Some(received.load(Ordering::Relaxed));
            t0 = Instant::now();
            window_calls = calls;
            cpu0 = thread_cpu_ns();
        }
        match mode {
            "onecopy" => calls += sendmsg_all(fd, &fields)?,
            "twocopy" => {
                for (i, f) in fields.iter().enumerate() {
                    buf[i * field..(i + 1) * field].copy_from_slice(f);
                }
                out.write_all(&buf)?;
                calls += 1;
            }
            _ => {
                // SAFETY: fd is an open socket; one byte from a live buffer.
                let n = unsafe { libc::send(fd, buf.as_ptr().cast(), 1, 0) };
                if n < 0 {
                    return Err(std::io::Error::last_os_error()).context("send");
                }
                calls += 1;
            }
        }
    }
    let cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    let seconds = t0.elapsed().as_secs_f64();
    let bytes = received.load(Ordering::Relaxed) - w0.unwrap_or(0);
    drop(out);
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))??;
    let sends = calls - window_calls;
    let v = serde_json::json!({
        "mode": mode, "size": size, "window_s": seconds, "bytes": bytes,
        "gbps": bytes as f64 * 8.0 / seconds / 1e9,
        "send_calls": sends,
        // CPU time of the sending thread per call: what the call costs, kernel probes
        // included, without the time spent waiting for a CPU.
        "ns_per_send": if sends > 0 { cpu_ns as f64 / sends as f64 } else { 0.0 },
    });
    println!("{v}");
    Ok(())
}
