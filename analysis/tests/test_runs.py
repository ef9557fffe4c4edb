"""Real `netcopy run --json` output loads into pandas and DuckDB with the expected rows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from netcopy_analysis import load_runs, runs_duckdb

ROOT = Path(__file__).resolve().parents[2]


def netcopy_bin() -> Path:
    """The release binary `cargo xtask test` has just built (or NETCOPY_BIN)."""
    path = Path(os.environ.get("NETCOPY_BIN", ROOT / "target" / "release" / "netcopy"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run these tests through `cargo xtask test`")
    return path


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    for mode in ("onecopy", "zerocopy"):
        for size in ("1K", "64K"):
            result = subprocess.run(
                [netcopy_bin(), "run", "--mode", mode, "--size", size,
                 "--duration", "300ms", "--warmup", "0", "--json"],
                check=True, capture_output=True, text=True, timeout=60,
            )
            (out / f"{mode}-{size}.json").write_text(result.stdout)
    result = subprocess.run(
        [netcopy_bin(), "run", "--mode", "twocopy", "--size", "1K", "--no-latency",
         "--duration", "300ms", "--warmup", "0", "--json"],
        check=True, capture_output=True, text=True, timeout=60,
    )
    (out / "twocopy-1K-untimed.json").write_text(result.stdout)
    return out


def test_pandas_has_one_row_per_run(runs_dir):
    frame = load_runs(runs_dir)
    assert len(frame) == 5
    untimed = frame[frame["mode"] == "twocopy"]
    # --no-latency: null latency, not 0, and no sampling rate.
    assert untimed["send_p50_ns"].isna().all() and untimed["calls_timed_one_in"].isna().all()
    frame = frame[frame["mode"] != "twocopy"]
    assert set(frame["mode"]) == {"onecopy", "zerocopy"}
    assert set(frame["size"]) == {1024, 65536}
    # One call in 16 timed under 16K by default, every call at 64K.
    by_size = frame.groupby("size")["calls_timed_one_in"].unique()
    assert list(by_size[1024]) == [16] and list(by_size[65536]) == [1]
    assert (frame["bytes"] == frame["messages"] * frame["size"]).all()
    assert frame["verified"].all()
    assert (frame["throughput_gbps"] > 0).all()
    assert (frame["send_p50_ns"] <= frame["send_p99_ns"]).all()
    onecopy = frame[frame["mode"] == "onecopy"]
    assert onecopy["zerocopy_sends"].isna().all(), "null, not 0, where there is no zerocopy"


def test_duckdb_sees_reaped_completions(runs_dir):
    con = runs_duckdb(runs_dir)
    rows = con.execute(
        "SELECT size, zerocopy_sends, zerocopy_completed, zerocopy_copied "
        "FROM runs WHERE mode = 'zerocopy' ORDER BY size"
    ).fetchall()
    assert [r[0] for r in rows] == [1024, 65536]
    for _, sends, completed, copied in rows:
        assert sends > 0 and completed == sends and copied == completed
