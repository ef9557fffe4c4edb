"""netcopy_analysis as an installed package: it imports from outside the repo with its
queries and seed table, a wheel built from analysis/ carries them, and pyproject.toml,
requirements.lock and analysis/.venv agree with each other."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ANALYSIS = Path(__file__).resolve().parents[1]
LOCK = ANALYSIS / "requirements.lock"
PYPROJECT = ANALYSIS / "pyproject.toml"

QUERIES = ["calls_with_many_switches", "cost_per_byte", "top_stages_by_mode", "zerocopy_verdict"]
# analysis/netcopy_analysis/seed/seed_report.csv: 3 modes x 6 sizes x 4 thread counts.
SEED_COLUMNS = [
    "Mode", "MessageSize", "Threads", "Throughput_Gbps", "Latency_us", "TotalBytes",
    "CPUcycles", "CyclesPerByte", "CacheMisses", "CacheRefs", "ContextSwitches",
]

# Run by a separate Python, in a folder outside the repo.
PROBE = """
import json
import netcopy_analysis
from netcopy_analysis.queries import QUERIES, names

seed = netcopy_analysis.load_seed()
print(json.dumps({
    "file": netcopy_analysis.__file__,
    "queries": names(),
    "selects": [n for n in names() if "select" in (QUERIES / f"{n}.sql").read_text().lower()],
    "rows": len(seed),
    "columns": list(seed.columns),
    "cells": sorted({(m, int(s), int(t)) for m, s, t in
                     zip(seed["Mode"], seed["MessageSize"], seed["Threads"])}),
}))
"""


def probe(cwd: Path, pythonpath: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_data_found(seen: dict) -> None:
    assert seen["queries"] == QUERIES
    assert seen["selects"] == QUERIES, "each query's SQL is read from the package"
    assert seen["rows"] == 72
    assert seen["columns"] == SEED_COLUMNS
    assert len(seen["cells"]) == 72, "each (mode, size, threads) once"
    assert {c[0] for c in seen["cells"]} == {"twocopy", "onecopy", "zerocopy"}


def test_imports_from_outside_the_repo(tmp_path):
    seen = probe(tmp_path)
    assert_data_found(seen)
    assert not Path(seen["file"]).is_relative_to(tmp_path)


def test_a_wheel_carries_the_queries_and_the_seed(tmp_path):
    if importlib.util.find_spec("flit_core") is None:
        pytest.fail("flit_core (pinned in requirements.lock) is not installed: "
                    "run `cargo xtask setup`")
    wheels, site = tmp_path / "wheels", tmp_path / "site"

    def pip(*args) -> None:
        result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                                 *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr

    # Offline: the build backend comes from the venv (the lock), not from an index.
    pip("wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation", "-w", wheels, ANALYSIS)
    (wheel,) = wheels.glob("netcopy_analysis-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    assert {f"netcopy_analysis/queries/{q}.sql" for q in QUERIES} <= inside
    assert "netcopy_analysis/seed/seed_report.csv" in inside
    assert not [n for n in inside if "__pycache__" in n or n.startswith("tests/")]

    # Installed from that wheel alone (ahead of any editable install on the path).
    pip("install", "-q", "--no-deps", "--no-index", "--target", site, wheel)
    seen = probe(tmp_path, pythonpath=site)
    assert Path(seen["file"]).is_relative_to(site)
    assert_data_found(seen)


def locked() -> dict[str, str]:
    """Name -> version for each pin of requirements.lock; each must carry its hashes."""
    pins = {}
    # A pin is a `name==version \` line followed by its indented `--hash=` lines.
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        if block.startswith("#"):
            continue
        pin = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", block)
        assert pin, f"not a pin: {block.splitlines()[0]!r} in {LOCK}"
        name, version = pin.groups()
        assert "--hash=sha256:" in block, f"{name}=={version} has no hash in {LOCK}"
        pins[canonicalize_name(name)] = version
    assert pins, f"no pins in {LOCK}"
    return pins


def test_the_lock_satisfies_pyproject():
    """Every requirement of pyproject.toml (dependencies, the test extra, the build backend)
    is pinned in the lock at a version it allows."""
    project = tomllib.loads(PYPROJECT.read_text())
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["test"],
        *project["build-system"]["requires"],
        *project["dependency-groups"]["build"],
    ]
    pins = locked()
    for line in wanted:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, f"{line} is not in requirements.lock: regenerate it"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} is not {line}"


def test_the_venv_holds_exactly_the_lock():
    """analysis/.venv (made by `cargo xtask setup`) has every locked package at its locked
    version and nothing else, besides what a new venv has (pip, setuptools) and
    netcopy_analysis itself."""
    venv = ANALYSIS / ".venv"
    if Path(sys.prefix).resolve() != venv.resolve():
        pytest.skip(f"not running in {venv} (this is {sys.prefix}): no lock to hold it to")
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in metadata.distributions()}
    ours = installed.pop("netcopy-analysis", None)
    assert ours == tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    for bundled in ("pip", "setuptools"):
        installed.pop(bundled, None)
    assert installed == locked()
