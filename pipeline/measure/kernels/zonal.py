"""The zonal kernel: per chunk, sum cell areas by (zone, value) from the chunk's exact coverage.

Everything here works on one chunk's numpy arrays and returns small results that add up across
chunks; the runner maps it over chunks with dask and merges the partial sums in a tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.core.coverage import Coverage
from pipeline.core.errors import RasterError
from pipeline.core.sums import ZoneValueTotals

# what a nodata cell's code becomes: below every code a land-cover product uses (a change map's -1 is a class),
# and within the signed 32 bits a transition pair packs each code in
NODATA_CODE = -(2**31)


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
    """One value per cell encoding a (from, to) pair of codes, for transition matrices.

    Each code takes 32 signed bits; a code beyond them (uint32 from 2^31, int64 from 2^31) would come back as
    another code, so it stops the run, naming it, instead of moving its area to another class."""
    for codes in (first, second):
        wide = codes[(codes < NODATA_CODE) | (codes >= 2**31)]
        if len(wide):
            raise RasterError(f"land-cover code {int(wide[0])} is beyond the signed 32-bit codes zone_transitions "
                              "pairs exactly; recode the raster to codes below 2147483648 (gdal_calc.py, or a "
                              "class map's own numbering) and run again")
    return (first << 32) + (second & 0xFFFFFFFF)


def split_pair_codes(pairs: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Undo pair_codes."""
    second = pairs & 0xFFFFFFFF
    second = np.where(second >= 2**31, second - 2**32, second)
    return (pairs - second) >> 32, second


