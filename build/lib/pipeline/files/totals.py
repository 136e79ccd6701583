"""Per-epoch partial results kept in the output folder: the integer (zone, code) totals of each epoch and
of each transition pair, each file named by a key of everything it depends on.

A key covers the grid, the zone layer (every byte of it), the epoch's file, its nodata and the code that
computes coverage and sums, so a cached total is used only where a fresh one would be bit-identical
(totals are exact integers, whatever the chunking). A changed zone layer changes every key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from pipeline.core.sums import ZoneValueTotals

# the modules whose code decides a total; editing any of them retires every cached total
_CODE = ("pipeline.core.grid", "pipeline.core.coverage", "pipeline.measure.kernels.zonal", "pipeline.files.totals")


_PACKAGE = Path(__file__).resolve().parents[1]


def _sources_digest(paths: Iterable[Path]) -> str:
    """SHA-256 over source files in turn, each with its path in the package (a moved module is other code)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.resolve().relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def package_fingerprint() -> str:
    """Every source file of sinkzone: an output made by other code is never taken for this code's, even where an
    upgrade kept the version number."""
    return _sources_digest(sorted(_PACKAGE.rglob("*.py")))


def code_fingerprint() -> str:
    """The modules that decide a total (`_CODE`)."""
    specs = (importlib.util.find_spec(name) for name in _CODE)
    return _sources_digest(Path(spec.origin) for spec in specs if spec is not None and spec.origin is not None)


def read_totals(folder: Path, keys: Mapping[str, str]) -> dict[str, ZoneValueTotals]:
    """The cached totals found in `folder`, by the caller's names for them ({name: key}); others are absent."""
    found = {}
    for name, key in keys.items():
        path = folder / f"{key}.npz"
        try:
            with np.load(path) as arrays:
                found[name] = ZoneValueTotals(zone=arrays["zone"], value=arrays["value"], units=arrays["units"])
        except (OSError, KeyError, ValueError):  # absent, or cut short by a kill: compute it again
            continue
    return found


def write_totals(folder: Path, totals: Mapping[str, ZoneValueTotals]) -> None:
    """Every total under its key ({key: totals}) into a fresh `folder` of the staged output."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, t in totals.items():
        np.savez(folder / f"{key}.npz", zone=t.zone, value=t.value, units=t.units)
