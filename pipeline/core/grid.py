"""Raster grids and exact areas: cells on the ellipsoid for geographic grids, planar for projected ones.

One edge model everywhere: edges are straight lines in the raster's CRS, as the cells' own edges are. On a
geographic grid a zone is a polygon in the (lon, lat) plane, and its area on an ellipsoid of revolution is the
integral of the authalic density g(φ) = a²(1-e²)cosφ / (1-e²sin²φ)² over that plane region (radians).

A geographic cell is a quadrangle between two parallels and two meridians: dλ times the integral of g over its
latitude span. The textbook closed form (difference of two authalic terms of ~1e13 m²) loses 5 digits to
cancellation for 10 m cells, so cells take Gauss-Legendre quadrature over the row's own span, and zones take a
closed form rewritten as a difference that cancels nothing (see `authalic_integral`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyproj
import shapely
import shapely.affinity
from affine import Affine
from numpy.typing import NDArray

from pipeline.core.errors import RasterError, ZoneError

AreaMethod = Literal["ellipsoidal", "planar"]
_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(6)


@dataclass(frozen=True)
class Grid:
    """The cells of a raster: where they are, how many, in which CRS."""

    transform: Affine
    width: int
    height: int
    crs: pyproj.CRS

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    @property
    def area_method(self) -> AreaMethod:
        return "ellipsoidal" if self.is_geographic else "planar"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        xs, ys = zip(*(self.transform * (c, r) for c in (0, self.width) for r in (0, self.height)), strict=True)
        return (min(xs), min(ys), max(xs), max(ys))

    def key(self) -> tuple[object, ...]:
        """Identity of the grid for caching coverage: same key, same cells."""
        return (tuple(self.transform), self.width, self.height, self.crs.to_wkt())


def ellipsoid_of(crs: pyproj.CRS) -> tuple[float, float]:
    """Semi-major axis (m) and flattening of the CRS's ellipsoid."""
    ellipsoid = crs.ellipsoid
    if ellipsoid is None:
        raise RasterError(f"the CRS {crs.name!r} has no ellipsoid, so cell areas cannot be computed")
    inverse_flattening = ellipsoid.inverse_flattening
    flattening = 0.0 if inverse_flattening == 0 else 1.0 / inverse_flattening
    return ellipsoid.semi_major_metre, flattening


def quadrangle_area_m2(lat_south: NDArray[np.float64], lat_north: NDArray[np.float64], dlon_deg: float,
                       *, semi_major: float, flattening: float) -> NDArray[np.float64]:
    """Area of lat/lon quadrangles on the ellipsoid, by Gauss-Legendre quadrature of the authalic density."""
    e2 = flattening * (2.0 - flattening)
    # the span from degrees, not a difference of radians, which would cost 10 m cells 1e-10 of their area
    half_span = np.radians(np.asarray(lat_north) - lat_south) / 2.0
    middle = np.radians(lat_south) + half_span
    phi = middle[..., None] + half_span[..., None] * _GAUSS_NODES
    density = np.cos(phi) / (1.0 - e2 * np.sin(phi) ** 2) ** 2
    integral = half_span * (density * _GAUSS_WEIGHTS).sum(axis=-1)
    return np.abs(semi_major**2 * (1.0 - e2) * np.radians(dlon_deg) * integral)


def _row_edges_deg(grid: Grid) -> NDArray[np.float64]:
    """Latitudes of the grid's row boundaries, top first; only a north-up grid has rows of one latitude."""
    t = grid.transform
    if t.b != 0 or t.d != 0:
        raise RasterError("a rotated geographic raster has no row-wise cell area; warp it north-up first")
    return t.f + t.e * np.arange(grid.height + 1, dtype=np.float64)


def row_cell_areas_m2(grid: Grid) -> NDArray[np.float64]:
    """Area of one cell in each row of the grid, in m², exact for the grid's CRS."""
    t = grid.transform
    if not grid.is_geographic:
        unit = grid.crs.axis_info[0].unit_conversion_factor if grid.crs.axis_info else 1.0
        return np.full(grid.height, abs(t.a * t.e - t.b * t.d) * unit**2)
    semi_major, flattening = ellipsoid_of(grid.crs)
    edges = _row_edges_deg(grid)
    return quadrangle_area_m2(edges[:-1], edges[1:], abs(t.a), semi_major=semi_major, flattening=flattening)


