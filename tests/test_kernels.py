"""The compiled zonal kernel against the numpy reference: bit-identical totals for epochs and transition pairs,
whatever the chunking; and a case small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pyproj
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import polygon_in

from pipeline.core.coverage import zone_coverage
from pipeline.core.grid import Grid, area_units, row_cell_areas_m2
from pipeline.core.sums import ZoneValueTotals
from pipeline.measure.kernels.compiled import compiled_chunk_totals
from pipeline.measure.kernels.zonal import chunk_totals, merge_totals, pair_codes

UTM = pyproj.CRS.from_epsg(32649)


def _assert_same(a: ZoneValueTotals, b: ZoneValueTotals) -> None:
    for field in ("zone", "value", "units"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_a_hand_counted_chunk() -> None:
    # one zone on exactly the 2 x 3 cells (30 m cells: each the same whole number of units)
    grid = Grid(transform=Affine(30, 0, 0, 0, -30, 60), width=3, height=2, crs=UTM)
    row_units, _ = area_units(row_cell_areas_m2(grid))
    unit = int(np.rint(row_units[0]))
    cov = zone_coverage(np.array([shapely.box(0, 0, 3, 2)]), grid.shape)
    first = np.array([[1, 1, 2], [2, 2, 2]], dtype=np.uint8)
    second = np.array([[1, 2, 2], [2, 2, 3]], dtype=np.uint8)
    epoch0, epoch1, change = compiled_chunk_totals(cov, row_units, (first, second), (None, None), pairs=((0, 1),))
    # by hand: the first epoch has two cells of 1, four of 2; the second one of 1, four of 2, one of 3;
    # 1 -> 1 once, 1 -> 2 once, 2 -> 2 three times, 2 -> 3 once
    assert epoch0.value.tolist() == [1, 2]
    assert epoch0.units.tolist() == [2 * unit, 4 * unit]
    assert epoch1.value.tolist() == [1, 2, 3]
    assert epoch1.units.tolist() == [unit, 4 * unit, unit]
    pairs = pair_codes(np.array([1, 1, 2, 2]), np.array([1, 2, 2, 3]))
    assert change.value.tolist() == pairs.tolist()
    assert change.units.tolist() == [unit, unit, 3 * unit, unit]


@st.composite
def epochs(draw: st.DrawFn, height: int, width: int) -> tuple[list[np.ndarray], tuple[float | None, ...]]:
    """2 to 4 epochs of one product: small unsigned codes (counted as they are), a few codes spread over a byte,
    or signed ones with a -1 class (ranked); some cells nodata."""
    n = draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["small", "sparse", "signed"]))
    if kind == "small":
        return [rng.integers(0, 6, (height, width)).astype(np.uint8) for _ in range(n)], (0.0,) * n
    if kind == "sparse":  # WorldCover-like: few codes spread up to 100, nodata 255
        legend = np.array([10, 20, 30, 80, 95, 100, 255], dtype=np.uint8)
        return [legend[rng.integers(0, len(legend), (height, width))] for _ in range(n)], (255.0,) * n
    return [rng.integers(-1, 40, (height, width)).astype(np.int64) for _ in range(n)], (7.0,) * n


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_compiled_and_numpy_kernels_agree_bit_for_bit_under_any_chunking(data: st.DataObject) -> None:
    height, width = data.draw(st.integers(4, 40)), data.draw(st.integers(4, 40))
    zones = data.draw(st.lists(polygon_in(width, height), min_size=1, max_size=4))  # they may overlap
    blocks, nodata = data.draw(epochs(height, width))
    pairs = tuple((a, b) for a in range(len(blocks)) for b in range(a + 1, len(blocks)))
    grid = Grid(transform=Affine(1 / 3600, 0, 109.6, 0, -1 / 3600, 41.3), width=width, height=height,
                crs=pyproj.CRS.from_epsg(4326))  # rows of different units
    row_units, _ = area_units(row_cell_areas_m2(grid))
    cov = zone_coverage(np.array(zones), grid.shape)
    reference = chunk_totals(cov, row_units, blocks, nodata, pairs=pairs)
    cuts_r = sorted(data.draw(st.sets(st.integers(1, height - 1), max_size=3)))
    cuts_c = sorted(data.draw(st.sets(st.integers(1, width - 1), max_size=3)))
    rows, cols = [0, *cuts_r, height], [0, *cuts_c, width]
    parts = [compiled_chunk_totals(cov.window(r0, c0, r1 - r0, c1 - c0), row_units[r0:r1],
                                   [b[r0:r1, c0:c1] for b in blocks], nodata, pairs=pairs)
             for r0, r1 in zip(rows[:-1], rows[1:], strict=True) for c0, c1 in zip(cols[:-1], cols[1:], strict=True)]
    for k, expected in enumerate(reference):
        _assert_same(merge_totals(*(part[k] for part in parts)), expected)
