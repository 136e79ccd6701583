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
from pipeline.measure.kernels.zonal import CellWeights, dense_rank


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


# (zone, class, value) bins counted with one bincount up to this many (64 MB of float64); beyond, keys are sorted
MAX_BINS = 1 << 23
# integer values spanning up to this many numbers are binned by value (MOD13Q1's -2000..10000 is 12,001)
MAX_VALUE_SPAN = 1 << 16


def chunk_values(weights: CellWeights, codes: NDArray[np.int64], *, source: NDArray, value_of_cell: NDArray[np.intp],
                 observed: NDArray[np.bool_], nodata: float | None,
                 valid: tuple[float, float] | None) -> ZoneClassValues:
    """One chunk's covered cells by (zone, code, raw value).

    `codes`, `value_of_cell` and `observed` are per chunk cell; a cell's value is `source[value_of_cell]` (the
    value raster's own block, each cell its own entry, or a coarser block many cells share). Cells are binned
    by (zone, code, value key) with one bincount, the value key being the value itself for integer rasters of
    a short span, else the entry of `source`; only the bins holding area are sorted and merged.
    """
    flat = np.asarray(source).ravel()
    ok = usable(flat.astype(np.float64), nodata=nodata, valid=valid)
    cell_entry = value_of_cell.ravel()[weights.index]
    keep = observed.ravel()[weights.index] & ok[cell_entry]
    entry, units = cell_entry[keep], weights.units[keep]
    zone_local = weights.zone_of_cell[keep].astype(np.int64)
    code_values, code_rank = _code_ranks(codes.ravel()[weights.index][keep])
    table, value_key = _value_keys(flat, ok, entry)
    group = zone_local * len(code_values) + code_rank
    key = group * len(table) + value_key
    n_bins = len(weights.zones) * len(code_values) * len(table)
    if n_bins <= min(MAX_BINS, len(key)):  # more bins than cells cost more to clear than the keys to sort
        totals = np.bincount(key, weights=units, minlength=n_bins)
        bins = np.flatnonzero(totals)
        summed = totals[bins]
    else:
        bins, at = np.unique(key, return_inverse=True)
        summed = np.bincount(at.ravel(), weights=units, minlength=len(bins))
    group, value_key = np.divmod(bins, len(table))
    zone_at, code_at = np.divmod(group, max(len(code_values), 1))
    return merge_values(ZoneClassValues(zone=weights.zones[zone_at], code=code_values[code_at],
                                        value=table[value_key].astype(np.float64),
                                        units=np.rint(summed).astype(np.int64)))


def _code_ranks(codes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct codes and each cell's position among them; a land-cover product's few codes need no ranking."""
    if len(codes) and 0 <= int(codes.max()) - int(codes.min()) < MAX_VALUE_SPAN:
        low = int(codes.min())
        return np.arange(low, int(codes.max()) + 1, dtype=np.int64), codes - low
    return dense_rank(codes)


def _value_keys(flat: NDArray, ok: NDArray[np.bool_], entry: NDArray[np.intp]) -> tuple[NDArray, NDArray[np.int64]]:
    """The table of values the keys index, and each kept cell's key."""
    if np.issubdtype(flat.dtype, np.integer) and ok.any():
        low, high = int(flat[ok].min()), int(flat[ok].max())
        if high - low < MAX_VALUE_SPAN:
            return np.arange(low, high + 1), flat[entry].astype(np.int64) - low
    return flat, entry.astype(np.int64)


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
