"""This machine's sweep beside the seed report's published table (seed/seed_report.csv,
inside the package)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .sweep import medians

SEED_CSV = resources.files(__package__) / "seed" / "seed_report.csv"
KEY = ["Mode", "MessageSize", "Threads"]
COMPARED = ["Throughput_Gbps", "Latency_us", "CyclesPerByte", "ContextSwitches"]


def load_seed() -> pd.DataFrame:
    """The seed report's 72 rows (3 modes x 6 sizes x 4 thread counts)."""
    with resources.as_file(SEED_CSV) as path:
        return pd.read_csv(path, comment="#")


def beside_seed(cells: pd.DataFrame) -> pd.DataFrame:
    """Our medians next to the seed's numbers for every cell both have, with ours/seed
    ratios. Ours are null where this machine cannot measure them (cycles without a PMU)."""
    ours = medians(cells)[KEY + COMPARED]
    seed = load_seed()[KEY + COMPARED]
    both = ours.merge(seed, on=KEY, suffixes=("_netcopy", "_seed"))
    for col in COMPARED:
        ratio = both[f"{col}_netcopy"] / both[f"{col}_seed"]
        both[f"{col}_ratio"] = ratio.where(both[f"{col}_seed"] != 0)
    return both.sort_values(KEY).reset_index(drop=True)
