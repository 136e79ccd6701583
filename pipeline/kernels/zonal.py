"""The zonal kernel: per chunk, sum cell areas by (zone, value) using precomputed coverage weights.

Everything here works on one chunk's numpy arrays and returns small results that add up across
chunks; the runner maps it over chunks with dask and merges the partial sums in a tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.coverage import Coverage

NODATA_CODE = -1


@dataclass(frozen=True)
class CellWeights:
    """The covered cells of one chunk: local zone number, flat cell index and area weight (units).

    Index and local zone number are int32 (a chunk holds far fewer than 2**31 cells) to halve the
    memory of the largest arrays a chunk task holds.
    """

    zones: NDArray[np.int64]
    zone_of_cell: NDArray[np.int32]
    index: NDArray[np.int32]
    units: NDArray[np.float64]


@dataclass(frozen=True)
class ZoneValueTotals:
    """Area in integer units for each (zone, value) pair present; sorted by zone then value."""

    zone: NDArray[np.int64]
    value: NDArray[np.int64]
    units: NDArray[np.int64]


def cell_weights(cov: Coverage, row_units: NDArray[np.float64]) -> CellWeights:
    """Expand a chunk's coverage into one weight per covered cell (interior runs and boundary cells).

    Everything per run (zone number, first cell, weight) is worked out on the few runs and then
    repeated once per cell, so each covered cell costs a handful of writes and no sort.
    """
    width = cov.shape[1]
    lengths = (cov.r_stop - cov.r_start).astype(np.int64)
    zones, local = np.unique(np.concatenate([cov.r_zone, cov.b_zone]), return_inverse=True)
    run_zone, cell_zone = local[:len(lengths)].astype(np.int32), local[len(lengths):].astype(np.int32)
    run_first = cov.r_row.astype(np.int64) * width + cov.r_start - (np.cumsum(lengths) - lengths)
    run_index = np.arange(int(lengths.sum()), dtype=np.int32) + np.repeat(run_first.astype(np.int32), lengths)
    index = np.concatenate([run_index, (cov.b_row.astype(np.int64) * width + cov.b_col).astype(np.int32)])
    units = np.concatenate([np.repeat(np.rint(row_units[cov.r_row]), lengths),
                            np.rint(cov.b_frac * row_units[cov.b_row])])
    zone_of_cell = np.concatenate([np.repeat(run_zone, lengths), cell_zone])
    return CellWeights(zones=zones.astype(np.int64), zone_of_cell=zone_of_cell, index=index, units=units)


def land_codes(block: NDArray, *, nodata: float | None) -> NDArray[np.int64]:
    """A chunk's cell values as int64, with nodata cells set to NODATA_CODE."""
    codes = block.astype(np.int64, copy=True)
    if nodata is not None:
        codes[block == nodata] = NODATA_CODE
    return codes


def lookup_codes(codes: NDArray[np.int64], lookup: Mapping[int, object]) -> NDArray[np.object_]:
    """Each code's entry in `lookup` (None when absent), looked up once per distinct code."""
    uniques, inverse = np.unique(np.asarray(codes, dtype=np.int64), return_inverse=True)
    return np.array([lookup.get(int(c)) for c in uniques] + [None], dtype=object)[:-1][inverse.ravel()]


def pair_codes(first: NDArray[np.int64], second: NDArray[np.int64]) -> NDArray[np.int64]:
    """One value per cell encoding a (from, to) pair of codes, for transition matrices."""
    return (first << 32) + (second & 0xFFFFFFFF)


