"""Raster reading: headers, chunk windows, whole-file decode checks and report previews."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
import rasterio.windows
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError, WindowError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from pipeline.core.errors import MissingCRSError, RasterError
from pipeline.core.grid import Grid
from pipeline.files.mosaic import Tile, vrt_xml
from pipeline.files.paths import gdal_name, is_tile_pattern, require_file, tile_paths

# Each storage block is decoded once per run, so GDAL's block cache (5% of RAM by default) only adds
# memory that grows with the raster. Scoped to sinkzone's own reads; a user's explicit setting wins.
_GDAL_OPTIONS = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": 64 * 2**20}  # bytes

# the web map's projection and the degrees its corners are given in
_MERCATOR, _DEGREES = "EPSG:3857", "EPSG:4326"


@contextmanager
def _opened(source: str | Path) -> Iterator[Any]:
    """A raster open for reading in sinkzone's GDAL environment (rasterio.Env, not process-wide settings)."""
    with rasterio.Env(**_GDAL_OPTIONS), rasterio.open(source) as src:
        yield src


@dataclass(frozen=True)
class RasterInfo:
    """What a raster header says, read without touching its pixels."""

    path: Path
    grid: Grid
    dtype: str
    nodata: float | None
    block_shape: tuple[int, int]
    band_count: int


def _tile(path: Path) -> Tile:
    info = raster_info(path)
    return Tile(path=str(path.resolve()), grid=info.grid, dtype=info.dtype, nodata=info.nodata,
                block_shape=info.block_shape)


def raster_source(path: Path) -> str:
    """What GDAL opens for a land-cover path: the file itself, or for a tile pattern an in-memory VRT.

    The VRT travels as XML text (GDAL opens it without a file), so cluster workers need only the tiles.
    """
    if not is_tile_pattern(path):
        return gdal_name(path)
    return vrt_xml([_tile(p) for p in tile_paths(path)])


def raster_info(path: Path) -> RasterInfo:
    """Header of a raster or tile mosaic; a missing file, an unreadable file or a missing CRS is an error."""
    source = raster_source(path)
    if not is_tile_pattern(path):
        require_file(path)
    try:
        with _opened(source) as src:
            _check_georeferencing(path, src)
            grid = Grid(transform=src.transform, width=src.width, height=src.height,
                        crs=pyproj.CRS.from_wkt(src.crs.to_wkt()))
            return RasterInfo(path=path, grid=grid, dtype=src.dtypes[0], nodata=src.nodata,
                              block_shape=tuple(src.block_shapes[0]), band_count=src.count)
    except RasterioIOError as exc:
        raise RasterError(f"{path}: not a readable raster ({exc})") from exc


def _check_georeferencing(path: Path, src: Any) -> None:
    """The raster sits on a grid sinkzone can measure: a CRS, a geotransform, north-up when in lat/lon."""
    gcps, gcp_crs = src.gcps
    if gcps and src.transform.is_identity:
        raise RasterError(f"{path}: the raster is located only by {len(gcps)} ground control points (GCPs), not "
                          f"on a grid{f' ({gcp_crs})' if gcp_crs else ''}; warp it onto a grid first "
                          "(gdalwarp -r near -t_srs EPSG:xxxx in.tif out.tif)")
    if src.crs is None:
        raise MissingCRSError(f"{path}: the raster has no CRS; assign one (gdal_edit.py -a_srs EPSG:xxxx)")
    t = src.transform
    if (t.b or t.d) and src.crs.is_geographic:
        raise RasterError(f"{path}: the raster's grid is rotated (geotransform {tuple(t)[:6]}), and a rotated "
                          "lat/lon grid has no row-wise cell area; warp it north-up first "
                          "(gdalwarp -r near in.tif out.tif)")


@dataclass(frozen=True)
class WindowSource:
    """A raster as chunk tasks read it: what GDAL opens (a path or VRT text), and the path for messages."""

    path: str
    gdal: str


def window_source(path: Path) -> WindowSource:
    return WindowSource(path=str(path), gdal=raster_source(path))


def read_window(source: WindowSource, row_off: int, col_off: int, height: int, width: int) -> Any:
    """Band 1 of one window; a block that fails to decode is named, as check_readable names it.

    Runs read every block anyway, so they detect corrupt files here rather than decoding every block a
    second time beforehand.
    """
    window = rasterio.windows.Window(col_off, row_off, width, height)
    try:
        with _opened(source.gdal) as src:
            return src.read(1, window=window)
    except RasterioError as exc:
        raise _corrupt(source.path, _first_bad_block(source.gdal, window), exc) from exc


def read_around(source: WindowSource, rows: NDArray[np.int64], cols: NDArray[np.int64], *,
                shape: tuple[int, int]) -> tuple[Any, Any, Any]:
    """Band 1 read as one window around the given cells (any shape) of a raster of `shape`: the window, each
    cell's flat index into it, and which cells lie on the raster (the others index the window's first cell)."""
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    if not inside.any():
        return np.zeros((1, 1)), np.zeros(rows.shape, dtype=np.intp), inside
    r0, c0 = int(rows[inside].min()), int(cols[inside].min())
    width = int(cols[inside].max()) - c0 + 1
    block = read_window(source, r0, c0, int(rows[inside].max()) - r0 + 1, width)
    return block, np.where(inside, (rows - r0) * width + (cols - c0), 0).astype(np.intp), inside


def _first_bad_block(gdal_source: str, window: rasterio.windows.Window) -> str:
    """Which storage block of a window fails to decode (only looked for once a read has failed)."""
    with _opened(gdal_source) as src:
        for _, block in src.block_windows(1):
            if not rasterio.windows.intersect(block, window):
                continue
            try:
                src.read(1, window=block)
            except RasterioError:
                return f"the block at row {block.row_off}, column {block.col_off}"
    return f"the window at row {window.row_off}, column {window.col_off}"


