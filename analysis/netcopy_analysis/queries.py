"""The ready DuckDB queries, run against a sweep's views. They ship inside the package, as
netcopy_analysis/queries/*.sql."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from .sweep import sweep_duckdb

QUERIES = resources.files(__package__) / "queries"


def names() -> list[str]:
    """The queries there are (file names without .sql)."""
    return sorted(
        p.name.removesuffix(".sql") for p in QUERIES.iterdir() if p.name.endswith(".sql")
    )


def run_query(sweep_dir: str | Path, name: str, params: list | None = None) -> pd.DataFrame:
    """Run queries/<name>.sql (with `?` parameters) on the sweep."""
    sql = (QUERIES / f"{name}.sql").read_text()
    con = sweep_duckdb(sweep_dir)
    return con.execute(sql, params or []).df()
