"""Run summaries (`netcopy run --json > run.json`) as one flat table, one row per run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import duckdb
import pandas as pd

# Latency percentiles kept as columns, in the order netcopy reports them.
QUANTILES = ("p50", "p90", "p99", "p999", "max")


def _paths(source: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        p = Path(source)
        return sorted(p.glob("*.json")) if p.is_dir() else [p]
    return [Path(s) for s in source]


def _flatten(run: dict, source: Path) -> dict:
    row = {
        key: run[key]
        for key in (
            "mode", "size", "threads", "path", "warmup_s", "duration_s", "bytes",
            "messages", "throughput_gbps", "verified", "interrupted",
        )
    }
    row["window_seconds"] = run["window"]["seconds"]
    row["window_bytes"] = run["window"]["bytes"]
    row["window_messages"] = run["window"]["messages"]
    # One call in this many was timed (null: --no-latency, and then every latency is null;
    # absent in files from before sampling, which timed every call).
    row["calls_timed_one_in"] = run.get("calls_timed_one_in", 1)
    for end in ("send", "recv"):
        latency = run[f"{end}_latency_ns"] or {}
        row[f"{end}_latency_count"] = latency.get("count")
        for q in QUANTILES:
            row[f"{end}_{q}_ns"] = latency.get(q)
    for name, count in run["send_calls"].items():
        row[f"send_calls_{name}"] = count
    for name, count in run["recv_calls"].items():
        row[f"recv_calls_{name}"] = count
    zc = run.get("zerocopy") or {}
    for key in ("sends", "completed", "copied", "enobufs"):
        # Null, not 0, where the mode has no zerocopy sends.
        row[f"zerocopy_{key}"] = zc.get(key)
    row["source"] = str(source)
    return row


def load_runs(source: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One row per run summary file (a file, a directory of *.json, or a list of files)."""
    rows = [_flatten(json.loads(p.read_text()), p) for p in _paths(source)]
    frame = pd.DataFrame(rows)
    ints = ("zerocopy_", "calls_timed_one_in", "send_latency_count", "recv_latency_count")
    ints += tuple(f"{end}_{q}_ns" for end in ("send", "recv") for q in QUANTILES)
    for col in [c for c in frame.columns if c.startswith(ints)]:
        frame[col] = frame[col].astype("Int64")
    return frame


def runs_duckdb(source: str | Path | Iterable[str | Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the runs as table `runs`."""
    con = duckdb.connect()
    frame = load_runs(source)
    con.register("runs_frame", frame)
    con.execute("CREATE TABLE runs AS SELECT * FROM runs_frame")
    con.unregister("runs_frame")
    return con
