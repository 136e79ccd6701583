"""Exact cell coverage of zones on a raster grid, computed once per (grid, zones) pair.

Zones are taken in pixel space, where every cell is a unit square. Each zone boundary edge is cut at
every grid line it crosses; each piece then lies in one cell. By the winding-number form of Green's
theorem, a cell's covered fraction is the signed area between the pieces in that cell and the cell's
right side, plus the signed height of every piece to its left in the same row (the scan-line
accumulation used by exact-area font rasterisers). Only boundary cells are stored with a fraction;
the cells between them are whole interior runs. The result is exact, needs no per-cell polygon
clipping, and its size grows with zone perimeters, not with the raster.

On a geographic grid a cell's area is not spread evenly over its height: the ellipsoid's area density changes
with latitude, which in pixel space is the row coordinate y alone. Each piece's area term and rise are then
integrals weighted by the row's density p(y) (see `grid.row_density`, normalised to 1 over the row), so a
fraction is the covered share of the cell's ellipsoidal area, and fraction x exact cell area is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

_EPS = 1e-9


@dataclass(frozen=True)
class Coverage:
    """Which cells each zone covers and by how much. Arrays are sorted by row.

    Boundary cells carry the covered fraction in (0, 1]; interior runs cover columns [start, stop) of a
    row entirely. Zone numbers index the zone table the coverage was built from.
    """

    n_zones: int
    shape: tuple[int, int]
    b_zone: NDArray[np.int32]
    b_row: NDArray[np.int32]
    b_col: NDArray[np.int32]
    b_frac: NDArray[np.float64]
    r_zone: NDArray[np.int32]
    r_row: NDArray[np.int32]
    r_start: NDArray[np.int32]
    r_stop: NDArray[np.int32]

    def covered_cells(self) -> NDArray[np.float64]:
        """Covered area of each zone in cell units (fractions of boundary cells, each a share of its own
        cell's area, plus run lengths)."""
        cells = np.bincount(self.b_zone, weights=self.b_frac, minlength=self.n_zones)
        lengths = (self.r_stop - self.r_start).astype(np.float64)
        return np.asarray(cells + np.bincount(self.r_zone, weights=lengths, minlength=self.n_zones), dtype=np.float64)

    def window(self, row_off: int, col_off: int, height: int, width: int) -> Coverage:
        """The part of the coverage inside a window, in the window's own row and column numbers."""
        b = slice(*np.searchsorted(self.b_row, [row_off, row_off + height]))
        keep = (self.b_col[b] >= col_off) & (self.b_col[b] < col_off + width)
        r = slice(*np.searchsorted(self.r_row, [row_off, row_off + height]))
        start = np.maximum(self.r_start[r], col_off)
        stop = np.minimum(self.r_stop[r], col_off + width)
        used = stop > start
        return Coverage(
            n_zones=self.n_zones, shape=(height, width),
            b_zone=self.b_zone[b][keep], b_row=self.b_row[b][keep] - row_off,
            b_col=self.b_col[b][keep] - col_off, b_frac=self.b_frac[b][keep],
            r_zone=self.r_zone[r][used], r_row=self.r_row[r][used] - row_off,
            r_start=start[used] - col_off, r_stop=stop[used] - col_off,
        )


def zone_coverage(pixel_geoms: NDArray[np.object_], shape: tuple[int, int], *,
                  rows: tuple[int, int] | None = None, density: NDArray[np.float64] | None = None) -> Coverage:
    """Exact coverage of polygonal zones (already in pixel space) on a grid of `shape` (rows, cols).

    Zones may be MultiPolygons with holes, smaller than a cell, or partly or wholly off the grid.
    `rows` = (first, stop) limits the work to a band of rows, so bands can be computed in parallel
    and each chunk task needs only its own band. `density` is `grid.row_density(grid)` (one polynomial
    per row of the whole grid); None spreads each cell's area evenly, as on a projected grid.
    """
    height, width = shape
    first, stop = (max(rows[0], 0), min(rows[1], height)) if rows is not None else (0, height)
    x0, y0, x1, y1, edge_zone = _edges(pixel_geoms, shape, rows=(first, stop))
    zone, row, col, area, rise = _pieces(x0, y0, x1, y1, edge_zone, shape, rows=(first, stop), density=density)
    zone, row, col, area, rise = _sum_per_cell(zone, row, col, area, rise)
    before = _exclusive_row_prefix(zone, row, rise)
    frac = np.clip(area + before, 0.0, 1.0)
    on_grid = (col >= 0) & (col < width) & (frac > _EPS)
    runs = _interior_runs(zone, row, col, before + rise, width)
    b_order = np.argsort(row[on_grid], kind="stable")
    r_order = np.argsort(runs[1], kind="stable")
    return Coverage(
        n_zones=len(pixel_geoms), shape=(height, width),
        b_zone=zone[on_grid][b_order].astype(np.int32), b_row=row[on_grid][b_order].astype(np.int32),
        b_col=col[on_grid][b_order].astype(np.int32), b_frac=frac[on_grid][b_order],
        r_zone=runs[0][r_order], r_row=runs[1][r_order], r_start=runs[2][r_order], r_stop=runs[3][r_order],
    )


def _edges(pixel_geoms: NDArray[np.object_], shape: tuple[int, int],
           rows: tuple[int, int]) -> tuple[NDArray[Any], ...]:
    """Boundary edges of every zone, clipped just outside the band and oriented so coverage is positive.

    Clipping to a rectangle one cell wider than the band changes no coverage inside it and drops the
    work for parts far off it. Exteriors clockwise in pixel numbers (rows grow downwards) make the
    accumulated coverage come out positive; holes run the other way and subtract.
    """
    width = shape[1]
    clipped = shapely.clip_by_rect(pixel_geoms, -1.0, rows[0] - 1.0, width + 1.0, rows[1] + 1.0)
    parts, part_zone = shapely.get_parts(clipped, return_index=True)
    polygonal = shapely.get_type_id(parts) == 3
    parts = shapely.orient_polygons(parts[polygonal], exterior_cw=True)
    part_zone = part_zone[polygonal]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = coord_ring[1:] == coord_ring[:-1]
    start, stop = coords[:-1][same_ring], coords[1:][same_ring]
    zone = part_zone[ring_part[coord_ring[:-1][same_ring]]]
    return start[:, 0], start[:, 1], stop[:, 0], stop[:, 1], zone


def _crossings(a0: NDArray[np.float64], a1: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Edge number and parameter t of every integer grid line strictly crossed along one axis."""
    first = np.floor(np.minimum(a0, a1)).astype(np.int64) + 1
    last = np.ceil(np.maximum(a0, a1)).astype(np.int64) - 1
    count = np.maximum(last - first + 1, 0)
    edge = np.repeat(np.arange(len(a0)), count)
    line = first[edge] + _ramp(count)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (line - a0[edge]) / (a1[edge] - a0[edge])
    return edge, t


def _ramp(count: NDArray[np.int64]) -> NDArray[np.int64]:
    """0, 1, ..., count[i]-1 for each i, concatenated."""
    total = int(count.sum())
    starts = np.repeat(np.cumsum(count) - count, count)
    return np.arange(total, dtype=np.int64) - starts


def _pieces(x0: NDArray[np.float64], y0: NDArray[np.float64], x1: NDArray[np.float64], y1: NDArray[np.float64],
            edge_zone: NDArray[np.int64], shape: tuple[int, int], rows: tuple[int, int],
            density: NDArray[np.float64] | None) -> tuple[NDArray, ...]:
    """Cut edges at every grid line; return each piece's cell (rows of the band only), area term and rise.

    Both are in shares of the cell's area: plain lengths and areas in pixel units when `density` is None,
    integrals weighted by the row's density otherwise.
    """
    width = shape[1]
    ex, tx = _crossings(x0, x1)
    ey, ty = _crossings(y0, y1)
    n = len(x0)
    edge = np.concatenate([np.arange(n), np.arange(n), ex, ey])
    t = np.concatenate([np.zeros(n), np.ones(n), tx, ty])
    order = np.lexsort((t, edge))
    edge, t = edge[order], t[order]
    same = (edge[1:] == edge[:-1]) & (t[1:] > t[:-1])
    e, ta, tb = edge[:-1][same], t[:-1][same], t[1:][same]
    row = np.floor(y0[e] + (y1[e] - y0[e]) * (ta + tb) / 2.0).astype(np.int64)
    keep = (row >= rows[0]) & (row < rows[1])
    e, ta, tb, row = e[keep], ta[keep], tb[keep], row[keep]
    dx, dy = x1[e] - x0[e], y1[e] - y0[e]
    mid_x = x0[e] + dx * (ta + tb) / 2.0
    mid_y = y0[e] + dy * (ta + tb) / 2.0
    col = np.clip(np.floor(mid_x).astype(np.int64), -1, width)
    rise = dy * (tb - ta)
    if density is None:
        return edge_zone[e], row, col, rise * ((col + 1) - mid_x), rise
    area, rise = _weighted([c[row] for c in density.T], mid_y - row - 0.5, mid_x - (col + 1), dx * (tb - ta), rise)
    return edge_zone[e], row, col, area, rise


def _weighted(coefficients: list[NDArray[np.float64]], mid_u: NDArray[np.float64], mid_x: NDArray[np.float64],
              run: NDArray[np.float64], rise: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Area term and rise of each piece weighted by its row's density p(u) = sum coefficients[k] u**k.

    A piece runs from (mid_x - run/2, mid_u - rise/2) to (mid_x + run/2, mid_u + rise/2), x measured from
    the cell's right side. Along it u = mid_u + τ rise, τ in [-1/2, 1/2], so its weighted rise is rise times
    the mean of p, and its area term -rise times the mean of (mid_x + τ run) p. Shifting p to the piece's
    middle (q_j = p⁽ʲ⁾(mid_u) / j!, Horner's Taylor shift) makes both means exact sums of moments of τ:
    the mean of τ^j is 1 / (2^j (j+1)) for even j and 0 for odd j.
    """
    degree = len(coefficients) - 1
    q = list(coefficients)
    for i in range(degree):
        for k in range(degree - 1, i - 1, -1):
            q[k] = q[k] + mid_u * q[k + 1]
    mean_p, mean_tp, power = q[0], q[1] * (rise / 12.0), rise
    for j in range(2, degree + 1):
        power = power * rise
        if j % 2:
            mean_tp = mean_tp + q[j] * power / (2 ** (j + 1) * (j + 2))
        else:
            mean_p = mean_p + q[j] * power / (2**j * (j + 1))
    return -rise * (mid_x * mean_p + run * mean_tp), rise * mean_p


def _sum_per_cell(zone: NDArray, row: NDArray, col: NDArray, area: NDArray, rise: NDArray) -> tuple[NDArray, ...]:
    """Add up the pieces that fall in the same (zone, row, column) cell, sorted by zone, row, column."""
    order = np.lexsort((col, row, zone))
    zone, row, col, area, rise = zone[order], row[order], col[order], area[order], rise[order]
    first = np.ones(len(zone), dtype=bool)
    first[1:] = (zone[1:] != zone[:-1]) | (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    at = np.flatnonzero(first)
    if len(at) == 0:
        return zone, row, col, area, rise
    return zone[at], row[at], col[at], np.add.reduceat(area, at), np.add.reduceat(rise, at)


def _exclusive_row_prefix(zone: NDArray, row: NDArray, rise: NDArray) -> NDArray[np.float64]:
    """For each cell, the summed rise of the cells left of it in the same zone and row."""
    total = np.cumsum(rise) - rise
    new_row = np.ones(len(zone), dtype=bool)
    new_row[1:] = (zone[1:] != zone[:-1]) | (row[1:] != row[:-1])
    row_start = np.maximum.accumulate(np.where(new_row, np.arange(len(zone)), 0))
    return total - total[row_start] if len(zone) else total


def _interior_runs(zone: NDArray, row: NDArray, col: NDArray, winding_after: NDArray[np.float64],
                   width: int) -> tuple[NDArray[np.int32], ...]:
    """Whole cells between consecutive boundary cells of a row where the winding number is one."""
    same_row = (zone[1:] == zone[:-1]) & (row[1:] == row[:-1])
    inside = np.abs(winding_after[:-1] - 1.0) < 1e-6
    start = np.maximum(col[:-1] + 1, 0)
    stop = np.minimum(col[1:], width)
    keep = same_row & inside & (stop > start)
    return (zone[:-1][keep].astype(np.int32), row[:-1][keep].astype(np.int32),
            start[keep].astype(np.int32), stop[keep].astype(np.int32))
