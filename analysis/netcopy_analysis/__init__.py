"""Load netcopy results into pandas and DuckDB.

So far netcopy writes run summaries (`netcopy run --json`); the Parquet tables of the tracer
will be loaded from here too.
"""

from .runs import load_runs, runs_duckdb

__all__ = ["load_runs", "runs_duckdb"]
