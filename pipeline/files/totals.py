"""Per-epoch partial results kept in the output folder: the integer (zone, code) totals of each epoch and
of each transition pair, each file named by a key of everything it depends on.

A key covers the grid, the zone layer (every byte of it), the epoch's file, its nodata and every byte of
sinkzone's code and data with the libraries' versions, so a cached total is used only where a fresh one would
be bit-identical (totals are exact integers, whatever the chunking). A changed zone layer changes every key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.provenance import package_versions
from pipeline.core.sums import ZoneValueTotals

_PACKAGE = Path(__file__).resolve().parents[1]


def package_digest(root: Path) -> str:
    """SHA-256 over every file of the package at `root` (code and shipped data such as core/tables/*.csv), each with
    its path in the package (a moved module is other code); compiled caches are not the package's bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@functools.cache
def package_fingerprint() -> str:
    """Everything besides the inputs that shapes a figure: every byte of sinkzone's code and data, and the versions
    of the libraries it computes with (GDAL, PROJ, GEOS among them). Run ids and cached totals both carry it, so an
    output made by other code is never taken for this code's, even where an upgrade kept the version number."""
    versions = json.dumps(package_versions(), sort_keys=True).encode()
    return hashlib.sha256(package_digest(_PACKAGE).encode() + versions).hexdigest()


def _checksum(zone: np.ndarray, value: np.ndarray, units: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (zone, value, units):
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheRead:
    """The cached totals found ({name: totals}), the run that made each, and notes on entries that failed to read."""

    totals: dict[str, ZoneValueTotals]
    made_by: dict[str, str]
    notes: list[str]


def read_totals(folder: Path, keys: Mapping[str, str]) -> CacheRead:
    """The cached totals found in `folder`, by the caller's names for them ({name: key}); others are absent.

    An entry is used only when its checksum matches its arrays: an empty, cut, edited or bit-flipped file is
    recomputed, with a note."""
    read = CacheRead(totals={}, made_by={}, notes=[])
    for name, key in keys.items():
        path = folder / f"{key}.npz"
        if not path.exists():
            continue
        try:
            with np.load(path, allow_pickle=False) as arrays:
                zone, value, units = arrays["zone"], arrays["value"], arrays["units"]
                ok = str(arrays["checksum"]) == _checksum(zone, value, units)
                made_by = str(arrays["run_id"])
        except Exception as exc:  # noqa: BLE001 - any unreadable entry (zip, zlib, header, missing array) is recomputed
            read.notes.append(f"{path}: cached totals unreadable ({type(exc).__name__}); computed again")
            continue
        if not ok:
            read.notes.append(f"{path}: cached totals do not match their checksum (changed after sinkzone wrote "
                              "them); computed again")
            continue
        read.totals[name] = ZoneValueTotals(zone=zone, value=value, units=units)
        read.made_by[name] = made_by
    return read


def write_totals(folder: Path, totals: Mapping[str, ZoneValueTotals], *, run_id: str,
                 made_by: Mapping[str, str] | None = None) -> None:
    """Every total under its key ({key: totals}) into a fresh `folder` of the staged output, with its checksum and
    the run that computed it (`made_by`, {key: run id}, for totals carried over from an earlier run)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, t in totals.items():
        np.savez(folder / f"{key}.npz", zone=t.zone, value=t.value, units=t.units,
                 checksum=np.array(_checksum(t.zone, t.value, t.units)),
                 run_id=np.array((made_by or {}).get(key, run_id)))
