"""The ready DuckDB queries of analysis/queries/*.sql, run against a sweep's views."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .sweep import sweep_duckdb

QUERIES = Path(__file__).resolve().parents[1] / "queries"


def names() -> list[str]:
    """The queries there are (file names without .sql)."""
    return sorted(p.stem for p in QUERIES.glob("*.sql"))


def run_query(sweep_dir: str | Path, name: str, params: list | None = None) -> pd.DataFrame:
    """Run analysis/queries/<name>.sql (with `?` parameters) on the sweep."""
    sql = (QUERIES / f"{name}.sql").read_text()
    con = sweep_duckdb(sweep_dir)
    return con.execute(sql, params or []).df()