_DENSITY_MAX_DEGREE = 6
_DENSITY_TOLERANCE = 1e-9
_DENSITY_CHECKS = np.linspace(-0.5, 0.5, 11)


def row_density(grid: Grid) -> NDArray[np.float64] | None:
    """How each row's cell area is spread over the cell's height, for exact coverage; None when evenly.

    Row r's cells span pixel rows y in [r, r+1]. Returns coefficients c (rows x degree+1) of polynomials
    p_r(u) = sum c[r, k] u**k in u = y - r - 1/2, each integrating to 1 over its row: a part of a cell
    covers the integral of p_r over it, as a share of the cell's area. On a geographic grid p_r interpolates
    the authalic density (at Gauss nodes) with the lowest degree that stays within 1e-9 of it across the
    row: 1 for 10 m cells, 3 for 0.5° ones. A coverage fraction is then the cell's ellipsoidal area share
    (to 1e-9, well below the 6e-8 of a cell that area units round to), not its share of the lon/lat plane.
    The tolerance is not tighter because the row edges' own rounding makes the density of the rows at a
    pole uncertain by ~6e-10. Projected grids spread area evenly (None).
    """
    if not grid.is_geographic:
        return None
    _, flattening = ellipsoid_of(grid.crs)
    e2 = flattening * (2.0 - flattening)
    edges = _row_edges_deg(grid)
    top, bottom = edges[:-1], edges[1:]
    # The density is cos φ times a slowly varying factor; relative to it, its derivatives are about 1 or
    # tan φ, largest in the row nearest a pole, which is the first or the last. A degree that fits those
    # two rows fits every row.
    ends = np.array([0, grid.height - 1])
    degree = next((d for d in range(1, _DENSITY_MAX_DEGREE)
                   if _density_misfit(top[ends], bottom[ends], d, e2) <= _DENSITY_TOLERANCE), _DENSITY_MAX_DEGREE)
    return _density_fit(top, bottom, degree, e2)[0]


def _authalic_density(top: NDArray[np.float64], bottom: NDArray[np.float64], u: NDArray[np.float64],
                      e2: float) -> NDArray[np.float64]:
    """The authalic density, up to the constant a²(1-e²), at heights u in [-1/2, 1/2] of rows (top, bottom)."""
    phi = np.radians(top[:, None] + (bottom - top)[:, None] * (u + 0.5))
    return np.asarray(np.cos(phi) / (1.0 - e2 * np.sin(phi) ** 2) ** 2, dtype=np.float64)


