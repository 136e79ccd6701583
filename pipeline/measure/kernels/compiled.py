"""The zonal kernel compiled (numba): one pass over a chunk's covered cells adds each cell's integer area units
into a (zone, code) table for every epoch and every transition pair, with no array per cell (the numpy kernel
builds bin keys for every covered cell, per epoch).

The numpy kernel in zonal.py is the reference: both add the same integers (a whole cell weighs its row's
units, a boundary cell its rounded share of them), so their totals are bit-identical (tests/test_kernels.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numba
import numpy as np
from numpy.typing import NDArray

from pipeline.core.coverage import Coverage
from pipeline.core.sums import ZoneValueTotals
from pipeline.measure.kernels.zonal import Codes, as_totals, block_codes, chunk_totals, pair_codes

# the (zone, from, to) tables of one chunk, all pairs together, above which the numpy kernel is used instead
# (a product with hundreds of codes present in one chunk; land-cover products hold about 10 to 40)
MAX_TABLE_BYTES = 64 * 2**20


@numba.njit(nogil=True, cache=True)
def _present(cells: NDArray[np.integer], n_codes: int) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Which codes each epoch's block holds."""
    seen = np.zeros((cells.shape[0], n_codes), dtype=np.bool_)
    for e in range(cells.shape[0]):
        for i in range(cells.shape[1]):
            seen[e, cells[e, i]] = True
    return seen


@numba.njit(nogil=True, cache=True)
def _add_run(cells: NDArray[np.integer], start: int, stop: int, zone: int, units: int, lut: NDArray[np.int64],
             sizes: NDArray[np.int64], pairs: NDArray[np.int64], by_epoch: NDArray[np.int64],
             by_pair: NDArray[np.int64]) -> None:  # pragma: no cover - compiled
    """Cells start .. stop-1 (flat) of one zone, each weighing `units`: an epoch, then a pair, at a time, so each
    inner loop reads one block and adds into one zone's row of one table."""
    for e in range(cells.shape[0]):
        table, codes, place = by_epoch[e, zone], cells[e], lut[e]
        for cell in range(start, stop):
            table[place[codes[cell]]] += units
    for p in range(pairs.shape[0]):
        table, first, second = by_pair[p, zone], cells[pairs[p, 0]], cells[pairs[p, 1]]
        first_place, second_place, n_second = lut[pairs[p, 0]], lut[pairs[p, 1]], sizes[pairs[p, 1]]
        for cell in range(start, stop):
            table[first_place[first[cell]] * n_second + second_place[second[cell]]] += units


@numba.njit(nogil=True, cache=True)
def _add_units(cells: NDArray[np.integer], width: int, lut: NDArray[np.int64], sizes: NDArray[np.int64],
               pairs: NDArray[np.int64], r_row: NDArray[np.int32], r_start: NDArray[np.int32],
               r_stop: NDArray[np.int32], r_zone: NDArray[np.int64], row_units: NDArray[np.int64],
               b_cell: NDArray[np.int64], b_zone: NDArray[np.int64], b_units: NDArray[np.int64],
               n_zones: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:  # pragma: no cover - compiled
    """Units by (epoch, zone, code) and by (pair, zone, from code x to codes + to code), in one pass over the
    chunk's interior runs and boundary cells."""
    stride = sizes.max()
    by_epoch = np.zeros((cells.shape[0], n_zones, stride), dtype=np.int64)
    by_pair = np.zeros((pairs.shape[0], n_zones, stride * stride), dtype=np.int64)
    for i in range(r_row.shape[0]):
        first = r_row[i] * width
        _add_run(cells, first + r_start[i], first + r_stop[i], r_zone[i], row_units[r_row[i]], lut, sizes, pairs,
                 by_epoch, by_pair)
    for j in range(b_cell.shape[0]):
        _add_run(cells, b_cell[j], b_cell[j] + 1, b_zone[j], b_units[j], lut, sizes, pairs, by_epoch, by_pair)
    return by_epoch, by_pair


def _layout(codes: Sequence[Codes]) -> tuple[NDArray[np.integer], NDArray[np.int64], list[NDArray[np.int64]]]:
    """The blocks' cells stacked, each code's place among the codes its block holds, and those codes' values.

    Tables are laid out by the codes held, not by the codes' range: WorldCover's 11 classes span 10 to 100."""
    cells = np.stack([c.cells for c in codes])
    seen = _present(cells, max(len(c.values) for c in codes))
    lut = np.cumsum(seen, axis=1) - 1
    return cells, lut, [c.values[s[:len(c.values)]] for c, s in zip(codes, seen, strict=True)]


def compiled_totals(cov: Coverage, row_units: NDArray[np.float64], cells: NDArray[np.integer],
                    lut: NDArray[np.int64], values: list[NDArray[np.int64]], pairs: tuple[tuple[int, int], ...], *,
                    zones: NDArray[np.int64], local: NDArray[np.int64]) -> tuple[ZoneValueTotals, ...]:
    """Totals of each epoch's codes, then of each (from, to) pair, as zonal.chunk_totals gives them; `zones` are
    the chunk's zones and `local` each run's then each boundary cell's index among them."""
    sizes = np.array([len(v) for v in values], dtype=np.int64)
    r_zone, b_zone = local[:len(cov.r_zone)].astype(np.int64), local[len(cov.r_zone):].astype(np.int64)
    by_epoch, by_pair = _add_units(
        cells, cov.shape[1], lut, sizes, np.array(pairs, dtype=np.int64).reshape(-1, 2), cov.r_row, cov.r_start,
        cov.r_stop, r_zone, np.rint(row_units).astype(np.int64),
        cov.b_row.astype(np.int64) * cov.shape[1] + cov.b_col, b_zone,
        np.rint(cov.b_frac * row_units[cov.b_row]).astype(np.int64), len(zones))
    zones = zones.astype(np.int64)
    epochs = [as_totals(zones, by_epoch[e, :, :sizes[e]], v) for e, v in enumerate(values)]
    transitions = []
    for p, (a, b) in enumerate(pairs):
        pair = np.arange(sizes[a] * sizes[b])
        pair_values = pair_codes(values[a][pair // sizes[b]], values[b][pair % sizes[b]])
        transitions.append(as_totals(zones, by_pair[p, :, :len(pair)], pair_values))
    return (*epochs, *transitions)


def compiled_chunk_totals(cov: Coverage, row_units: NDArray[np.float64], blocks: Iterable[NDArray],
                          nodata: tuple[float | None, ...], *,
                          pairs: tuple[tuple[int, int], ...] = ()) -> tuple[ZoneValueTotals, ...]:
    """zonal.chunk_totals through the compiled kernel where its tables stay small, else the numpy one.

    The compiled pass reads every epoch's block of the chunk at once (one byte a cell for most products)."""
    held = list(blocks)
    cells, lut, values = _layout([block_codes(block, nodata=nd) for block, nd in zip(held, nodata, strict=True)])
    stride = max(len(v) for v in values)
    zones, local = np.unique(np.concatenate([cov.r_zone, cov.b_zone]), return_inverse=True)
    if 8 * len(zones) * stride * (len(values) + len(pairs) * stride) > MAX_TABLE_BYTES:
        return chunk_totals(cov, row_units, held, nodata, pairs=pairs)
    return compiled_totals(cov, row_units, cells, lut, values, pairs, zones=zones, local=local)