def _corrupt(path: str | Path, where: str, exc: Exception) -> RasterError:
    return RasterError(f"{path}: the raster is truncated or corrupt at {where} ({exc.__cause__ or exc}); "
                       "download or copy it again")


def check_readable(path: Path) -> dict[int, int]:
    """Decode every storage block once, so `validate` finds corrupt files without running anything.

    Returns the number of cells of each integer value, so codes the class map lacks are known early.
    """
    counts: dict[int, int] = {}
    where = "its header"
    try:
        with _opened(raster_source(path)) as src:
            for _, window in src.block_windows(1):
                where = f"the block at row {window.row_off}, column {window.col_off}"
                values, n = _value_counts(src.read(1, window=window))
                for value, count in zip(values.tolist(), n.tolist(), strict=True):
                    counts[value] = counts.get(value, 0) + count
    except RasterioError as exc:
        raise _corrupt(path, where, exc) from exc
    return counts


def _value_counts(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if block.dtype.kind == "u" and block.dtype.itemsize <= 2:
        counts = np.bincount(block.ravel())
        values = np.flatnonzero(counts)
        return values, counts[values]
    return np.unique(block, return_counts=True)


def largest_magnitude(path: Path, *, keep: Callable[[NDArray[np.float64]], NDArray[np.bool_]]) -> float | None:
    """The largest |value| among the cells `keep` accepts, read block by block; None when it accepts none."""
    top: float | None = None
    with _opened(raster_source(path)) as src:
        for _, window in src.block_windows(1):
            block = src.read(1, window=window).astype(np.float64)
            kept = np.abs(block[keep(block)])
            if len(kept):
                top = max(top or 0.0, float(kept.max()))
    return top


def block_aligned_chunks(info: RasterInfo, *, target_cells: int) -> tuple[int, int]:
    """Chunk shape made of whole storage blocks, holding about target_cells² cells.

    Strip-stored files (blocks as wide as the raster) get full-width chunks of many strips.
    """
    block_rows, block_cols = info.block_shape
    height, width = info.grid.shape
    cols = min(width, block_cols * max(1, target_cells // block_cols))
    rows = block_rows * max(1, (target_cells * target_cells // cols) // block_rows)
    return int(min(rows, height)), int(cols)


def _covering(src: Any, bounds: tuple[float, float, float, float], *,
              max_side: int) -> tuple[rasterio.windows.Window, tuple[int, int]]:
    """The whole cells of `src` covering `bounds` (its CRS), clipped to it, and the shape that window is read into:
    at most max_side cells a side, decimated by nearest neighbour."""
    raw = rasterio.windows.from_bounds(*bounds, transform=src.transform)
    # whole cells covering the bounds: rounding each end to the nearest could leave a thin raster out
    col0, row0 = math.floor(raw.col_off), math.floor(raw.row_off)
    window = rasterio.windows.Window(col0, row0, math.ceil(raw.col_off + raw.width) - col0,
                                     math.ceil(raw.row_off + raw.height) - row0)
    window = window.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
    scale = max(1.0, max(window.height, window.width) / max_side)
    return window, (max(1, int(window.height / scale)), max(1, int(window.width / scale)))


def read_preview(source: str | Path, *, bounds: tuple[float, float, float, float],
                 max_side: int) -> tuple[Any, Any]:
    """Band 1 inside `bounds` (raster CRS), decimated by nearest neighbour to at most max_side cells a side.

    `source` is what GDAL opens (see raster_source). For report maps only: a picture, never used for
    areas. Returns (array, transform of the array).
    """
    with _opened(source) as src:
        window, shape = _covering(src, bounds, max_side=max_side)
        data = src.read(1, window=window, out_shape=shape)
        transform = src.window_transform(window) * rasterio.Affine.scale(window.width / shape[1],
                                                                          window.height / shape[0])
    return data, transform


@dataclass(frozen=True)
class MercatorPicture:
    """Band 1 around a place, warped to Web Mercator: the cells, which of them hold data, and the picture's
    west, south, east, north edges in degrees (WGS 84)."""

    values: NDArray[Any]
    valid: NDArray[np.bool_]
    bounds: tuple[float, float, float, float]


def read_web_mercator(path: Path, *, bounds: tuple[float, float, float, float], max_side: int) -> MercatorPicture:
    """Band 1 of a land-cover raster (or tile mosaic) around `bounds` (west, south, east, north in degrees),
    warped to Web Mercator (EPSG:3857) by nearest neighbour, at most max_side cells a side: a web map stretches a
    picture linearly between its corners in that projection, so each cell lands where it lies.

    For pictures only, never for areas; a raster that cannot be read (moved, deleted) is a RasterError naming it.
    """
    if not is_tile_pattern(path):
        require_file(path)
    try:
        with _opened(raster_source(path)) as src, WarpedVRT(src, crs=_MERCATOR, resampling=Resampling.nearest,
                                                            add_alpha=src.nodata is None) as vrt:
            window, shape = _covering(vrt, transform_bounds(_DEGREES, _MERCATOR, *bounds), max_side=max_side)
            values = vrt.read(1, window=window, out_shape=shape)
            valid = vrt.read_masks(1, window=window, out_shape=shape) > 0
            edges = transform_bounds(_MERCATOR, _DEGREES, *vrt.window_bounds(window))
    except WindowError as exc:
        raise RasterError(f"{path}: the raster does not reach the place {bounds} (degrees)") from exc
    except RasterioError as exc:
        raise RasterError(f"{path}: not a readable raster ({exc})") from exc
    return MercatorPicture(values=values, valid=valid, bounds=edges)
