"""Load netcopy results into pandas and DuckDB.

Run summaries (`netcopy run --json`) with `runs`, trace directories (`netcopy trace --out`)
with `tables`.
"""

from .runs import load_runs, runs_duckdb
from .tables import load_trace, trace_duckdb

__all__ = ["load_runs", "runs_duckdb", "load_trace", "trace_duckdb"]
