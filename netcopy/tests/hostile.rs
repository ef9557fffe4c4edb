//! `netcopy serve` against hostile peers: garbage, a reset mid-message, 1,000 idle
//! connections, a slow reader, a hello asking for a gigabyte, more connections than
//! `--max-conns`. Through all of it a well-behaved client is still served, and the server's
//! memory stays bounded. A test binary of its own: it holds a thousand sockets.

use std::{
    io::{Read as _, Write as _},
    net::{Shutdown, TcpStream},
    os::fd::AsRawFd,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use netcopy::{
    model::Mode,
    workload::protocol::{ACK_LEN, AckStatus, HELLO_LEN, Hello, ProtocolError, decode_ack},
};

const BIN: &str = env!("CARGO_BIN_EXE_netcopy");
const MAX_CONNS: usize = 6;

struct Server {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Server {
    fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
            l.local_addr()
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        // Its log gets a line per connection turned away: a file, never a pipe that fills.
        let log = std::env::temp_dir().join(format!("netcopy-hostile-{}.log", std::process::id()));
        let child = Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--max-conns",
                &MAX_CONNS.to_string(),
                "--max-memory",
                "256M",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}")))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "server never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, log }
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).unwrap_or_else(|e| panic!("connect: {e}"))
    }

    /// A connection that has sent `hello` and read the server's answer.
    fn hello(&self, hello: &Hello) -> (TcpStream, Result<(), ProtocolError>) {
        let mut s = self.connect();
        s.write_all(&hello.encode())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ack = [0u8; ACK_LEN];
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("{e}"));
        s.read_exact(&mut ack)
            .unwrap_or_else(|e| panic!("read ack: {e}"));
        (s, decode_ack(&ack))
    }

    /// A connection admitted for `hello`, waiting (up to 10 s) for connections that are
    /// ending to give their slots back.
    fn admitted(&self, hello: &Hello) -> TcpStream {
        let started = Instant::now();
        loop {
            match self.hello(hello) {
                (s, Ok(())) => return s,
                (_, Err(ProtocolError::Refused(AckStatus::Busy)))
                    if started.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                (_, Err(e)) => panic!("not admitted: {e}"),
            }
        }
    }

    /// Throughput of a well-behaved `netcopy client` run, Gbit/s.
    fn good_client(&self) -> f64 {
        let out = Command::new(BIN)
            .args([
                "client",
                "--port",
                &self.port.to_string(),
                "--mode",
                "onecopy",
            ])
            .args([
                "--size",
                "64K",
                "--duration",
                "1s",
                "--warmup",
                "200ms",
                "--json",
            ])
            .output()
            .unwrap_or_else(|e| panic!("client: {e}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the good client failed: {err}");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["verified"], true);
        v["throughput_gbps"].as_f64().unwrap_or_default()
    }

    /// Peak resident memory of the server, bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_else(|e| panic!("{e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or_else(|| panic!("no VmHWM"))
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn hello(mode: Mode, size: u64, secs: u64) -> Hello {
    Hello {
        mode,
        size,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(secs),
        tail: Duration::ZERO,
        conns: 1,
        index: 0,
        session: 7,
        timing: netcopy::workload::timing::CallTiming::EVERY_CALL,
    }
}

/// The soft limit on open files up to the hard one: this test holds a thousand sockets.
fn more_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Close with a RST instead of a FIN (SO_LINGER with a zero timeout).
fn reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd and option buffer.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

#[test]
fn serve_keeps_serving_through_hostile_peers() {
    more_files();
    let mut server = Server::start();
    let alone = server.good_client();
    assert!(alone > 0.0);

    // 1,000 connections that never say anything.
    let idle: Vec<TcpStream> = (0..1000).map(|_| server.connect()).collect();

    // Garbage where the hello should be: refused with BadHello, then closed. (A peer that
    // sent more than a hello may see the close as a reset: its extra bytes were never read.)
    for junk in [
        vec![0u8; HELLO_LEN],
        vec![0xffu8; 4096],
        b"GET / HTTP/1.1\r\n\r\n".repeat(3),
    ] {
        let mut s = server.connect();
        let _ = s.write_all(&junk);
        let mut ack = [0u8; ACK_LEN];
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("{e}"));
        match s.read_exact(&mut ack) {
            Ok(()) => assert_eq!(
                decode_ack(&ack),
                Err(ProtocolError::Refused(AckStatus::BadHello)),
                "{junk:?}"
            ),
            Err(e) if junk.len() > HELLO_LEN && e.kind() == std::io::ErrorKind::ConnectionReset => {
            }
            Err(e) => panic!("no answer to garbage: {e}"),
        }
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "the server closes after refusing");
    }

    // A hello asking for 1 GiB messages: more buffer memory than --max-memory allows.
    let (_big, answer) = server.hello(&hello(Mode::Twocopy, 1 << 30, 5));
    assert_eq!(answer, Err(ProtocolError::Refused(AckStatus::Busy)));

    // A client that resets in the middle of a message.
    let (mut resetter, answer) = server.hello(&hello(Mode::Onecopy, 1 << 20, 10));
    answer.unwrap_or_else(|e| panic!("{e}"));
    let mut part = vec![0u8; 100_000];
    resetter
        .read_exact(&mut part)
        .unwrap_or_else(|e| panic!("{e}"));
    reset(resetter);

    // A slow reader: 4 KiB every 20 ms for the rest of the test.
    let (mut slow, answer) = server.hello(&hello(Mode::Twocopy, 64 << 10, 60));
    answer.unwrap_or_else(|e| panic!("{e}"));
    let slow_reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            match slow.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = slow.shutdown(Shutdown::Both);
        total
    });

    // Meanwhile, a well-behaved client is served, at a speed of the same order as alone.
    let beside = server.good_client();
    assert!(
        beside > 0.25 * alone,
        "served at {beside:.2} Gbit/s beside hostile peers, {alone:.2} alone"
    );
    assert!(
        slow_reader.join().unwrap_or(0) > 100_000,
        "the slow reader got data too"
    );

    // More connections than --max-conns: the one over the limit hears "busy", and the slots
    // come back when the hogs go.
    let hogs: Vec<TcpStream> = (0..MAX_CONNS)
        .map(|_| server.admitted(&hello(Mode::Onecopy, 1 << 16, 60)))
        .collect();
    let (_over, answer) = server.hello(&hello(Mode::Onecopy, 1 << 16, 1));
    assert_eq!(answer, Err(ProtocolError::Refused(AckStatus::Busy)));
    for h in hogs {
        reset(h);
    }
    drop(server.admitted(&hello(Mode::Onecopy, 1 << 16, 1)));
    assert!(server.good_client() > 0.25 * alone);

    drop(idle);
    assert!(server.alive(), "the server survived");
    let peak = server.peak_rss();
    assert!(peak < 256 << 20, "server peak RSS {} MiB", peak >> 20);
    eprintln!(
        "good client alone {alone:.2} Gbit/s, beside hostile peers {beside:.2} Gbit/s; server peak RSS {} MiB",
        peak >> 20
    );
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(log.contains("bad hello"), "{log}");
    assert!(log.contains("refused twocopy 1073741824 B"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
