"""A real `netcopy trace --out` directory reads back in DuckDB and pandas, and its tables
agree with each other and with the summary."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from netcopy_analysis import load_trace, trace_duckdb
from test_runs import netcopy_bin


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("tracing needs root: run these tests through `cargo xtask test`")
    out = tmp_path_factory.mktemp("trace") / "run"
    result = subprocess.run(
        [netcopy_bin(), "trace", "--mode", "zerocopy", "--size", "16K", "--duration", "500ms",
         "--warmup", "0", "--out", out, "--json"],
        check=True, capture_output=True, text=True, timeout=120,
    )
    return out, json.loads(result.stdout)


def test_duckdb_counts_match_the_summary(trace_dir):
    out, summary = trace_dir
    con = trace_duckdb(out)
    calls = dict(con.execute("SELECT syscall, count(*) FROM syscalls WHERE role = 'server' GROUP BY 1").fetchall())
    assert calls["sendmsg"] == summary["send_calls"]["sendmsg"]
    sent = con.execute(
        "SELECT sum(bytes) FROM syscalls WHERE role = 'server' AND syscall = 'sendmsg'"
    ).fetchone()[0]
    assert sent == summary["bytes"]
    completed = con.execute("SELECT sum(newly_completed) FROM zerocopy").fetchone()[0]
    assert completed == summary["zerocopy"]["sends"]
    top = con.execute(
        "SELECT stage FROM stages WHERE role = 'server' ORDER BY samples DESC LIMIT 3"
    ).fetchall()
    assert top, "the sender has sampled stages"
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_pandas_reads_every_table(trace_dir):
    out, summary = trace_dir
    tables = load_trace(out)
    assert set(tables) == {"runs", "syscalls", "stages", "stacks", "zerocopy"}
    sys = tables["syscalls"]
    assert (sys["oncpu_ns"] + sys["offcpu_ns"] == sys["wall_ns"]).all()
    assert sys["cycles"].isna().all(), "no PMU here: null, not 0"
    stages = tables["stages"]
    for (_, _), group in stages.groupby(["role", "syscall"]):
        assert abs(group["share"].sum() - 1.0) < 1e-9
    assert tables["stacks"]["samples"].sum() == stages["samples"].sum()
