"""One edge model on geographic grids: zone areas and coverage both take edges straight in lon/lat.

A zone's classes are the coverage-weighted areas of its cells; its `nodata` is its nodata cells and its part
off the raster. With one edge model and exact ellipsoidal integration inside cells, the classes of a zone on
the grid add up to its area, so nodata is only what is really off the raster or nodata.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.core.classmaps import ClassMap
from pipeline.core.coverage import Coverage, zone_coverage
from pipeline.core.errors import ZoneError
from pipeline.core.grid import (
    Grid,
    area_units,
    ellipsoid_of,
    off_raster_m2,
    quadrangle_area_m2,
    row_cell_areas_m2,
    row_density,
    to_pixel_space,
    wrap_lonlat_zones,
    zone_areas_m2,
)
from pipeline.inputs.zones import prepare_zones
from pipeline.measure.kernels.zonal import chunk_totals, merge_totals
from pipeline.metrics.class_area import class_area_table

WGS84 = pyproj.CRS.from_epsg(4326)
A, F = ellipsoid_of(WGS84)


def lonlat_grid(cell: float, west: float, north: float, width: int, height: int) -> Grid:
    return Grid(transform=Affine(cell, 0, west, 0, -cell, north), width=width, height=height, crs=WGS84)


def quadrangle(south: float, north: float, dlon: float) -> float:
    return float(quadrangle_area_m2(np.array([south]), np.array([north]), dlon, semi_major=A, flattening=F)[0])


def coverage_of(geoms: list[shapely.Geometry], grid: Grid, rows: tuple[int, int] | None = None) -> Coverage:
    """Coverage as the runner should build it on this grid: in pixel space, with the grid's row density."""
    pixel = to_pixel_space(np.array(geoms, dtype=object), grid)
    return zone_coverage(pixel, grid.shape, rows=rows, density=row_density(grid))


def class_areas_m2(cov: Coverage, grid: Grid, classes: np.ndarray | None = None) -> tuple[np.ndarray, float, int]:
    """Each zone's summed class area through the chunk kernel, the area unit, and the covered cell count."""
    row_units, unit_m2 = area_units(row_cell_areas_m2(grid))
    block = np.zeros(grid.shape, dtype=np.int64) if classes is None else classes
    totals = chunk_totals(cov, row_units, (block,), (None,))[0]
    cells = len(cov.b_frac) + int((cov.r_stop - cov.r_start).sum())
    return np.bincount(totals.zone, weights=totals.units, minlength=cov.n_zones) * unit_m2, unit_m2, cells


def strip_areas_m2(geom: shapely.Geometry, pieces: int = 64) -> float:
    """Independent area of a lon/lat polygon: every edge cut into short pieces, each piece's strip down to the
    ring's southernmost parallel summed, by Simpson's rule on quadrangles (`quadrangle_area_m2`) per degree.

    Shares nothing with `zone_areas_m2` but the authalic density: no antiderivative, no reference latitude
    per ring, no Gauss nodes along whole edges, holes and orientation by shapely's own rings.
    """
    t = np.linspace(0.0, 1.0, pieces + 1)
    total = 0.0
    for polygon in shapely.get_parts(geom):
        for sign, ring in [(1.0, polygon.exterior), *((-1.0, hole) for hole in polygon.interiors)]:
            xy = shapely.get_coordinates(ring)
            lon = xy[:-1, 0, None] + (xy[1:, 0] - xy[:-1, 0])[:, None] * t
            lat = xy[:-1, 1, None] + (xy[1:, 1] - xy[:-1, 1])[:, None] * t
            south = np.full(lat[:, 1:].size, xy[:, 1].min())
            per_degree = [quadrangle_area_m2(south, phi.ravel(), 1.0, semi_major=A, flattening=F)
                          for phi in (lat[:, :-1], (lat[:, :-1] + lat[:, 1:]) / 2.0, lat[:, 1:])]
            simpson = (per_degree[0] + 4.0 * per_degree[1] + per_degree[2]) / 6.0
            total += sign * abs(float(((lon[:, 1:] - lon[:, :-1]).ravel() * simpson).sum()))
    return total


