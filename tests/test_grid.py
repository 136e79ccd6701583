"""Cell areas on the ellipsoid and in projected units, checked against independent formulas."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine

from pipeline.core.grid import Grid, area_units, quadrangle_area_m2, row_cell_areas_m2, zone_areas_m2

WGS84_A, WGS84_F = 6378137.0, 1 / 298.257223563


def authalic_closed_form(lat_s: float, lat_n: float, dlon_deg: float) -> float:
    """Textbook closed form of a quadrangle's area on the ellipsoid (fine for large cells)."""
    e2 = WGS84_F * (2 - WGS84_F)
    e = np.sqrt(e2)

    def q(lat: float) -> float:
        s = np.sin(np.radians(lat))
        return s / (1 - e2 * s * s) + np.arctanh(e * s) / e

    return WGS84_A**2 * (1 - e2) / 2 * np.radians(dlon_deg) * (q(lat_n) - q(lat_s))


@pytest.mark.parametrize(("lat_s", "lat_n"), [(0.0, 1.0), (40.0, 41.0), (41.0, 41.5), (-60.0, -59.0)])
def test_quadrangle_matches_closed_form(lat_s: float, lat_n: float) -> None:
    ours = quadrangle_area_m2(np.array([lat_s]), np.array([lat_n]), 1.0, semi_major=WGS84_A, flattening=WGS84_F)
    assert ours[0] == pytest.approx(authalic_closed_form(lat_s, lat_n, 1.0), rel=1e-12)


def test_small_cell_matches_geodesic_polygon_area() -> None:
    # A 10 m WorldCover cell (1/12000 degree) at 41.5 N, compared with pyproj's geodesic area of the
    # same quadrangle with its parallel edges densified (so they follow the parallel, not a geodesic).
    d = 1 / 12000
    ours = quadrangle_area_m2(np.array([41.5]), np.array([41.5 + d]), d, semi_major=WGS84_A, flattening=WGS84_F)[0]
    lons = np.linspace(110.0, 110.0 + d, 50)
    ring = [*zip(lons, np.full(50, 41.5), strict=True), *zip(lons[::-1], np.full(50, 41.5 + d), strict=True)]
    geodesic = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(shapely.Polygon(ring))[0])
    assert ours == pytest.approx(geodesic, rel=1e-6)
    # docs/sources.md §2: a WorldCover pixel at 41.5 N is about 9.25 m x 6.95 m = 64 m², not 100 m².
    assert ours == pytest.approx(64.3, abs=0.2)


def test_projected_cells_are_planar() -> None:
    grid = Grid(transform=Affine(30.0, 0, 0, 0, -30.0, 0), width=3, height=2, crs=pyproj.CRS("EPSG:32649"))
    assert row_cell_areas_m2(grid).tolist() == [900.0, 900.0]


def test_area_units_are_exact_fractions_of_the_largest_cell() -> None:
    units, unit_m2 = area_units(np.array([64.0, 32.0]))
    # unit = 64 / 2**24, so the cells weigh 2**24 and 2**23 units exactly.
    assert unit_m2 == 64.0 / 2**24
    assert units.tolist() == [2.0**24, 2.0**23]


def test_zone_area_lonlat_and_planar() -> None:
    geographic = Grid(transform=Affine(0.5, 0, 110, 0, -0.5, 42), width=2, height=4, crs=pyproj.CRS("EPSG:4326"))
    box = shapely.box(110.0, 41.0, 110.5, 41.5)
    # Edges are straight in lon/lat, as the cells' are, so this box is the quadrangle 41-41.5 N x 0.5°.
    # (The geodesic polygon of the same corners is 4,461 m², 1.9e-6, smaller: its east-west edges bow
    # poleward by ~30 m, the longer southern one a little more, so it loses more than it gains.)
    expected = authalic_closed_form(41.0, 41.5, 0.5)
    assert zone_areas_m2(np.array([box]), geographic)[0] == pytest.approx(expected, rel=1e-12)
    projected = Grid(transform=Affine(10, 0, 0, 0, -10, 0), width=1, height=1, crs=pyproj.CRS("EPSG:32650"))
    assert zone_areas_m2(np.array([shapely.box(0, 0, 20, 30)]), projected)[0] == 600.0
