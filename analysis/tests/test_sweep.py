"""A tiny real sweep (2 modes x 2 sizes x 1 thread) read back with DuckDB and pandas: the
partitions, the CSV, the plots, the break-even, the seed comparison and every query."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest

from netcopy_analysis import (
    beside_seed,
    break_even,
    load_cells,
    load_seed,
    load_sweep,
    run_query,
    sweep_duckdb,
)
from netcopy_analysis.plots import draw
from netcopy_analysis.queries import names
from test_runs import netcopy_bin

MODES = ("onecopy", "zerocopy")
SIZES = (1024, 65536)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("tracing needs root: run these tests through `cargo xtask test`")
    out = tmp_path_factory.mktemp("sweep") / "s"
    subprocess.run(
        [netcopy_bin(), "sweep", "--modes", ",".join(MODES), "--sizes", "1K,64K",
         "--threads", "1", "--duration", "500ms", "--warmup", "0", "--repeat", "1",
         "--out", out],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return out


def test_cells_and_csv_agree(sweep_dir):
    cells = load_cells(sweep_dir)
    assert len(cells) == len(MODES) * len(SIZES)
    assert set(cells["Mode"]) == set(MODES)
    assert set(cells["MessageSize"]) == set(SIZES)
    assert cells["Verified"].all() and cells["Traced"].all()
    # Null, not 0, where this machine has no counters.
    assert cells["CacheMisses"].isna().all()
    for _, row in cells.iterrows():
        cell = json.loads((sweep_dir / f"mode={row.Mode}" / f"size={row.MessageSize}"
                           / "threads=1" / "rep=1" / "cell.json").read_text())
        assert cell["total_bytes"] == row.RunBytes
        assert abs(cell["throughput_gbps"] - row.Throughput_Gbps) < 1e-3


def test_duckdb_spans_the_partitions(sweep_dir):
    con = sweep_duckdb(sweep_dir)
    parts = con.execute(
        "SELECT DISTINCT mode, size, threads, rep FROM syscalls ORDER BY ALL"
    ).fetchall()
    assert parts == [(m, s, 1, 1) for m in MODES for s in SIZES]
    # What the sender's calls returned equals what the receiver got, per cell (the handshake
    # adds one 8-byte ack per connection).
    sent = dict(
        ((m, s), b)
        for m, s, b in con.execute(
            "SELECT mode, size, sum(bytes) FROM syscalls WHERE role = 'server' "
            "AND syscall IN ('sendto', 'sendmsg') GROUP BY ALL"
        ).fetchall()
    )
    got = dict(((m, s), b) for m, s, b in con.execute(
        "SELECT Mode, MessageSize, RunBytes FROM cells").fetchall())
    for key, total in got.items():
        assert sent[key] == total + 8, key
    zc_modes = {r[0] for r in con.execute("SELECT DISTINCT mode FROM zerocopy").fetchall()}
    assert zc_modes == {"zerocopy"}


def test_pandas_loads_every_table(sweep_dir):
    tables = load_sweep(sweep_dir)
    assert set(tables) == {"runs", "syscalls", "stages", "stacks", "zerocopy"}
    assert len(tables["runs"]) == len(MODES) * len(SIZES)
    assert {"mode", "size", "threads", "rep"} <= set(tables["stages"].columns)


def test_matplotlib_plots_are_written(sweep_dir, tmp_path):
    files = draw(sweep_dir, tmp_path)
    assert len(files) == 5
    assert all(f.stat().st_size > 10_000 for f in files)


def test_netcopy_plot_and_report(sweep_dir):
    subprocess.run([netcopy_bin(), "plot", sweep_dir], check=True, capture_output=True)
    pngs = sorted((sweep_dir / "plots").glob("*.png"))
    assert {p.stem for p in pngs} >= {"throughput_vs_size", "summary", "stages_by_mode_size",
                                      "zerocopy_verdict_vs_size", "cycles_per_byte_vs_size"}
    report = subprocess.run([netcopy_bin(), "report", sweep_dir, "--json"], check=True,
                            capture_output=True, text=True)
    groups = json.loads(report.stdout)
    assert len(groups) == len(MODES) * len(SIZES)
    cells = load_cells(sweep_dir).set_index(["Mode", "MessageSize"])
    for g in groups:
        want = cells.loc[(g["mode"], g["size"]), "Throughput_Gbps"]
        assert abs(g["throughput_gbps"]["median"] - want) < 1e-3


def test_break_even_says_why_there_is_none_over_loopback(sweep_dir):
    answers = break_even(load_cells(sweep_dir))
    assert len(answers) == 1
    (a,) = answers
    cells = load_cells(sweep_dir)
    avoided = cells[cells["Mode"] == "zerocopy"]["ZcAvoidedShare"]
    if (avoided == 0).all():
        assert a.size is None and "never avoided" in a.reason
    else:
        assert a.size in SIZES or a.reason


def test_seed_comparison_has_our_cells(sweep_dir):
    assert len(load_seed()) == 72
    both = beside_seed(load_cells(sweep_dir))
    assert len(both) == len(MODES) * len(SIZES)
    assert both["Throughput_Gbps_seed"].notna().all()
    assert (both["Throughput_Gbps_ratio"] > 0).all()
    assert both["CyclesPerByte_netcopy"].isna().all() or both["CyclesPerByte_ratio"].notna().any()


@pytest.mark.parametrize("name", names())
def test_every_query_runs(sweep_dir, name):
    params = [0] if name == "calls_with_many_switches" else None
    frame = run_query(sweep_dir, name, params)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) > 0, f"{name} returned nothing"
