"""Hand-derived class areas on tiny rasters, on numpy and on dask inputs at several chunk sizes.

Projected grid: 10 m cells, origin (x0, y0) = (500000, 4500000) at the top-left corner, EPSG:32650.
Cell (row r, col c) spans x in [x0 + 10c, x0 + 10c + 10] and y in [y0 - 10r - 10, y0 - 10r]; 100 m² each.

    codes          0 is nodata
    1 1 2 2 3
    1 1 2 2 3
    4 4 2 2 3
    4 4 0 0 3
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine

from pipeline.core.coverage import zone_coverage
from pipeline.core.grid import Grid, to_pixel_space
from pipeline.measure.graph import zone_code_totals
from pipeline.measure.kernels.zonal import NODATA_CODE

X0, Y0 = 500_000.0, 4_500_000.0
CODES = np.array([[1, 1, 2, 2, 3], [1, 1, 2, 2, 3], [4, 4, 2, 2, 3], [4, 4, 0, 0, 3]], dtype=np.uint8)
PROJECTED = Grid(transform=Affine(10, 0, X0, 0, -10, Y0), width=5, height=4, crs=pyproj.CRS("EPSG:32650"))


def box(c0: float, r0: float, c1: float, r1: float) -> shapely.Polygon:
    """A rectangle given in cell units from the top-left corner: columns c0..c1, rows r0..r1."""
    return shapely.box(X0 + 10 * c0, Y0 - 10 * r1, X0 + 10 * c1, Y0 - 10 * r0)


ZONES = {
    # A: columns 0 to 2.5, rows 0 to 2: four whole class-1 cells (400 m²) and the left halves of
    # cells (0,2) and (1,2), class 2: 2 x 5 m x 10 m = 100 m².
    "half_cells": (box(0, 0, 2.5, 2), {1: 400.0, 2: 100.0}),
    # B: the whole raster (2000 m²) minus a hole at cell (1,4), class 3 (100 m²):
    # class 1: 4 cells = 400; class 2: 6 cells = 600; class 3: 4 - 1 cells = 300; class 4: 4 cells = 400;
    # nodata: cells (3,2), (3,3) = 200. Sum 1900 = 2000 - 100.
    "hole": (shapely.Polygon(box(0, 0, 5, 4).exterior.coords, [box(4, 1, 5, 2).exterior.coords]),
             {1: 400.0, 2: 600.0, 3: 300.0, 4: 400.0, NODATA_CODE: 200.0}),
    # C: a MultiPolygon of two zones smaller than a cell: 2 m x 2 m inside cell (3,0), class 4 (4 m²),
    # and 5 m x 2 m inside cell (0,4), class 3 (10 m²).
    "sub_cell_multi": (shapely.MultiPolygon([box(0.3, 3.4, 0.5, 3.6), box(4.1, 0.2, 4.6, 0.4)]), {4: 4.0, 3: 10.0}),
    # D: columns 4 to 7 of row 0: only cell (0,4) (class 3, 100 m²) is on the raster; the other
    # 200 m² lie off it and are not counted here (the class-area table reports them as nodata).
    "partly_outside": (box(4, 0, 7, 1), {3: 100.0}),
    # E: the triangle (0,0), (2,0), (0,2) in cell units, 200 m², all class 1: cell (0,0) whole (100),
    # cells (0,1) and (1,0) each half (50 + 50), cell (1,1) touched only at its corner (0).
    "triangle": (shapely.Polygon([(X0, Y0), (X0 + 20, Y0), (X0, Y0 - 20)]), {1: 200.0}),
}


def as_dict(zone: int, totals: object, unit_m2: float) -> dict[int, float]:
    picked = totals.zone == zone  # type: ignore[attr-defined]
    return {int(v): float(u) * unit_m2
            for v, u in zip(totals.value[picked], totals.units[picked], strict=True)}  # type: ignore[attr-defined]


BACKENDS = ["numpy", (1, 1), (2, 3), (3, 2), (4, 5)]


@pytest.mark.parametrize("backend", BACKENDS, ids=str)
def test_hand_derived_projected(backend: object) -> None:
    geoms = np.array([g for g, _ in ZONES.values()], dtype=object)
    landcover = CODES if backend == "numpy" else da.from_array(CODES, chunks=backend)
    totals, unit_m2 = zone_code_totals(landcover, PROJECTED, geoms, nodata=0)
    for zone, (name, (_, expected)) in enumerate(ZONES.items()):
        got = as_dict(zone, totals, unit_m2)
        assert got.keys() == expected.keys(), name
        for code, area in expected.items():
            # Each cell's weight is rounded to 2**-24 of a cell (6e-6 m² here), so allow 1e-4 m².
            assert got[code] == pytest.approx(area, abs=1e-4), (name, code)


def test_chunking_gives_bit_identical_totals() -> None:
    geoms = np.array([g for g, _ in ZONES.values()], dtype=object)
    reference, _ = zone_code_totals(CODES, PROJECTED, geoms, nodata=0)
    for chunks in BACKENDS[1:]:
        totals, _ = zone_code_totals(da.from_array(CODES, chunks=chunks), PROJECTED, geoms, nodata=0)
        assert np.array_equal(totals.units, reference.units)
        assert np.array_equal(totals.value, reference.value)


def test_geographic_grid_uses_ellipsoidal_rows() -> None:
    # 0.5-degree cells from 42 N down to 40 N, 110-111 E; every cell has its own code.
    grid = Grid(transform=Affine(0.5, 0, 110, 0, -0.5, 42), width=2, height=4, crs=pyproj.CRS("EPSG:4326"))
    codes = np.arange(8, dtype=np.uint8).reshape(4, 2) + 1
    # Zone 0 is exactly cell (1,0) (41-41.5 N, 110-110.5 E); zone 1 is the western half of the same
    # cell: a quarter-degree of longitude, so exactly half its area whatever the ellipsoid.
    geoms = np.array([shapely.box(110, 41, 110.5, 41.5), shapely.box(110, 41, 110.25, 41.5)], dtype=object)
    totals, unit_m2 = zone_code_totals(codes, grid, geoms, nodata=None)
    geod = pyproj.Geod(ellps="WGS84")
    lons = np.linspace(110, 110.5, 200)
    ring = [*zip(lons, np.full(200, 41.0), strict=True), *zip(lons[::-1], np.full(200, 41.5), strict=True)]
    quadrangle = abs(geod.geometry_area_perimeter(shapely.Polygon(ring))[0])
    assert as_dict(0, totals, unit_m2) == {3: pytest.approx(quadrangle, rel=1e-6)}
    assert as_dict(1, totals, unit_m2) == {3: pytest.approx(quadrangle / 2, rel=1e-6)}


def test_coverage_matches_polygon_clipping_on_random_shapes() -> None:
    # The exact coverage fractions of irregular shapes with holes must equal shapely's area of
    # intersection with every cell; this is the definition of exact coverage.
    rng = np.random.default_rng(7)
    shapes = []
    for _ in range(12):
        angles = np.sort(rng.uniform(0, 2 * np.pi, 25))
        radii = rng.uniform(0.5, 5.0, 25)
        cx, cy = rng.uniform(-2, 14, 2)
        shape = shapely.Polygon(np.c_[cx + radii * np.cos(angles), cy + radii * np.sin(angles)]).buffer(0)
        shapes.append(shape.difference(shapely.Point(cx, cy).buffer(0.7)))
    geoms = np.array(shapes, dtype=object)
    cov = zone_coverage(geoms, (12, 14))
    cols, rows = np.meshgrid(np.arange(14), np.arange(12))
    cells = shapely.box(cols, rows, cols + 1, rows + 1)
    for zone, shape in enumerate(shapes):
        dense = np.zeros((12, 14))
        b = cov.b_zone == zone
        dense[cov.b_row[b], cov.b_col[b]] = cov.b_frac[b]
        r = cov.r_zone == zone
        for row, start, stop in zip(cov.r_row[r], cov.r_start[r], cov.r_stop[r], strict=True):
            dense[row, start:stop] = 1.0
        np.testing.assert_allclose(dense, shapely.area(shapely.intersection(cells, shape)), atol=1e-12)


def test_pixel_space_puts_cells_on_unit_squares() -> None:
    cell = to_pixel_space(np.array([box(1, 2, 2, 3)], dtype=object), PROJECTED)[0]
    assert shapely.equals(shapely.normalize(cell), shapely.normalize(shapely.box(1, 2, 2, 3)))


def test_row_bands_give_the_same_coverage_as_the_whole_grid() -> None:
    # Chunk tasks use the coverage of their own band of rows; stacked, the bands must equal the whole.
    geoms = to_pixel_space(np.array([g for g, _ in ZONES.values()], dtype=object), PROJECTED)

    def dense(cov: object) -> np.ndarray:
        out = np.zeros((len(geoms), *PROJECTED.shape))
        np.add.at(out, (cov.b_zone, cov.b_row, cov.b_col), cov.b_frac)  # type: ignore[attr-defined]
        for z, r, a, b in zip(cov.r_zone, cov.r_row, cov.r_start, cov.r_stop, strict=True):  # type: ignore[attr-defined]
            out[z, r, a:b] += 1.0
        return out

    whole = dense(zone_coverage(geoms, PROJECTED.shape))
    bands = sum(dense(zone_coverage(geoms, PROJECTED.shape, rows=band)) for band in [(0, 1), (1, 3), (3, 4)])
    np.testing.assert_allclose(bands, whole, atol=1e-12)