@st.composite
def lonlat_scene(draw: st.DrawFn) -> tuple[Grid, list[shapely.Geometry]]:
    """1-3 star-shaped lon/lat zones (3-12 vertices, maybe a hole) on a grid of 0.5° or fine cells around them.

    Zones sit at mid latitudes or near ±80°, where the density changes fastest across a cell.
    """
    cell = draw(st.sampled_from([0.5, 0.01]))
    reach_max = 3.0 if cell == 0.5 else 0.15
    zones = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(3, 12))
        lat = draw(st.one_of(st.floats(-81.0, -77.0), st.floats(-60.0, 60.0), st.floats(77.0, 81.0)))
        lon = draw(st.floats(-170.0, 170.0))
        radii = draw(st.lists(st.floats(0.2 * reach_max, reach_max), min_size=n, max_size=n))
        angles = np.sort(draw(st.lists(st.floats(0, 2 * np.pi, exclude_max=True), min_size=n, max_size=n,
                                       unique=True)))
        shell = [(lon + r * np.cos(a), lat + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
        zone = shapely.make_valid(shapely.Polygon(shell))
        if draw(st.booleans()):
            zone = zone.difference(shapely.Point(lon, lat).buffer(0.1 * reach_max))
        zone = shapely.union_all([p for p in shapely.get_parts(zone) if shapely.get_type_id(p) == 3])
        # zone preparation drops arealess zones; a zone of a hundredth of a cell tests only rounding
        assume(zone.area >= 0.5 * cell * cell)
        zones.append(zone)
    west, south, east, north = shapely.total_bounds(zones)
    offset = draw(st.floats(0.0, 0.99)) * cell  # cell lines anywhere relative to the vertices
    west, north = np.floor(west / cell) * cell - cell + offset, np.ceil(north / cell) * cell + cell + offset
    width = int(np.ceil((east - west) / cell)) + 1
    height = int(np.ceil((north - south) / cell)) + 1
    return lonlat_grid(cell, west, north, width, height), zones


@settings(max_examples=60, deadline=None)
@given(lonlat_scene(), st.data())
def test_classes_add_up_to_the_zone_area_on_any_lonlat_grid(scene, data) -> None:  # type: ignore[no-untyped-def]
    grid, zones = scene
    area = zone_areas_m2(np.array(zones, dtype=object), grid)
    # zone area is the exact integral over the lon/lat polygon: an independent computation agrees
    np.testing.assert_allclose(area, [strip_areas_m2(z) for z in zones], rtol=1e-9)
    cov = coverage_of(zones, grid)
    classes = np.random.default_rng(data.draw(st.integers(0, 2**16))).integers(0, 4, grid.shape)
    covered, unit_m2, cells = class_areas_m2(cov, grid, classes)
    # classes + nodata = zone area: the sum of coverage-weighted cell areas is the zone's area, within 1e-6;
    # each covered cell's weight is also rounded to a whole unit (at most half a unit, 2**-25 of a cell)
    np.testing.assert_allclose(covered, area, rtol=1e-6, atol=cells * unit_m2 / 2)
    # chunk invariance holds for weighted fractions too: any windows give the same integer totals
    row_units, _ = area_units(row_cell_areas_m2(grid))
    cut_r = sorted(data.draw(st.sets(st.integers(1, grid.height - 1), max_size=3)))
    cut_c = sorted(data.draw(st.sets(st.integers(1, grid.width - 1), max_size=3)))
    rows, cols = [0, *cut_r, grid.height], [0, *cut_c, grid.width]
    parts = [chunk_totals(cov.window(r0, c0, r1 - r0, c1 - c0), row_units[r0:r1], (classes[r0:r1, c0:c1],),
                          (None,))[0]
             for r0, r1 in zip(rows[:-1], rows[1:], strict=True) for c0, c1 in zip(cols[:-1], cols[1:], strict=True)]
    whole = chunk_totals(cov, row_units, (classes,), (None,))[0]
    chunked = merge_totals(*parts)
    for field in ("zone", "value", "units"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(whole, field))


def test_three_vertex_triangle_has_no_spurious_nodata() -> None:
    # A lon/lat triangle on 0.05° cells (MODIS CMG) over a raster without nodata. Before, its area was the
    # geodesic triangle's, 1.65 % larger than the lon/lat triangle that coverage counts (the smaller
    # triangle: 0.63 %), and class_area_table reported the difference as nodata.
    grid = lonlat_grid(0.05, 100.0, 52.0, 500, 500)
    triangle = shapely.Polygon([(104.0, 38.0), (115.0, 38.0), (109.0, 45.0)])
    area = zone_areas_m2(np.array([triangle]), grid)
    cov = coverage_of([triangle], grid)
    row_units, unit_m2 = area_units(row_cell_areas_m2(grid))
    totals = chunk_totals(cov, row_units, (np.ones(grid.shape, dtype=np.int64),), (None,))[0]
    table = class_area_table(totals, class_map=ClassMap(name="one", classes={"land": (1,)}),
                             zone_ids=np.array(["t"], dtype=object),
                             off_raster_m2=off_raster_m2(np.array([triangle]), grid), unit_m2=unit_m2, year=2020)
    assert table["class"].tolist() == ["land"]  # no nodata row, not even the rounding of coverage
    assert table["area_ha"].iloc[0] == pytest.approx(area[0] / 1e4, rel=1e-6)
    geodesic = abs(pyproj.Geod(a=A, f=F).geometry_area_perimeter(triangle)[0])
    assert geodesic / area[0] - 1 == pytest.approx(0.0165, abs=1e-4)


def test_lower_half_of_a_half_degree_cell_is_its_half_quadrangle() -> None:
    # Cell (1, 0) spans 41-41.5 N, 110-110.5 E. The zone is its southern half, 41-41.25 N: its area is the
    # quadrangle 41-41.25 N x 0.5°, 1,165,757,753 m², not half the cell (1,163,565,335 m²). Cos φ falls
    # northwards, so the southern half holds more than half, by about (0.25° in rad) tan(41.125°) / 2 =
    # 1.9e-3 of it. Fractions in the (lon, lat) plane (no density) made it exactly 0.5.
    grid = lonlat_grid(0.5, 110.0, 42.0, 2, 4)
    zone = shapely.box(110.0, 41.0, 110.5, 41.25)
    expected = quadrangle(41.0, 41.25, 0.5)
    cell = row_cell_areas_m2(grid)[1]
    assert cell == pytest.approx(quadrangle(41.0, 41.5, 0.5), rel=1e-14)
    cov = coverage_of([zone], grid)
    assert cov.b_row.tolist() == [1]
    assert cov.b_frac[0] == pytest.approx(expected / cell, abs=1e-12)
    covered, unit_m2, _ = class_areas_m2(cov, grid)
    assert covered[0] == pytest.approx(expected, abs=unit_m2 / 2)
    assert zone_areas_m2(np.array([zone]), grid)[0] == pytest.approx(expected, rel=1e-13)
    assert expected / (cell / 2) - 1 == pytest.approx(np.radians(0.25) * np.tan(np.radians(41.125)) / 2, rel=2e-2)
    planar = zone_coverage(to_pixel_space(np.array([zone]), grid), grid.shape)
    assert planar.b_frac.tolist() == [0.5]


def test_each_cell_covers_the_exact_area_of_its_piece_of_the_zone() -> None:
    # Near 80° N on 0.5° cells, where a cell's density changes by 5 % from its bottom to its top: every
    # cell's fraction x cell area equals the exact area of the zone clipped to that cell.
    grid = lonlat_grid(0.5, 10.0, 84.0, 12, 12)
    rng = np.random.default_rng(1)
    angles, radii = np.sort(rng.uniform(0, 2 * np.pi, 9)), rng.uniform(0.5, 2.8, 9)
    zone = shapely.Polygon(np.c_[13 + radii * np.cos(angles), 81 + radii * np.sin(angles)])
    cov = coverage_of([zone], grid)
    dense = np.zeros(grid.shape)
    dense[cov.b_row, cov.b_col] = cov.b_frac
    for row, start, stop in zip(cov.r_row, cov.r_start, cov.r_stop, strict=True):
        dense[row, start:stop] = 1.0
    cols, rows = np.meshgrid(np.arange(grid.width), np.arange(grid.height))
    west, north = grid.transform * (cols, rows)
    cells = shapely.box(west, north - 0.5, west + 0.5, north)
    pieces = zone_areas_m2(shapely.intersection(cells.ravel(), zone), grid).reshape(grid.shape)
    cell_m2 = row_cell_areas_m2(grid)[:, None]
    np.testing.assert_allclose(dense * cell_m2, pieces, rtol=0, atol=1e-12 * cell_m2.max())


def test_row_bands_with_density_give_the_whole_grid_coverage() -> None:
    grid = lonlat_grid(0.5, 10.0, 84.0, 12, 12)
    zones = [shapely.Point(13, 81).buffer(2.2, quad_segs=5), shapely.box(11.2, 78.3, 14.9, 79.1)]

    def dense(cov: Coverage) -> np.ndarray:
        out = np.zeros((2, *grid.shape))
        np.add.at(out, (cov.b_zone, cov.b_row, cov.b_col), cov.b_frac)
        for z, r, a, b in zip(cov.r_zone, cov.r_row, cov.r_start, cov.r_stop, strict=True):
            out[z, r, a:b] += 1.0
        return out

    whole = dense(coverage_of(zones, grid))
    bands = sum(dense(coverage_of(zones, grid, rows=band)) for band in [(0, 5), (5, 6), (6, 12)])
    np.testing.assert_allclose(bands, whole, atol=1e-15)


def test_small_zone_keeps_full_precision() -> None:
    # A 10 m WorldCover cell at 41.5 N (64.4 m²): the quadrature of the authalic density over the row and
    # Green's theorem round the ring (terms the size of the ring, not of G ~ 3e13 m²) agree to 1e-12.
    d = 1 / 12000
    grid = lonlat_grid(d, 110.0, 42.0, 10, 10)
    east, north = 110.0 + d, 41.5 + d
    zone = shapely.box(110.0, 41.5, east, north)
    # the corners' own rounding (1e-14° of 8e-5°) makes the box 2e-10 narrower or wider than d: use its corners
    expected = quadrangle(41.5, north, east - 110.0)
    assert zone_areas_m2(np.array([zone]), grid)[0] == pytest.approx(expected, rel=1e-12)


def test_sphere_zone_area_is_the_spherical_quadrangle() -> None:
    # On a sphere (e = 0, its own branch of the closed form) a lon/lat box between φ0 and φ1 over dλ
    # has the area R² dλ (sin φ1 - sin φ0).
    sphere = pyproj.CRS.from_proj4("+proj=longlat +R=6371000 +no_defs")
    grid = Grid(transform=Affine(1, 0, 0, 0, -1, 60), width=10, height=60, crs=sphere)
    box = shapely.box(2.0, 10.0, 5.0, 40.0)
    expected = 6371000.0**2 * np.radians(3.0) * (np.sin(np.radians(40.0)) - np.sin(np.radians(10.0)))
    assert zone_areas_m2(np.array([box]), grid)[0] == pytest.approx(expected, rel=1e-14)


GLOBAL = lonlat_grid(0.5, -180.0, 90.0, 720, 360)
IDS = np.array(["a", "b"], dtype=object)


def test_zone_across_the_antimeridian_is_split_into_both_edges_of_a_global_raster() -> None:
    # 179.5 E to 179.5 W across 180 (and the same with a hole): taken literally these lon/lat edges span
    # 359° the other way round. Wrapped, the zone is a 1°-wide quadrangle cut at 180 into two 0.5° parts.
    crossing = shapely.Polygon([(179.5, 10), (-179.5, 10), (-179.5, 11), (179.5, 11)])
    holed = shapely.Polygon(crossing.exterior.coords, [[(179.8, 10.2), (-179.8, 10.2), (-179.8, 10.8),
                                                        (179.8, 10.8)]])
    raw = zone_areas_m2(np.array([crossing]), GLOBAL)[0]
    assert raw == pytest.approx(quadrangle(10.0, 11.0, 359.0), rel=1e-12)
    wrapped = wrap_lonlat_zones(np.array([crossing, holed], dtype=object), IDS, GLOBAL)
    assert [len(shapely.get_parts(g)) for g in wrapped] == [2, 2]
    assert shapely.bounds(wrapped[0]).tolist() == [-180.0, 10.0, 180.0, 11.0]
    expected = [quadrangle(10.0, 11.0, 1.0), quadrangle(10.0, 11.0, 1.0) - quadrangle(10.2, 10.8, 0.4)]
    np.testing.assert_allclose(zone_areas_m2(wrapped, GLOBAL), expected, rtol=1e-12)
    covered, unit_m2, cells = class_areas_m2(coverage_of(list(wrapped), GLOBAL), GLOBAL)
    np.testing.assert_allclose(covered, expected, rtol=0, atol=cells * unit_m2 / 2)


def test_zone_across_the_antimeridian_stays_whole_on_a_0_to_360_raster() -> None:
    grid = lonlat_grid(0.5, 0.0, 90.0, 720, 360)
    crossing = shapely.Polygon([(179.5, 10), (-179.5, 10), (-179.5, 11), (179.5, 11)])
    wrapped = wrap_lonlat_zones(np.array([crossing], dtype=object), IDS[:1], grid)
    assert shapely.equals(wrapped[0], shapely.box(179.5, 10, 180.5, 11))
    covered, _, _ = class_areas_m2(coverage_of(list(wrapped), grid), grid)
    assert covered[0] == pytest.approx(quadrangle(10.0, 11.0, 1.0), rel=1e-7)


def test_zones_that_cross_nothing_are_returned_as_they_are() -> None:
    zones = np.array([shapely.box(10, 80, 11, 90), shapely.box(-180, -10, -179, -9)], dtype=object)
    wrapped = wrap_lonlat_zones(zones, IDS, GLOBAL)
    assert all(w is z for w, z in zip(wrapped, zones, strict=True))
    projected = Grid(transform=Affine(10, 0, 0, 0, -10, 0), width=1, height=1, crs=pyproj.CRS("EPSG:32650"))
    assert wrap_lonlat_zones(zones, IDS, projected) is zones


def test_zone_touching_a_pole_has_the_quadrangle_area_to_90_degrees() -> None:
    # 89.5-90 N over 1°: the edge along the pole has no length and adds no area; the Green integral needs
    # nothing special (g(90°) = 0). Same for an Antarctic cap whose ring runs along the pole from 180 to -180.
    cap_lons = np.linspace(-180.0, 180.0, 73)
    cap = shapely.Polygon([*zip(cap_lons, np.full(73, -89.0), strict=True), (180.0, -90.0), (-180.0, -90.0)])
    zones = wrap_lonlat_zones(np.array([shapely.box(10.0, 89.5, 11.0, 90.0), cap], dtype=object), IDS, GLOBAL)
    expected = [quadrangle(89.5, 90.0, 1.0), quadrangle(-90.0, -89.0, 360.0)]
    np.testing.assert_allclose(zone_areas_m2(zones, GLOBAL), expected, rtol=1e-12)
    covered, unit_m2, cells = class_areas_m2(coverage_of(list(zones), GLOBAL), GLOBAL)
    np.testing.assert_allclose(covered, expected, rtol=0, atol=cells * unit_m2 / 2)


def test_latitudes_beyond_90_degrees_are_refused_naming_the_zones() -> None:
    zones = np.array([shapely.box(10.0, 89.0, 11.0, 91.0), shapely.box(0, 0, 1, 1)], dtype=object)
    with pytest.raises(ZoneError, match=r"zone\(s\) 'a' have latitudes beyond ±90°.*swapped"):
        wrap_lonlat_zones(zones, IDS, GLOBAL)


def test_ring_around_a_pole_without_the_pole_edge_is_refused() -> None:
    # A ring round the globe between 80 and 81 N: its only long edge, 170 E to 180 W, taken the short way
    # makes it wind once round the pole. It has no lon/lat polygon unless it runs along the pole (as the
    # Antarctic cap above does), so it is refused rather than measured as some other region.
    lons = np.r_[np.linspace(-180.0, 170.0, 36), -180.0]
    ring = shapely.Polygon(np.c_[lons, np.where(np.arange(37) % 2, 80.0, 81.0)])
    with pytest.raises(ZoneError, match="zone 'a' crosses the antimeridian but one of its rings winds around a pole"):
        wrap_lonlat_zones(np.array([ring], dtype=object), IDS[:1], GLOBAL)


def test_zone_preparation_then_wrapping_counts_a_pacific_zone_once() -> None:
    # How the zone preparation is meant to use it: zones drawn in a Pacific-centred CRS (EPSG:3832) reach the
    # -180..180 raster's CRS with longitudes jumping from 179.x to -179.x; wrapping makes them two parts.
    corners = pyproj.Transformer.from_crs(4326, 3832, always_xy=True).transform([179.0, -179.0], [-17.0, -16.0])
    frame = gpd.GeoDataFrame({"zid": ["fiji"]}, geometry=[shapely.box(corners[0][0], corners[1][0],
                                                                       corners[0][1], corners[1][1])], crs=3832)
    prepared = prepare_zones(frame, id_field="zid", grid=GLOBAL, source="zones.gpkg")
    assert np.ptp(shapely.get_coordinates(prepared.geoms)[:, 0]) > 350  # as reprojected: 358° wide
    zones = wrap_lonlat_zones(prepared.geoms, prepared.ids, GLOBAL)
    assert len(shapely.get_parts(zones[0])) == 2
    # Mercator's straight sides are meridians and parallels: the zone is the quadrangle 17-16 S x 2°.
    area = zone_areas_m2(zones, GLOBAL)[0]
    assert area == pytest.approx(quadrangle(-17.0, -16.0, 2.0), rel=1e-9)
    covered, unit_m2, cells = class_areas_m2(coverage_of(list(zones), GLOBAL), GLOBAL)
    assert covered[0] == pytest.approx(area, abs=cells * unit_m2 / 2)


def test_nodata_is_the_part_off_the_raster_and_nothing_inside() -> None:
    # 10 m cells, 10 x 10 raster from (0, 0) to (100, 100) in a metre CRS. Zone "half" spans x 50..150,
    # y 20..40: 100 m x 20 m = 2,000 m², of which x 100..150 (50 m x 20 m = 1,000 m²) lies off the raster.
    # Zone "in" is a triangle inside it with vertices off the cell lines: no nodata row at all.
    grid = Grid(transform=Affine(10.0, 0, 0, 0, -10.0, 100.0), width=10, height=10, crs=pyproj.CRS("EPSG:32649"))
    half = shapely.box(50, 20, 150, 40)
    inside = shapely.Polygon([(3.3, 3.7), (91.1, 12.9), (47.7, 88.8)])
    zones = np.array([half, inside], dtype=object)
    np.testing.assert_allclose(off_raster_m2(zones, grid), [1_000.0, 0.0])
    cov = coverage_of(list(zones), grid)
    row_units, unit_m2 = area_units(row_cell_areas_m2(grid))
    totals = chunk_totals(cov, row_units, (np.ones(grid.shape, dtype=np.int64),), (None,))[0]
    table = class_area_table(totals, class_map=ClassMap(name="one", classes={"land": (1,)}),
                             zone_ids=np.array(["half", "in"], dtype=object),
                             off_raster_m2=off_raster_m2(zones, grid), unit_m2=unit_m2, year=2020)
    areas = table.set_index(["zone_id", "class"])["area_ha"]
    assert areas["half", "land"] == pytest.approx(0.1, rel=1e-7)  # 1,000 m² on the raster
    assert areas["half", "nodata"] == pytest.approx(0.1, rel=1e-12)
    assert ("in", "nodata") not in areas.index
    assert areas["in", "land"] == pytest.approx(shapely.area(inside) / 1e4, rel=1e-7)
