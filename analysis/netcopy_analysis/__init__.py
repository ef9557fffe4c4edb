"""Load netcopy results into pandas and DuckDB.

Run summaries (`netcopy run --json`) with `runs`, trace directories (`netcopy trace --out`)
with `tables`, sweeps (`netcopy sweep --out`) with `sweep`; `breakeven`, `seed`, `plots` and
`queries` work on sweeps.
"""

from .breakeven import break_even
from .hosts import join_ends, shards_duckdb
from .queries import run_query
from .runs import load_runs, runs_duckdb
from .seed import beside_seed, load_seed
from .sweep import load_cells, load_sweep, medians, sweep_duckdb
from .tables import load_trace, trace_duckdb

__all__ = [
    "beside_seed",
    "break_even",
    "join_ends",
    "load_cells",
    "load_runs",
    "load_seed",
    "load_sweep",
    "load_trace",
    "medians",
    "run_query",
    "runs_duckdb",
    "shards_duckdb",
    "sweep_duckdb",
    "trace_duckdb",
]