def split_pair_codes(pairs: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Undo pair_codes."""
    second = pairs & 0xFFFFFFFF
    second = np.where(second >= 2**31, second - 2**32, second)
    return (pairs - second) >> 32, second


def cell_value_totals(cell_values: NDArray[np.int64], weights: CellWeights) -> ZoneValueTotals:
    """Sum the weights of covered cells by (zone, value); values already gathered in weights order."""
    uniques, value_of_cell = _dense_rank(cell_values)
    key = weights.zone_of_cell.astype(np.int64) * len(uniques) + value_of_cell
    sums = np.bincount(key, weights=weights.units, minlength=len(weights.zones) * len(uniques))
    zone_i, value_i = np.divmod(np.flatnonzero(sums), max(len(uniques), 1))
    return ZoneValueTotals(zone=weights.zones[zone_i], value=uniques[value_i],
                           units=sums[sums != 0].astype(np.int64))


def _dense_rank(values: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct values and each value's rank; a counting pass when the range is small, else a sort."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low < 1 << 20:
        present = np.bincount(values - low, minlength=high - low + 1) > 0
        rank = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.int64) + low, rank[values - low]
    uniques, inverse = np.unique(values, return_inverse=True)
    return uniques, inverse.astype(np.int64)


def merge_totals(*parts: ZoneValueTotals) -> ZoneValueTotals:
    """Add partial totals from several chunks; integer sums make the result independent of order."""
    zone = np.concatenate([p.zone for p in parts])
    value = np.concatenate([p.value for p in parts])
    units = np.concatenate([p.units for p in parts])
    order = np.lexsort((value, zone))
    zone, value, units = zone[order], value[order], units[order]
    first = np.ones(len(zone), dtype=bool)
    first[1:] = (zone[1:] != zone[:-1]) | (value[1:] != value[:-1])
    at = np.flatnonzero(first)
    if len(at) == 0:
        return ZoneValueTotals(zone=zone, value=value, units=units)
    return ZoneValueTotals(zone=zone[at], value=value[at], units=np.add.reduceat(units, at))


@dataclass(frozen=True)
class ZoneSums:
    """Per zone: the area-weighted sum of a continuous raster (value x units) and the valid area (units)."""

    zone: NDArray[np.int64]
    total: NDArray[np.float64]
    units: NDArray[np.int64]


def zone_weighted_sums(block: NDArray, weights: CellWeights, *, nodata: float | None) -> ZoneSums:
    """Sum value x cell weight by zone over one chunk of a float raster; nodata and NaN cells are skipped."""
    cell = block.ravel()[weights.index].astype(np.float64)
    valid = np.isfinite(cell) if nodata is None else np.isfinite(cell) & (cell != nodata)
    zone_of_cell, units = weights.zone_of_cell[valid], weights.units[valid]
    n = len(weights.zones)
    return ZoneSums(zone=weights.zones,
                    total=np.bincount(zone_of_cell, weights=units * cell[valid], minlength=n).astype(np.float64),
                    units=np.bincount(zone_of_cell, weights=units, minlength=n).astype(np.int64))


def merge_sums(*parts: ZoneSums) -> ZoneSums:
    """Add partial zone sums from several chunks."""
    zone = np.concatenate([p.zone for p in parts])
    order = np.argsort(zone, kind="stable")
    zone = zone[order]
    at = np.flatnonzero(np.r_[True, zone[1:] != zone[:-1]]) if len(zone) else np.zeros(0, dtype=np.int64)
    total = np.concatenate([p.total for p in parts])[order]
    units = np.concatenate([p.units for p in parts])[order]
    if len(at) == 0:
        return ZoneSums(zone=zone, total=total, units=units)
    return ZoneSums(zone=zone[at], total=np.add.reduceat(total, at), units=np.add.reduceat(units, at))


def chunk_totals(cov: Coverage, row_units: NDArray[np.float64], blocks: tuple[NDArray, ...],
                 nodata: tuple[float | None, ...], *,
                 pairs: tuple[tuple[int, int], ...] = ()) -> tuple[ZoneValueTotals, ...]:
    """Totals of several epochs' blocks of one chunk, then of each (from, to) pair of those blocks.

    `cov` is already windowed to the chunk; the cell weights are expanded once and live only inside
    this call, so memory holds a few chunks' worth whatever the number of chunks or epochs.
    """
    weights = cell_weights(cov, row_units)
    # gathering the covered cells before widening to int64 keeps one byte per cell for uint8 products
    codes = [land_codes(block.ravel()[weights.index], nodata=nd) for block, nd in zip(blocks, nodata, strict=True)]
    epochs = [cell_value_totals(c, weights) for c in codes]
    return (*epochs, *(_pair_totals(codes[a], codes[b], weights) for a, b in pairs))


def _pair_totals(first: NDArray[np.int64], second: NDArray[np.int64], weights: CellWeights) -> ZoneValueTotals:
    """Totals by (zone, from-code, to-code); ranks keep the key range small so no sort is needed."""
    first_codes, first_rank = _dense_rank(first)
    second_codes, second_rank = _dense_rank(second)
    n_second = max(len(second_codes), 1)
    ranked = cell_value_totals(first_rank * n_second + second_rank, weights)
    pairs = pair_codes(first_codes[ranked.value // n_second], second_codes[ranked.value % n_second])
    order = np.lexsort((pairs, ranked.zone))  # pair codes sort nodata (-1) last, ranks sort it first
    return ZoneValueTotals(zone=ranked.zone[order], value=pairs[order], units=ranked.units[order])