def _density_fit(top: NDArray[np.float64], bottom: NDArray[np.float64], degree: int,
                 e2: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each row's interpolant at degree+1 Gauss nodes, normalised to integrate to 1, and the row's mean density."""
    nodes, weights = np.polynomial.legendre.leggauss(degree + 1)
    at_nodes = _authalic_density(top, bottom, nodes / 2.0, e2)
    # Gauss quadrature at the interpolation nodes is the interpolant's exact integral over the row
    mean = at_nodes @ weights / 2.0
    fit = np.linalg.inv(np.vander(nodes / 2.0, degree + 1, increasing=True))
    return np.asarray(at_nodes @ fit.T / mean[:, None], dtype=np.float64), mean


def _density_misfit(top: NDArray[np.float64], bottom: NDArray[np.float64], degree: int, e2: float) -> float:
    """Largest gap, across rows (top, bottom), between the normalised density and its fitted polynomial."""
    coefficients, mean = _density_fit(top, bottom, degree, e2)
    exact = _authalic_density(top, bottom, _DENSITY_CHECKS, e2) / mean[:, None]
    return float(np.abs(np.polynomial.polynomial.polyval(_DENSITY_CHECKS, coefficients.T) - exact).max())


def authalic_integral(lat_from: NDArray[np.float64], span: NDArray[np.float64], *,
                      semi_major: float, flattening: float) -> NDArray[np.float64]:
    """Integral of the authalic density from lat_from over `span` (radians), in m² per radian of longitude.

    With s = sin φ the integral is a²(1-e²)[F(s)] with F(s) = s / (2(1-e²s²)) + atanh(e s) / (2e). The difference
    F(s) - F(r) is rewritten so that no two large terms cancel: the rational parts differ by
    (s-r)(1+e²sr) / (2(1-e²s²)(1-e²r²)), the atanh parts by atanh(e(s-r) / (1-e²sr)) / (2e), and
    s - r = 2 cos(φ₀ + span/2) sin(span/2). The span is taken as given (callers subtract degrees, exactly,
    before converting), so a 10 m strip keeps every digit whatever its latitude.
    """
    e2 = flattening * (2.0 - flattening)
    ds = 2.0 * np.cos(lat_from + span / 2.0) * np.sin(span / 2.0)
    if e2 == 0.0:
        return np.asarray(semi_major**2 * ds, dtype=np.float64)  # a sphere: both halves are (s - r) / 2
    s, r = np.sin(lat_from + span), np.sin(lat_from)
    rational = ds * (1.0 + e2 * s * r) / ((1.0 - e2 * s * s) * (1.0 - e2 * r * r))
    e = np.sqrt(e2)
    logarithmic = np.arctanh(e * ds / (1.0 - e2 * s * r)) / e
    return np.asarray(semi_major**2 * (1.0 - e2) * (rational + logarithmic) / 2.0, dtype=np.float64)


# Eight Gauss nodes integrate G along an edge to 1e-14 even from pole to pole (G is analytic in φ).
_EDGE_NODES, _EDGE_WEIGHTS = np.polynomial.legendre.leggauss(8)


def zone_areas_m2(geoms: NDArray[np.object_], grid: Grid) -> NDArray[np.float64]:
    """Area of each zone with edges straight in the grid's CRS: ellipsoidal for lon/lat, planar otherwise.

    The geometries must already be in the grid's CRS. This is the edge model coverage uses, so a zone's
    classes (coverage-weighted cell areas) add up to this area.
    """
    if not grid.is_geographic:
        unit = grid.crs.axis_info[0].unit_conversion_factor if grid.crs.axis_info else 1.0
        return np.asarray(shapely.area(geoms), dtype=np.float64) * unit**2
    semi_major, flattening = ellipsoid_of(grid.crs)
    return lonlat_polygon_areas_m2(geoms, semi_major=semi_major, flattening=flattening)


def off_raster_m2(geoms: NDArray[np.object_], grid: Grid) -> NDArray[np.float64]:
    """The part of each zone (m², edges as in zone_areas_m2) lying outside the raster's extent.

    Zones within the extent get exactly 0. Taking the zone's area less its covered cells instead would turn
    the rounding of coverage (about 1e-5 m² a zone) into a nodata area in every zone.
    """
    box = shapely.box(*grid.bounds)
    off = np.zeros(len(geoms))
    outside = ~shapely.covered_by(geoms, box)
    if outside.any():
        beyond = geoms[outside]
        off[outside] = zone_areas_m2(beyond, grid) - zone_areas_m2(shapely.intersection(beyond, box), grid)
    return np.maximum(off, 0.0)


def lonlat_polygon_areas_m2(geoms: NDArray[np.object_], *, semi_major: float,
                            flattening: float) -> NDArray[np.float64]:
    """Ellipsoidal area of polygons whose edges are straight lines in (lon, lat) degrees; holes subtract.

    By Green's theorem the integral of the authalic density g over a region is -∮ G(φ) dλ around its
    boundary (exteriors counter-clockwise), with G' = g. A closed ring has ∮ dλ = 0, so G may be measured
    from any reference latitude: each ring uses its first vertex's, which keeps the terms of the size of
    the ring's own area and a small zone as precise as a large one. Along a straight edge φ is linear in λ
    and G is smooth, so Gauss-Legendre quadrature integrates it.
    """
    parts, part_zone = shapely.get_parts(geoms, return_index=True)
    polygonal = shapely.get_type_id(parts) == 3
    parts = shapely.orient_polygons(parts[polygonal], exterior_cw=False)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    if not len(coords):  # no polygon at all (say the shared edges of zones that only touch): no area
        return np.zeros(len(geoms))
    lon, lat = coords[:, 0], coords[:, 1]
    ring_start = np.flatnonzero(np.r_[True, coord_ring[1:] != coord_ring[:-1]])
    reference = np.repeat(lat[ring_start], np.diff(np.r_[ring_start, len(lat)]))
    edge = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
    t = _EDGE_NODES / 2.0 + 0.5
    # differences in degrees first: exact for nearby values, where differences of radians are not
    span = np.radians((lat[edge] - reference[edge])[:, None] + (lat[edge + 1] - lat[edge])[:, None] * t)
    g_at = authalic_integral(np.radians(reference[edge])[:, None], span, semi_major=semi_major,
                             flattening=flattening)
    signed = -np.radians(lon[edge + 1] - lon[edge]) * (g_at @ _EDGE_WEIGHTS) / 2.0
    zone_of_edge = part_zone[polygonal][ring_part[coord_ring[edge]]]
    return np.bincount(zone_of_edge, weights=signed, minlength=len(geoms)).astype(np.float64)


def to_pixel_space(geoms: NDArray[np.object_], grid: Grid) -> NDArray[np.object_]:
    """Geometries in (column, row) units, where every cell is the unit square [c, c+1] x [r, r+1]."""
    inv = ~grid.transform
    return np.asarray(shapely.transform(geoms, lambda xy: _apply_affine(inv, xy)), dtype=object)


def _apply_affine(t: Affine, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = xy[:, 0], xy[:, 1]
    return np.column_stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f])


AREA_UNIT_BITS = 24


def area_units(row_areas_m2: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Cell areas as multiples of a small unit, so that sums are exact integers.

    The unit is the largest cell's area / 2**24: each cell's weight is rounded to 6e-8 of a cell, and
    any chunk of up to 2**29 cells sums exactly in float64. Integer sums do not depend on the order
    of addition, which makes results bit-identical whatever the chunking.
    """
    unit = float(row_areas_m2.max()) / 2**AREA_UNIT_BITS if len(row_areas_m2) else 1.0
    return row_areas_m2 / unit, unit


def wrap_lonlat_zones(geoms: NDArray[np.object_], ids: NDArray[np.object_], grid: Grid) -> NDArray[np.object_]:
    """Zones (in the grid's CRS) made fit for a geographic grid's straight lon/lat edges; others untouched.

    - A coordinate beyond ±90° latitude is refused with a ZoneError naming the zones (often swapped axes).
    - A zone with an edge jumping more than 180° in longitude crosses the antimeridian: taken literally it
      would span the other way round the globe (a 1°-wide zone measuring 359°). Its rings are unwrapped to run
      continuously (179.5 to 180.5, say), and it is cut into the parts falling in the grid's 360°-wide
      longitude window that starts at the grid's west edge, each shifted into that window: on a -180..180
      raster it becomes a MultiPolygon with one part at each edge; on a 0..360 raster it stays whole.
      A zone whose ring winds around a pole, or that spans 360° of longitude once unwrapped, has no such
      representation and is refused.
    - A zone touching a pole needs nothing: an edge along a pole has no area, and an edge with both ends on
      the same pole is not a crossing, whatever its longitude jump.
    Zones that cross nothing are returned as the very same objects.
    """
    if not grid.is_geographic:
        return geoms
    parts, part_geom = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    geom_of_coord = part_geom[ring_part[coord_ring]]
    beyond = np.unique(geom_of_coord[np.abs(coords[:, 1]) > 90.0])
    if len(beyond):
        raise ZoneError(f"zone(s) {_listed(ids[beyond])} have latitudes beyond ±90° in the raster's "
                        f"{grid.crs.name!r}; are longitude and latitude swapped, or is the layer's CRS wrong?")
    edge = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
    crossing = np.unique(geom_of_coord[edge[_jumps(coords[edge], coords[edge + 1])]])
    wrapped = geoms.copy()
    for i in crossing:
        try:
            wrapped[i] = _wrap_polygonal(geoms[i], grid.bounds[0])
        except ValueError as why:
            raise ZoneError(f"zone {_listed(ids[[i]])} crosses the antimeridian but {why}; "
                            "split it along the antimeridian in the source layer") from None
    return wrapped


def _listed(ids: NDArray[np.object_]) -> str:
    shown = ", ".join(repr(str(z)) for z in ids[:10])
    return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def _jumps(start: NDArray[np.float64], stop: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Edges whose longitude jumps more than 180°; an edge along a pole (no length) never counts."""
    along_pole = (np.abs(start[:, 1]) == 90.0) & (start[:, 1] == stop[:, 1])
    return (np.abs(stop[:, 0] - start[:, 0]) > 180.0) & ~along_pole


def _unwrapped(ring: NDArray[np.float64]) -> NDArray[np.float64]:
    """A ring's coordinates with every jump of more than 180° taken the short way round instead."""
    step = np.diff(ring[:, 0])
    step = np.where(_jumps(ring[:-1], ring[1:]), step - 360.0 * np.round(step / 360.0), step)
    lon = ring[0, 0] + np.r_[0.0, np.cumsum(step)]
    if abs(lon[-1] - lon[0]) > 1e-9:
        raise ValueError("one of its rings winds around a pole")
    return np.column_stack([lon, ring[:, 1]])


def _wrap_polygonal(geom: shapely.Geometry, west: float) -> shapely.Geometry:
    """The parts of a crossing (Multi)Polygon in the longitude window [west, west + 360)."""
    pieces: list[shapely.Geometry] = []
    for polygon in shapely.get_parts(geom):
        shell = _unwrapped(shapely.get_coordinates(polygon.exterior))
        low, high = shell[:, 0].min(), shell[:, 0].max()
        if high - low >= 360.0:
            raise ValueError("it spans 360° of longitude once unwrapped")
        holes: list[NDArray[np.float64]] = []
        for interior in polygon.interiors:
            hole = _unwrapped(shapely.get_coordinates(interior))
            # a hole lies inside its shell: move it to the shell's turn round the globe
            hole[:, 0] -= 360.0 * np.floor((hole[0, 0] - low) / 360.0)
            holes.append(hole)
        unwrapped = shapely.Polygon(shell, holes)
        for turn in range(int(np.floor((low - west) / 360.0)), int(np.floor((high - west) / 360.0)) + 1):
            window = shapely.box(west + 360.0 * turn, -90.0, west + 360.0 * (turn + 1), 90.0)
            part = shapely.affinity.translate(shapely.intersection(unwrapped, window), xoff=-360.0 * turn)
            pieces.extend(p for p in shapely.get_parts(part) if shapely.get_type_id(p) == 3)
    return shapely.union_all(pieces)


def padded_bounds(bounds: tuple[float, float, float, float], *, margin: float) -> tuple[float, float, float, float]:
    """Bounds grown on every side by `margin` times their width and height, so a map shows some surroundings."""
    xmin, ymin, xmax, ymax = bounds
    dx, dy = (xmax - xmin) * margin, (ymax - ymin) * margin
    return xmin - dx, ymin - dy, xmax + dx, ymax + dy


def centre_cells(grid: Grid, other: Grid, *, window: tuple[int, int, int, int]) -> tuple[NDArray[np.int64], ...]:
    """Row and column of `other` holding the centre of each cell of a window (row_off, col_off, height, width)
    of `grid`, each (height, width); they may lie off `other`. Nothing is interpolated: a cell takes the
    value of the one cell of `other` its centre falls in."""
    row_off, col_off, height, width = window
    t, o = grid.transform, other.transform
    if grid.crs.equals(other.crs, ignore_axis_order=True) and not (t.b or t.d or o.b or o.d):
        # north-up grids in one CRS: a column's centre falls in one column of `other` whatever the row
        xs = t.c + t.a * (col_off + np.arange(width) + 0.5)
        ys = t.f + t.e * (row_off + np.arange(height) + 0.5)
        other_cols = np.floor((xs - o.c) / o.a).astype(np.int64)
        other_rows = np.floor((ys - o.f) / o.e).astype(np.int64)
        return (np.broadcast_to(other_rows[:, None], (height, width)),
                np.broadcast_to(other_cols[None, :], (height, width)))
    cols, rows = np.meshgrid(col_off + np.arange(width) + 0.5, row_off + np.arange(height) + 0.5)
    xs, ys = _apply_affine(grid.transform, np.column_stack([cols.ravel(), rows.ravel()])).T
    if not grid.crs.equals(other.crs, ignore_axis_order=True):
        xs, ys = pyproj.Transformer.from_crs(grid.crs, other.crs, always_xy=True).transform(xs, ys)
    pixel = _apply_affine(~other.transform, np.column_stack([xs, ys]))
    with np.errstate(invalid="ignore"):
        # a centre that cannot be transformed (NaN, inf) lies off `other`
        at = np.where(np.isfinite(pixel), np.floor(pixel), -1).astype(np.int64)
    return at[:, 1].reshape(height, width), at[:, 0].reshape(height, width)
