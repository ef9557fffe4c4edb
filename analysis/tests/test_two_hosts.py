"""Two hosts played by two network namespaces this test makes: `netcopy serve --trace` in
one, `netcopy client --trace` in the other, with a shared --run-id. The shards join."""

from __future__ import annotations

import os
import subprocess

import pytest

from netcopy_analysis import join_ends, shards_duckdb
from test_runs import netcopy_bin

SERVER_IP = "198.18.1.1"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def two_namespaces():
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root: run these tests through `cargo xtask test`")
    tag = os.getpid() % 100000
    a, b = f"ncpyt-{tag}-srv", f"ncpyt-{tag}-cli"
    va, vb = f"nct{tag}a", f"nct{tag}b"
    try:
        ip("netns", "add", a)
        ip("netns", "add", b)
        ip("link", "add", va, "type", "veth", "peer", "name", vb)
        ip("link", "set", va, "netns", a)
        ip("link", "set", vb, "netns", b)
        ip("-n", a, "addr", "add", f"{SERVER_IP}/30", "dev", va)
        ip("-n", b, "addr", "add", "198.18.1.2/30", "dev", vb)
        for ns, dev in ((a, va), (b, vb)):
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.mark.parametrize("mode", ["onecopy", "uringzc"])
def test_shards_of_two_hosts_join_on_the_run_id(two_namespaces, tmp_path, mode):
    srv_ns, cli_ns = two_namespaces
    run_id = f"two-hosts-{mode}-{os.getpid()}"
    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server = subprocess.Popen(
        ["ip", "netns", "exec", srv_ns, netcopy_bin(), "serve", "--bind", SERVER_IP,
         "--trace", "--run-id", run_id, "--out", server_dir],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Wait for the listening line (stderr), bounded.
        line = server.stderr.readline()
        assert "serving one client run" in line, line
        client = subprocess.run(
            ["ip", "netns", "exec", cli_ns, netcopy_bin(), "client", "--server", SERVER_IP,
             "--mode", mode, "--size", "16K", "--threads", "2", "--duration", "1s",
             "--warmup", "0", "--trace", "--run-id", run_id, "--out", client_dir],
            capture_output=True, text=True, timeout=120,
        )
        assert client.returncode == 0, client.stderr
        server.wait(timeout=60)
        assert server.returncode == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()

    con = shards_duckdb(server_dir, client_dir)
    ids = con.execute("SELECT DISTINCT run_id FROM runs").fetchall()
    assert ids == [(run_id,)]
    # The server's shard has no receiving end: its throughput is null, the client's is not.
    thr = dict(con.execute("SELECT shard, throughput_gbps FROM runs").fetchall())
    assert thr[str(server_dir)] is None and thr[str(client_dir)] > 0
    ends = join_ends(server_dir, client_dir)
    assert len(ends) == 1
    row = ends.iloc[0]
    # Every byte the sender's calls returned, the receiver's calls got (each side's 8-byte
    # handshake messages included on both).
    assert row.sent_bytes == row.received_bytes
    assert row.sent_bytes > 1 << 20
    assert row.sender_shard == str(server_dir) and row.receiver_shard == str(client_dir)
    assert row.send_oncpu_ns_per_byte > 0 and row.recv_oncpu_ns_per_byte > 0
    if mode == "uringzc":
        # The sends went through the ring: the server's shard has a row per SEND_ZC
        # request, each notified, and their bytes are what the receiver got (less the
        # 8-byte handshake reply each connection sent with send(2)).
        reqs = con.execute(
            "SELECT count(*), sum(bytes), count(*) FILTER (WHERE notified) FROM uring"
        ).fetchone()
        assert reqs[0] > 0 and reqs[2] == reqs[0], reqs
        handshakes = con.execute(
            "SELECT sum(bytes) FROM syscalls WHERE role = 'server' AND syscall = 'sendto'"
        ).fetchone()[0]
        assert reqs[1] + handshakes == row.received_bytes
