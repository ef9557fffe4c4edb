"""Two hosts, one run: `netcopy serve --trace --run-id ID` on one and `netcopy client
--trace --run-id ID` on the other each write a shard (a directory of tables). Here the
shards are read as one dataset and the two ends of each run are joined on the run id."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

TABLES = ("runs", "syscalls", "stages", "stacks", "offcpu_stacks", "zerocopy", "uring")


def shards_duckdb(*shards: str | Path) -> duckdb.DuckDBPyConnection:
    """One view per table over every shard, with a `shard` column (the directory)."""
    con = duckdb.connect()
    for table in TABLES:
        files = [str(Path(s) / f"{table}.parquet") for s in shards
                 if (Path(s) / f"{table}.parquet").exists()]
        if files:
            listed = ", ".join(f"'{f}'" for f in files)
            con.execute(
                f"CREATE VIEW {table} AS SELECT * EXCLUDE (filename), "
                f"parse_dirpath(filename) AS shard FROM read_parquet([{listed}], "
                "union_by_name = true, filename = true)"
            )
    return con


JOIN = """
WITH sender AS (
    SELECT run_id, count(*) AS send_calls, sum(bytes) AS sent_bytes,
           sum(oncpu_ns) / nullif(sum(bytes), 0) AS send_oncpu_ns_per_byte,
           any_value(shard) AS sender_shard
    FROM syscalls WHERE role = 'server' AND syscall IN ('sendto', 'sendmsg', 'io_uring_enter')
    GROUP BY run_id
), receiver AS (
    SELECT run_id, count(*) AS recv_calls, sum(bytes) AS received_bytes,
           sum(oncpu_ns) / nullif(sum(bytes), 0) AS recv_oncpu_ns_per_byte,
           any_value(shard) AS receiver_shard
    FROM syscalls WHERE role = 'client' AND syscall IN ('recvfrom', 'recvmsg')
    GROUP BY run_id
), hosts AS (
    SELECT run_id, string_agg(DISTINCT host, ',') AS hosts,
           max(throughput_gbps) AS throughput_gbps
    FROM runs GROUP BY run_id
)
SELECT * FROM sender JOIN receiver USING (run_id) JOIN hosts USING (run_id)
ORDER BY run_id
"""


def join_ends(*shards: str | Path) -> pd.DataFrame:
    """One row per run id found in both a sending and a receiving shard."""
    return shards_duckdb(*shards).execute(JOIN).df()
