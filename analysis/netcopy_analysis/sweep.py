"""A `netcopy sweep --out DIR` dataset in DuckDB and pandas.

The dataset is hive-partitioned: DIR/mode=M/size=BYTES/threads=T/rep=R/<table>.parquet, plus
DIR/summary.csv with one row per cell. Every table gets the partition columns (mode, size,
threads, rep), so one query spans the whole sweep.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

TABLES = ("runs", "syscalls", "stages", "stacks", "zerocopy")
PARTITIONS = "mode=*/size=*/threads=*/rep=*"


def table_glob(sweep_dir: str | Path, table: str) -> str:
    """The glob of one table's files over every cell."""
    return str(Path(sweep_dir) / PARTITIONS / f"{table}.parquet")


def sweep_duckdb(sweep_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per table over all cells (those present),
    and `cells` over summary.csv."""
    root = Path(sweep_dir)
    con = duckdb.connect()
    for table in TABLES:
        if any(root.glob(f"{PARTITIONS}/{table}.parquet")):
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{table_glob(root, table)}', "
                "hive_partitioning = true, union_by_name = true)"
            )
    csv = root / "summary.csv"
    if csv.exists():
        con.execute(f"CREATE VIEW cells AS SELECT * FROM read_csv_auto('{csv}', header = true)")
    return con


def load_cells(sweep_dir: str | Path) -> pd.DataFrame:
    """summary.csv as a DataFrame: one row per cell, empty fields as NA (not measured)."""
    frame = pd.read_csv(Path(sweep_dir) / "summary.csv")
    for col in ("CPUcycles", "CacheMisses", "CacheRefs", "ZcSends", "LostRecords"):
        frame[col] = frame[col].astype("Int64")
    return frame


def load_sweep(sweep_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Each table over all cells, with the partition columns, as a DataFrame."""
    con = sweep_duckdb(sweep_dir)
    names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    return {t: con.execute(f"SELECT * FROM {t}").df() for t in TABLES if t in names}


def medians(cells: pd.DataFrame) -> pd.DataFrame:
    """Median over the repeats of each (Mode, MessageSize, Threads), as `netcopy report`."""
    numeric = cells.select_dtypes("number").columns.difference(["MessageSize", "Threads", "Rep"])
    return (
        cells.groupby(["Mode", "MessageSize", "Threads"], as_index=False)[list(numeric)]
        .median()
        .sort_values(["Mode", "MessageSize", "Threads"])
        .reset_index(drop=True)
    )
