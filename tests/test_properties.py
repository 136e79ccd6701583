"""Property tests of the area engine: random polygons on random grids."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.core.coverage import zone_coverage
from pipeline.core.grid import Grid, area_units, row_cell_areas_m2, to_pixel_space
from pipeline.inputs.zones import prepare_zones
from pipeline.measure.kernels.zonal import chunk_totals, merge_totals

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def polygon_in(draw: st.DrawFn, width: int, height: int) -> shapely.Geometry:
    """A star-shaped polygon (possibly with a hole) inside [0, width] x [0, height] in pixel space."""
    n = draw(st.integers(3, 12))
    cx = draw(st.floats(1.0, width - 1.0))
    cy = draw(st.floats(1.0, height - 1.0))
    reach = min(cx, cy, width - cx, height - cy)
    radii = draw(st.lists(st.floats(0.2 * reach, reach), min_size=n, max_size=n))
    angle = st.floats(0, 2 * np.pi, exclude_max=True)
    angles = np.sort(draw(st.lists(angle, min_size=n, max_size=n, unique=True)))
    shell = [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
    poly = shapely.make_valid(shapely.Polygon(shell))
    if draw(st.booleans()):
        poly = poly.difference(shapely.Point(cx, cy).buffer(0.1 * reach))
    assume(poly.area >= 0.5)  # slivers with no area are dropped by zone preparation, not measured
    return poly


@st.composite
def scene(draw: st.DrawFn) -> tuple[int, int, list[shapely.Geometry], np.ndarray]:
    width, height = draw(st.integers(4, 40)), draw(st.integers(4, 40))
    zones = draw(st.lists(polygon_in(width, height), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**16))
    classes = np.random.default_rng(seed).integers(0, 5, (height, width)).astype(np.int64)
    return width, height, zones, classes


def _totals(cov, classes, row_units, rows, cols):  # type: ignore[no-untyped-def]
    """Per-window totals merged, for windows cut at the given row and column offsets."""
    parts = []
    for r0, r1 in zip(rows[:-1], rows[1:], strict=True):
        for c0, c1 in zip(cols[:-1], cols[1:], strict=True):
            window = cov.window(r0, c0, r1 - r0, c1 - c0)
            parts.append(chunk_totals(window, row_units[r0:r1], (classes[r0:r1, c0:c1],), (None,))[0])
    return merge_totals(*parts)


@SETTINGS
@given(scene())
def test_covered_cells_add_up_to_the_polygon_area_and_are_never_negative(s) -> None:  # type: ignore[no-untyped-def]
    width, height, zones, _ = s
    cov = zone_coverage(np.array(zones, dtype=object), (height, width))
    assert (cov.b_frac > 0).all()
    assert (cov.b_frac <= 1 + 1e-12).all()
    assert (cov.r_stop > cov.r_start).all()
    np.testing.assert_allclose(cov.covered_cells(), shapely.area(zones), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(scene(), st.data())
def test_class_areas_add_up_and_are_identical_under_any_chunking(s, data) -> None:  # type: ignore[no-untyped-def]
    width, height, zones, classes = s
    cov = zone_coverage(np.array(zones, dtype=object), (height, width))
    row_units = np.full(height, 2.0**24)  # a projected grid: every cell one area unit of 2**24
    whole = _totals(cov, classes, row_units, [0, height], [0, width])
    cuts_r = sorted(data.draw(st.sets(st.integers(1, height - 1), max_size=4)))
    cuts_c = sorted(data.draw(st.sets(st.integers(1, width - 1), max_size=4)))
    chunked = _totals(cov, classes, row_units, [0, *cuts_r, height], [0, *cuts_c, width])
    for field in ("zone", "value", "units"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(whole, field))
    assert (whole.units >= 0).all()
    per_zone = np.bincount(whole.zone, weights=whole.units, minlength=len(zones)) / 2.0**24
    # each cell's weight is rounded to 2**-24 of a cell, so the sum errs by at most cells x 2**-25
    np.testing.assert_allclose(per_zone, shapely.area(zones), atol=width * height * 2.0**-25 + 1e-9)


def _strip_areas_m2(pixel_zones: list[shapely.Geometry]) -> np.ndarray:
    """Independent zone areas on the ellipsoid: each zone cut into one-row strips, each strip's area in
    cells times that row's exact cell area (edges straight in lon/lat, as the raster's cells are)."""
    row_m2 = row_cell_areas_m2(GEOGRAPHIC)
    return np.array([sum(shapely.clip_by_rect(z, 0, r, GEOGRAPHIC.width, r + 1).area * row_m2[r]
                         for r in range(GEOGRAPHIC.height)) for z in pixel_zones])


GEOGRAPHIC = Grid(transform=Affine(0.01, 0, 110.0, 0, -0.01, 41.0), width=40, height=40,
                  crs=pyproj.CRS.from_epsg(4326))


@SETTINGS
@given(st.lists(polygon_in(40, 40), min_size=1, max_size=3))
def test_areas_are_the_same_for_zones_given_in_another_crs(pixel_zones) -> None:  # type: ignore[no-untyped-def]
    lonlat = [shapely.affinity.affine_transform(z, [0.01, 0, 0, -0.01, 110.0, 41.0]) for z in pixel_zones]
    ids = [f"z{i}" for i in range(len(lonlat))]
    frame = gpd.GeoDataFrame({"zid": ids}, geometry=lonlat, crs=4326)
    areas = {}
    for crs in (4326, 3857):
        prepared = prepare_zones(frame.to_crs(crs), id_field="zid", grid=GEOGRAPHIC, source="zones")
        cov = zone_coverage(to_pixel_space(prepared.geoms, GEOGRAPHIC), GEOGRAPHIC.shape)
        row_units, unit_m2 = area_units(row_cell_areas_m2(GEOGRAPHIC))
        totals = chunk_totals(cov, row_units, (np.zeros(GEOGRAPHIC.shape, dtype=np.int64),), (None,))[0]
        areas[crs] = np.bincount(totals.zone, weights=totals.units, minlength=len(ids)) * unit_m2
        assert (areas[crs] > 0).all()
        np.testing.assert_allclose(areas[crs], _strip_areas_m2(pixel_zones), rtol=1e-6)
    np.testing.assert_allclose(areas[3857], areas[4326], rtol=1e-7)
