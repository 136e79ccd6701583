"""Which totals of the previous run a run can reuse: a key per epoch and per transition pair.

A scheduled run whose config gained an epoch then reads and sums only that epoch (and the epochs of the
pairs it joins); everything downstream (transitions to it, change, progress, the report) is tabulated
again from the totals as usual. `--overwrite` computes everything afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.names import CACHE_DIR
from pipeline.core.sums import ZoneValueTotals
from pipeline.files.totals import code_fingerprint, read_totals
from pipeline.inputs.check import Inputs
from pipeline.inputs.landcover import epoch_nodata
from pipeline.measure.graph import Cached, Computed, needs_union


@dataclass(frozen=True)
class CacheKeys:
    epochs: Mapping[int, str]
    pairs: Mapping[tuple[int, int], str]


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cache_keys(inputs: Inputs, prints: Sequence[Mapping[str, Any]]) -> CacheKeys:
    """Keys of everything an epoch's totals depend on: grid, every byte of the zone layer and how it is read,
    whether the zones' union is summed too, the code, the epoch's file and nodata; a pair's, its two epochs'."""
    sha = {str(p["path"]): str(p["sha256"]) for p in prints}
    config = inputs.config
    zones = _digest(inputs.grid.key(), sha[str(config.zones.path)], config.zones.model_dump(mode="json"),
                    needs_union(inputs), code_fingerprint())
    epochs = {e.year: _digest(zones, sha[str(e.path)], epoch_nodata(e, info))
              for e, info in zip(config.landcover, inputs.rasters, strict=True)}
    pairs = {(a, b): _digest(epochs[a], epochs[b]) for a in epochs for b in epochs if a < b}
    return CacheKeys(epochs=epochs, pairs=pairs)


def load_cached(out_dir: Path, keys: CacheKeys) -> Cached:
    """The previous output's totals that this run's keys name."""
    folder = out_dir / CACHE_DIR
    totals = read_totals(folder, {str(year): key for year, key in keys.epochs.items()})
    pairs = read_totals(folder, {f"{a}-{b}": key for (a, b), key in keys.pairs.items()})
    return Cached(totals={int(name): t for name, t in totals.items()},
                  transitions={_pair(name): t for name, t in pairs.items()})


def _pair(name: str) -> tuple[int, int]:
    first, second = name.split("-")
    return int(first), int(second)


def to_store(keys: CacheKeys, computed: Computed) -> dict[str, ZoneValueTotals]:
    """This run's totals under their keys, for the new output's cache."""
    if computed.raw is None:
        return {}
    return {**{keys.epochs[year]: t for year, t in computed.raw.totals.items()},
            **{keys.pairs[pair]: t for pair, t in computed.raw.transitions.items()}}
