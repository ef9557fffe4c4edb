"""The seed report's plots, redrawn from a sweep with matplotlib (`netcopy plot` draws
them without Python). Run: python -m netcopy_analysis.plots SWEEP_DIR [--out DIR]."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .sweep import load_cells, medians  # noqa: E402

MODES = ("twocopy", "onecopy", "zerocopy")
COLORS = {"twocopy": "tab:red", "onecopy": "tab:blue", "zerocopy": "tab:green"}


def _vs_size(ax, m: pd.DataFrame, threads: int, column: str, ylabel: str) -> bool:
    drew = False
    for mode in MODES:
        rows = m[(m["Mode"] == mode) & (m["Threads"] == threads)].dropna(subset=[column])
        if len(rows):
            ax.plot(rows["MessageSize"], rows[column], "o-", color=COLORS[mode], label=mode)
            drew = True
    ax.set_xscale("log", base=2)
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel(ylabel)
    if drew:
        ax.legend()
    else:
        ax.text(0.5, 0.5, f"{column}: not measured here", ha="center", transform=ax.transAxes)
    return drew


def draw(sweep_dir: str | Path, out: str | Path, threads: int | None = None) -> list[Path]:
    """Write the plots as PNG into `out`; returns the files."""
    cells = load_cells(sweep_dir)
    m = medians(cells)
    threads = threads or int(m["Threads"].min())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    panels = [
        ("throughput_vs_size", "Throughput_Gbps", "Gbit/s"),
        ("cpu_per_byte_vs_size", "SendOnCpuNsPerByte", "sender on-CPU ns per byte"),
        ("cycles_per_byte_vs_size", "CyclesPerByte", "cycles per byte"),
        ("context_switches_vs_size", "ContextSwitches", "context switches per run"),
    ]
    for name, column, ylabel in panels:
        fig, ax = plt.subplots(figsize=(8, 5))
        _vs_size(ax, m, threads, column, ylabel)
        ax.set_title(f"{name.replace('_', ' ')} ({threads} thread(s))")
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        files.append(path)
    fig, ax = plt.subplots(figsize=(8, 5))
    size = int(m["MessageSize"].min())
    for mode in MODES:
        rows = m[(m["Mode"] == mode) & (m["MessageSize"] == size)]
        if len(rows):
            ax.plot(rows["Threads"], rows["Latency_us"], "o-", color=COLORS[mode], label=mode)
    ax.set_xlabel("threads")
    ax.set_ylabel("mean recv call latency (µs)")
    ax.set_title(f"latency vs threads ({size} B)")
    ax.legend()
    path = out / "latency_vs_threads.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    files.append(path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweep_dir")
    parser.add_argument("--out", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    out = args.out or Path(args.sweep_dir) / "plots-matplotlib"
    for f in draw(args.sweep_dir, out, args.threads):
        print(f)


if __name__ == "__main__":
    main()
