"""The value kernel: per chunk, the observed area of every (zone, land-cover code, raw value) triple.

Keeping each distinct raw value with its area (rather than running sums) lets the weighted quantiles come out
exact after the merge, whatever the chunking; an integer product such as MOD13Q1 NDVI has at most ~12,000
distinct values per zone and class, so the merged table stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.core.weighted import usable
from pipeline.measure.kernels.zonal import CellWeights


@dataclass(frozen=True)
class ZoneClassValues:
    """Area units of each (zone, class code, raw value) observed; sorted by zone, code, value."""

    zone: NDArray[np.int64]
    code: NDArray[np.int64]
    value: NDArray[np.float64]
    units: NDArray[np.int64]

    def pick(self, keep: NDArray[np.bool_]) -> ZoneClassValues:
        return ZoneClassValues(zone=self.zone[keep], code=self.code[keep], value=self.value[keep],
                               units=self.units[keep])


def chunk_values(weights: CellWeights, values: NDArray, codes: NDArray[np.int64], *, observed: NDArray[np.bool_],
                 nodata: float | None, valid: tuple[float, float] | None) -> ZoneClassValues:
    """One chunk's covered cells by (zone, code, raw value); `values`, `codes`, `observed` are per chunk cell."""
    cell = values.ravel()[weights.index].astype(np.float64)
    keep = observed.ravel()[weights.index] & usable(cell, nodata=nodata, valid=valid)
    units = weights.units[keep].astype(np.int64)
    return merge_values(ZoneClassValues(zone=weights.zones[weights.zone_of_cell[keep]],
                                        code=codes.ravel()[weights.index][keep], value=cell[keep], units=units))


def merge_values(*parts: ZoneClassValues) -> ZoneClassValues:
    """Add the areas of equal (zone, code, value) triples; integer sums, so independent of order."""
    zone = np.concatenate([p.zone for p in parts])
    code = np.concatenate([p.code for p in parts])
    value = np.concatenate([p.value for p in parts])
    units = np.concatenate([p.units for p in parts])
    order = np.lexsort((value, code, zone))
    zone, code, value, units = zone[order], code[order], value[order], units[order]
    first = np.ones(len(zone), dtype=bool)
    first[1:] = (zone[1:] != zone[:-1]) | (code[1:] != code[:-1]) | (value[1:] != value[:-1])
    at = np.flatnonzero(first)
    if len(at) == 0:
        return ZoneClassValues(zone=zone, code=code, value=value, units=units)
    merged = ZoneClassValues(zone=zone[at], code=code[at], value=value[at], units=np.add.reduceat(units, at))
    return merged.pick(merged.units > 0)