def dense_rank(values: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
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


@dataclass(frozen=True)
class Codes:
    """One block's cells (flat) as codes 0 .. n-1, and the value each code stands for (nodata as NODATA_CODE).

    Small unsigned products (uint8, uint16 below DIRECT_CODES) are their own codes: the block is used
    as read, with no widening copy and no ranking pass.
    """

    cells: NDArray[np.integer]
    values: NDArray[np.int64]


DIRECT_CODES = 256  # unsigned values below this are counted as they are; anything else is ranked first
MIN_STRIDE = 16  # bins per strip at least, so every epoch of a product with up to 16 codes shares one stride
IMAGE_SHARE = 0.5  # a chunk whose cells are mostly covered once is counted in place, not gathered


def block_codes(block: NDArray, *, nodata: float | None) -> Codes:
    """A chunk's cell values as small codes; nodata cells get a code whose value is NODATA_CODE."""
    flat = block.ravel()
    if flat.dtype.kind == "u" and flat.dtype.itemsize <= 2 and len(flat) and int(flat.max()) < DIRECT_CODES:
        return Codes(cells=flat, values=_mark_nodata(np.arange(int(flat.max()) + 1, dtype=np.int64), nodata))
    values, cells = dense_rank(flat.astype(np.int64))
    return Codes(cells=cells, values=_mark_nodata(values, nodata))


def _mark_nodata(values: NDArray[np.int64], nodata: float | None) -> NDArray[np.int64]:
    return values if nodata is None else np.where(values == nodata, NODATA_CODE, values)


def transition_codes(first: Codes, second: Codes) -> Codes:
    """One code per cell for its (from, to) pair, first code x n_second + second code, valued as pair_codes.

    The codes are uint8 when the pairs are few (one byte per cell, like the blocks), ranked when more
    than DIRECT_CODES.
    """
    n_second = len(second.values)
    pair = np.arange(len(first.values) * n_second)
    values = pair_codes(first.values[pair // n_second], second.values[pair % n_second])
    cells: NDArray[np.integer] = first.cells.astype(np.uint8 if len(values) <= np.iinfo(np.uint8).max else np.int64)
    np.multiply(cells, n_second, out=cells, casting="unsafe")  # fits: every pair code is below len(values)
    np.add(cells, second.cells, out=cells, casting="unsafe")
    if len(values) <= DIRECT_CODES:
        return Codes(cells=cells, values=values)
    present, ranked = dense_rank(cells.astype(np.int64, copy=False))
    return Codes(cells=ranked, values=values[present])


def _ramp(lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """0, 1, ..., lengths[i]-1 for each i, concatenated."""
    return np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)


@dataclass(frozen=True)
class ChunkCounter:
    """How one chunk's covered cells are summed by (zone, code), worked out once and used for every epoch.

    Whole cells inside a zone weigh their row's units, so they are counted per strip (a zone's cells
    in one row) without weights, and multiplied by the row's units once per strip and code. Where one
    interior run covers a cell (most cells, as zones mostly tile the land), `image` gives each chunk
    cell its strip's first bin, and an epoch is counted in place: one add into `scratch` and one
    bincount over the block, no gather. Cells covered by several runs (overlapping zones), or every
    covered cell of a sparsely covered chunk, are gathered (their keys follow in `scratch`, so the
    same bincount counts them); boundary cells, few, carry their own fractional weights. All sums
    are exact integers, so totals equal a per-cell weighted sum whatever the chunking.
    """

    zones: NDArray[np.int64]
    stride: int
    strip_units: NDArray[np.int64]
    zone_first_strip: NDArray[np.intp]
    zone_with_strips: NDArray[np.intp]
    image: NDArray[np.intp] | None
    scratch: NDArray[np.intp]
    gathered: NDArray[np.intp]
    gathered_bin: NDArray[np.intp]
    b_index: NDArray[np.intp]
    b_bin: NDArray[np.intp]
    b_units: NDArray[np.float64]

    @property
    def n_strips(self) -> int:
        return len(self.strip_units)

    def totals(self, codes: Codes) -> ZoneValueTotals:
        """Area units by (zone, value) of one block's codes."""
        return self._as_totals(self._units(codes.cells, len(codes.values)), codes.values)

    def joint_totals(self, first: Codes, second: Codes) -> tuple[ZoneValueTotals, ...] | None:
        """Totals of two blocks and of their (from, to) pairs, from one count of their pair codes.

        Counting pair codes costs about what one block costs (the pass over the cells dominates), and
        each block's totals are sums of the pair totals. None when the pairs do not fit the stride.
        """
        if len(first.values) * len(second.values) > self.stride:
            return None
        joint = transition_codes(first, second)
        units = self._units(joint.cells, len(joint.values))
        by_first = units.reshape(len(self.zones), len(first.values), len(second.values))
        return (self._as_totals(by_first.sum(axis=2), first.values),
                self._as_totals(by_first.sum(axis=1), second.values), self._as_totals(units, joint.values))

    def _units(self, cells: NDArray[np.integer], n_codes: int) -> NDArray[np.int64]:
        """Area units of every (local zone, code) for cells coded 0 .. n_codes-1."""
        stride = max(self.stride, n_codes)
        n_bins = (self.n_strips + 1) * stride  # the last strip's bins are the sink of uncounted image cells
        # image keys, then gathered keys, in one buffer: one bincount, one bins array
        in_place = 0 if self.image is None else len(self.image)
        if self.image is not None:
            np.add(self._rebin(self.image, stride), cells, out=self.scratch[:in_place])
        np.add(self._rebin(self.gathered_bin, stride), cells[self.gathered], out=self.scratch[in_place:])
        counts = np.bincount(self.scratch, minlength=n_bins)
        per_strip = counts[:self.n_strips * stride].reshape(self.n_strips, stride)[:, :n_codes]
        per_strip *= self.strip_units[:, None]  # in place: with joint codes the bins are the largest arrays here
        units = np.zeros((len(self.zones), n_codes), dtype=np.int64)
        if self.n_strips:
            units[self.zone_with_strips] = np.add.reduceat(per_strip, self.zone_first_strip, axis=0)
        if len(self.b_index):
            boundary = np.bincount(self._rebin(self.b_bin, stride) + cells[self.b_index], weights=self.b_units,
                                   minlength=len(self.zones) * stride)
            units += boundary.astype(np.int64).reshape(len(self.zones), stride)[:, :n_codes]
        return units

    def _as_totals(self, units: NDArray[np.int64], values: NDArray[np.int64]) -> ZoneValueTotals:
        return as_totals(self.zones, units, values)

    def _rebin(self, first_bins: NDArray[np.intp], stride: int) -> NDArray[np.intp]:
        """First bins laid out for `stride` codes per strip; a wider code range than planned re-spaces them."""
        return first_bins if stride == self.stride else first_bins // self.stride * stride


def as_totals(zones: NDArray[np.int64], units: NDArray[np.int64], values: NDArray[np.int64]) -> ZoneValueTotals:
    """The non-zero cells of a (local zone, code) table of units, ordered by zone and value."""
    zone_i, code_i = np.nonzero(units)
    order = np.lexsort((values[code_i], zone_i))
    zone_i, code_i = zone_i[order], code_i[order]
    return ZoneValueTotals(zone=zones[zone_i], value=values[code_i], units=units[zone_i, code_i])


def chunk_counter(cov: Coverage, row_units: NDArray[np.float64], *, stride: int) -> ChunkCounter:
    """Lay out one chunk's coverage for counting: strips, the in-place image, gathered and boundary cells."""
    height, width = cov.shape
    zones, local = np.unique(np.concatenate([cov.r_zone, cov.b_zone]), return_inverse=True)
    run_zone, b_zone = local[:len(cov.r_zone)].astype(np.intp), local[len(cov.r_zone):].astype(np.intp)
    # strips numbered zone by zone, so one reduceat adds each zone's rows
    strip_key, run_strip = np.unique(run_zone * height + cov.r_row, return_inverse=True)
    strip_zone, strip_row = np.divmod(strip_key, max(height, 1))
    zone_with_strips, zone_first_strip = np.unique(strip_zone, return_index=True)
    first = cov.r_row.astype(np.intp) * width + cov.r_start
    stop = cov.r_row.astype(np.intp) * width + cov.r_stop
    image, pieces = _single_cover(first, stop, run_strip.astype(np.intp), n_cells=height * width,
                                  sink=len(strip_key), stride=stride)
    piece_start, piece_stop, piece_strip = pieces
    lengths = piece_stop - piece_start
    return ChunkCounter(
        zones=zones.astype(np.int64), stride=stride, strip_units=np.rint(row_units[strip_row]).astype(np.int64),
        zone_first_strip=zone_first_strip.astype(np.intp), zone_with_strips=zone_with_strips.astype(np.intp),
        image=image, scratch=np.empty((0 if image is None else height * width) + int(lengths.sum()), dtype=np.intp),
        gathered=(_ramp(lengths) + np.repeat(piece_start, lengths)).astype(np.intp),
        gathered_bin=np.repeat(piece_strip * stride, lengths).astype(np.intp),
        b_index=(cov.b_row.astype(np.intp) * width + cov.b_col), b_bin=b_zone * stride,
        b_units=np.rint(cov.b_frac * row_units[cov.b_row]))


def _single_cover(first: NDArray[np.intp], stop: NDArray[np.intp], run_strip: NDArray[np.intp], *, n_cells: int,
                  sink: int, stride: int) -> tuple[NDArray[np.intp] | None, tuple[NDArray[np.intp], ...]]:
    """The in-place image (or None for a sparsely covered chunk) and the runs' pieces left to gather.

    Runs are intervals of flat cell numbers. Sweeping their ends in order gives segments of constant
    coverage; a segment covered by exactly one run holds that run's strip (the running sum of strip
    numbers is then that strip's), any other segment the sink. Pieces of runs inside segments covered
    two or more times are gathered.
    """
    ends = np.concatenate([first, stop])
    order = np.argsort(ends, kind="stable")
    ends = ends[order]
    depth = np.cumsum(np.concatenate([np.ones_like(first), -np.ones_like(stop)])[order])
    strip_sum = np.cumsum(np.concatenate([run_strip, -run_strip])[order])
    last = np.ones(len(ends), dtype=bool)
    last[:-1] = ends[1:] != ends[:-1]  # the state after every event at one cell number
    bounds = np.concatenate([[0], ends[last], [n_cells]])
    depth = np.concatenate([[0], depth[last]])
    seg_strip = np.where(depth == 1, np.concatenate([[0], strip_sum[last]]), sink)
    lengths = np.diff(bounds)
    if lengths[depth == 1].sum() < IMAGE_SHARE * n_cells:
        return None, (first, stop, run_strip)
    image = np.repeat((seg_strip * stride).astype(np.intp), lengths)
    multi = depth >= 2
    m_start, m_stop = bounds[:-1][multi], bounds[1:][multi]
    lo, hi = np.searchsorted(m_stop, first, side="right"), np.searchsorted(m_start, stop, side="left")
    run = np.repeat(np.arange(len(first)), hi - lo)
    seg = _ramp(hi - lo) + np.repeat(lo, hi - lo)
    return image, (np.maximum(first[run], m_start[seg]), np.minimum(stop[run], m_stop[seg]), run_strip[run])


def chunk_totals(cov: Coverage, row_units: NDArray[np.float64], blocks: Iterable[NDArray],
                 nodata: tuple[float | None, ...], *,
                 pairs: tuple[tuple[int, int], ...] = ()) -> tuple[ZoneValueTotals, ...]:
    """Totals of several epochs' blocks of one chunk, then of each (from, to) pair of those blocks.

    `cov` is already windowed to the chunk. Blocks are taken one at a time (a generator reads each
    when it is due), and an epoch's codes are kept only until they are counted and no later pair
    needs them, so a task holds a few blocks whatever the number of epochs. Epochs are counted two
    at a time where their joint codes fit the stride: one pass over the cells for both, and the
    transition between them comes with it.
    """
    n_epochs = len(nodata)
    counter = None
    totals: dict[int, ZoneValueTotals] = {}
    transitions: dict[tuple[int, int], ZoneValueTotals] = {}
    kept: dict[int, Codes] = {}
    for k, (block, nd) in enumerate(zip(blocks, nodata, strict=True)):
        kept[k] = block_codes(block, nodata=nd)
        if counter is None:
            counter = chunk_counter(cov, row_units, stride=_stride(len(kept[k].values), joint=n_epochs > 1))
        if k % 2:
            joint = counter.joint_totals(kept[k - 1], kept[k])
            if joint is None:
                joint = (counter.totals(kept[k - 1]), counter.totals(kept[k]))
            totals[k - 1], totals[k], *transition = joint
            if transition:
                transitions[(k - 1, k)] = transition[0]
        elif k == n_epochs - 1:
            totals[k] = counter.totals(kept[k])
        for a, b in pairs:
            if max(a, b) == k and (a, b) not in transitions:
                transitions[(a, b)] = counter.totals(transition_codes(kept[a], kept[b]))
        kept = {e: c for e, c in kept.items()
                if e not in totals or any(e in pair and max(pair) > k for pair in pairs)}
    return (*(totals[k] for k in range(n_epochs)), *(transitions[pair] for pair in pairs))


def _stride(n_codes: int, *, joint: bool) -> int:
    """Bins per strip: room for two epochs' joint codes where they are few, else for one epoch's codes."""
    single = max(MIN_STRIDE, n_codes)
    return n_codes * n_codes if joint and single < n_codes * n_codes <= DIRECT_CODES else single
