"""A `netcopy trace` run directory (runs, syscalls, stages, stacks, zerocopy .parquet)
in DuckDB and pandas."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

TABLES = ("runs", "syscalls", "stages", "stacks", "zerocopy")


def trace_duckdb(run_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per table present in `run_dir`."""
    con = duckdb.connect()
    for table in TABLES:
        path = Path(run_dir) / f"{table}.parquet"
        if path.exists():
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    return con


def load_trace(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Each table present in `run_dir` as a DataFrame."""
    return {
        table: pd.read_parquet(path)
        for table in TABLES
        if (path := Path(run_dir) / f"{table}.parquet").exists()
    }
