"""Many same-grid tiles as one raster: a GDAL VRT mosaic, built as XML text (no GDAL utilities needed).

Tiles must share CRS, cell size and data type and sit on one cell lattice; the VRT then reads each
chunk from whichever tiles it overlaps, so a province of tiles is processed chunk by chunk without
ever being merged on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from affine import Affine

from pipeline.core.errors import RasterError
from pipeline.core.grid import Grid

_ALIGN_TOL = 1e-3  # of a cell, like exactextract's grid_compat_tol
_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


@dataclass(frozen=True)
class Tile:
    path: str
    grid: Grid
    dtype: str
    nodata: float | None
    block_shape: tuple[int, int]


@dataclass(frozen=True)
class Placed:
    tile: Tile
    row_off: int
    col_off: int


def _check_same(first: Tile, tile: Tile) -> None:
    a, b = first.grid.transform, tile.grid.transform
    if tile.grid.crs != first.grid.crs or (a.a, a.b, a.d, a.e) != (b.a, b.b, b.d, b.e) or a.b or a.d:
        raise RasterError(
            f"{tile.path}: its CRS or cell size differs from {first.path}; "
            "tiles of one mosaic must share one north-up grid"
        )
    if tile.dtype != first.dtype or tile.nodata != first.nodata:
        raise RasterError(
            f"{tile.path}: data type {tile.dtype} / nodata {tile.nodata} differ from "
            f"{first.path} ({first.dtype} / {first.nodata})"
        )


def _offset(value: float, origin: float, step: float, path: str) -> int:
    cells = (value - origin) / step
    if abs(cells - round(cells)) > _ALIGN_TOL:
        raise RasterError(
            f"{path}: not aligned to the mosaic's cells (off by {cells - round(cells):.4f} cell)"
        )
    return int(round(cells))


def place_tiles(tiles: Sequence[Tile]) -> tuple[Grid, list[Placed]]:
    """The grid covering all tiles and each tile's row and column offset in it."""
    if not tiles:
        raise RasterError("a mosaic needs at least one tile")
    first = tiles[0]
    for tile in tiles[1:]:
        _check_same(first, tile)
    t = first.grid.transform
    west = min(tile.grid.transform.c for tile in tiles)
    north = (
        max(tile.grid.transform.f for tile in tiles)
        if t.e < 0
        else min(tile.grid.transform.f for tile in tiles)
    )
    placed = [
        Placed(
            tile,
            _offset(tile.grid.transform.f, north, t.e, tile.path),
            _offset(tile.grid.transform.c, west, t.a, tile.path),
        )
        for tile in tiles
    ]
    width = max(p.col_off + p.tile.grid.width for p in placed)
    height = max(p.row_off + p.tile.grid.height for p in placed)
    grid = Grid(
        transform=Affine(t.a, 0.0, west, 0.0, t.e, north), width=width, height=height, crs=first.grid.crs
    )
    return grid, placed


def vrt_xml(tiles: Sequence[Tile]) -> str:
    """VRT text mosaicking same-grid tiles, with the first tile's storage block size."""
    grid, placed = place_tiles(tiles)
    first = tiles[0]
    t = grid.transform
    rows, cols = first.block_shape
    dtype = _GDAL_TYPES.get(first.dtype)
    if dtype is None:
        raise RasterError(f"{first.path}: data type {first.dtype} cannot be mosaicked")
    nodata = f"<NoDataValue>{first.nodata:g}</NoDataValue>" if first.nodata is not None else ""
    sources = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(p.tile.path)}</SourceFilename>'
        f"<SourceBand>1</SourceBand>"
        f'<SrcRect xOff="0" yOff="0" xSize="{p.tile.grid.width}" ySize="{p.tile.grid.height}"/>'
        f'<DstRect xOff="{p.col_off}" yOff="{p.row_off}" '
        f'xSize="{p.tile.grid.width}" ySize="{p.tile.grid.height}"/>'
        f"</SimpleSource>"
        for p in placed
    )
    return (
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">'
        f"<SRS>{escape(grid.crs.to_wkt())}</SRS>"
        f"<GeoTransform>{t.c!r}, {t.a!r}, 0.0, {t.f!r}, 0.0, {t.e!r}</GeoTransform>"
        f'<VRTRasterBand dataType="{dtype}" band="1" blockXSize="{cols}" blockYSize="{rows}">'
        f"{nodata}{sources}</VRTRasterBand></VRTDataset>"
    )
