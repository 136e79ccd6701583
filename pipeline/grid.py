"""Raster grids and exact areas: cells on the ellipsoid for geographic grids, planar for projected ones.

A geographic cell is a quadrangle between two parallels and two meridians. Its area on an ellipsoid of
revolution is dλ times the integral of the authalic density a²(1-e²)cosφ / (1-e²sin²φ)² over its
latitude span. The closed form (difference of two authalic terms of ~1e13 m²) loses 5 digits to
cancellation for 10 m cells, so the integral is taken by Gauss-Legendre quadrature over the row's own
span, which is exact to machine precision for a span this smooth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyproj
import shapely
from affine import Affine
from numpy.typing import NDArray

from pipeline.errors import RasterError

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
    south, north = np.radians(lat_south), np.radians(lat_north)
    half_span, middle = (north - south) / 2.0, (north + south) / 2.0
    phi = middle[..., None] + half_span[..., None] * _GAUSS_NODES
    density = np.cos(phi) / (1.0 - e2 * np.sin(phi) ** 2) ** 2
    integral = half_span * (density * _GAUSS_WEIGHTS).sum(axis=-1)
    return np.abs(semi_major**2 * (1.0 - e2) * np.radians(dlon_deg) * integral)


def row_cell_areas_m2(grid: Grid) -> NDArray[np.float64]:
    """Area of one cell in each row of the grid, in m², exact for the grid's CRS."""
    t = grid.transform
    if not grid.is_geographic:
        unit = grid.crs.axis_info[0].unit_conversion_factor if grid.crs.axis_info else 1.0
        return np.full(grid.height, abs(t.a * t.e - t.b * t.d) * unit**2)
    if t.b != 0 or t.d != 0:
        raise RasterError("a rotated geographic raster has no row-wise cell area; warp it north-up first")
    semi_major, flattening = ellipsoid_of(grid.crs)
    edges = t.f + t.e * np.arange(grid.height + 1, dtype=np.float64)
    return quadrangle_area_m2(edges[:-1], edges[1:], abs(t.a), semi_major=semi_major, flattening=flattening)


def zone_areas_m2(geoms: NDArray[np.object_], grid: Grid) -> NDArray[np.float64]:
    """Area of each zone by the grid's own method: geodesic on its ellipsoid, or planar in its CRS.

    The geometries must already be in the grid's CRS.
    """
    if not grid.is_geographic:
        unit = grid.crs.axis_info[0].unit_conversion_factor if grid.crs.axis_info else 1.0
        return np.asarray(shapely.area(geoms), dtype=np.float64) * unit**2
    semi_major, flattening = ellipsoid_of(grid.crs)
    geod = pyproj.Geod(a=semi_major, f=flattening)
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) if not g.is_empty else 0.0 for g in geoms])


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


def padded_bounds(bounds: tuple[float, float, float, float], *, margin: float) -> tuple[float, float, float, float]:
    """Bounds grown on every side by `margin` times their width and height, so a map shows some surroundings."""
    xmin, ymin, xmax, ymax = bounds
    dx, dy = (xmax - xmin) * margin, (ymax - ymin) * margin
    return xmin - dx, ymin - dy, xmax + dx, ymax + dy
