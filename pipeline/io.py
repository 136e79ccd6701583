"""The only module that touches files: lazy raster opening, zone reading, atomic output writing."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj
import rasterio
import rioxarray
import xarray as xr
from rasterio.errors import RasterioIOError

from pipeline.errors import MissingCRSError, MissingFileError, OutputError, RasterError, ZoneError
from pipeline.grid import Grid
from pipeline.mosaic import Tile, vrt_xml

log = logging.getLogger(__name__)
# Each storage block is decoded once per run, so GDAL's block cache (5% of RAM by default) only adds
# memory that grows with the raster. Set before GDAL's first read; an explicit setting wins.
os.environ.setdefault("GDAL_CACHEMAX", "64")


@dataclass(frozen=True)
class RasterInfo:
    """What a raster header says, read without touching its pixels."""

    path: Path
    grid: Grid
    dtype: str
    nodata: float | None
    block_shape: tuple[int, int]
    band_count: int


def _require_file(path: Path) -> None:
    if not path.exists():
        raise MissingFileError(f"{path}: file not found")


def is_tile_pattern(path: Path) -> bool:
    """A land-cover path with glob characters names a set of same-grid tiles."""
    return any(ch in str(path) for ch in "*?[")


def tile_paths(pattern: Path) -> list[Path]:
    found = sorted(Path(p) for p in glob.glob(str(pattern)))
    if not found:
        raise MissingFileError(f"{pattern}: no tile matches this pattern")
    return found


def _tile(path: Path) -> Tile:
    info = raster_info(path)
    return Tile(path=str(path.resolve()), grid=info.grid, dtype=info.dtype, nodata=info.nodata,
                block_shape=info.block_shape)


def raster_source(path: Path) -> str:
    """What GDAL opens for a land-cover path: the file itself, or for a tile pattern an in-memory VRT.

    The VRT travels as XML text (GDAL opens it without a file), so cluster workers need only the tiles.
    """
    if not is_tile_pattern(path):
        return str(path)
    return vrt_xml([_tile(p) for p in tile_paths(path)])


def raster_info(path: Path) -> RasterInfo:
    """Header of a raster or tile mosaic; a missing file, an unreadable file or a missing CRS is an error."""
    source = raster_source(path)
    if not is_tile_pattern(path):
        _require_file(path)
    try:
        with rasterio.open(source) as src:
            if src.crs is None:
                raise MissingCRSError(f"{path}: the raster has no CRS; assign one (gdal_edit.py -a_srs EPSG:xxxx)")
            grid = Grid(transform=src.transform, width=src.width, height=src.height,
                        crs=pyproj.CRS.from_wkt(src.crs.to_wkt()))
            return RasterInfo(path=path, grid=grid, dtype=src.dtypes[0], nodata=src.nodata,
                              block_shape=tuple(src.block_shapes[0]), band_count=src.count)
    except RasterioIOError as exc:
        raise RasterError(f"{path}: not a readable raster ({exc})") from exc


def open_lazy(path: Path, *, chunks: tuple[int, int]) -> xr.DataArray:
    """Band 1 of a raster as a dask-backed DataArray; reads happen only when chunks are computed."""
    arr = rioxarray.open_rasterio(raster_source(path), chunks={"band": 1, "y": chunks[0], "x": chunks[1]},
                                  lock=False, mask_and_scale=False)
    assert isinstance(arr, xr.DataArray)
    return arr.isel(band=0)


def read_window(source: str, row_off: int, col_off: int, height: int, width: int) -> Any:
    """Band 1 of one window of a raster source (a path or VRT text from raster_source)."""
    with rasterio.open(source) as src:
        return src.read(1, window=rasterio.windows.Window(col_off, row_off, width, height))


def check_readable(path: Path, *, chunks: tuple[int, int]) -> None:
    """Decode every storage block once (cheap next to the run) so corrupt files fail before compute."""
    try:
        with rasterio.open(raster_source(path)) as src:
            for _, window in src.block_windows(1):
                src.read(1, window=window)
    except RasterioIOError as exc:
        raise RasterError(f"{path}: the raster is truncated or corrupt ({exc})") from exc


def read_zones(path: Path, *, layer: str | None) -> gpd.GeoDataFrame:
    """A zone layer as read; a missing file, an unreadable file or a missing CRS is an error."""
    _require_file(path)
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise ZoneError(f"{path}: not a readable vector file ({exc})") from exc
    if frame.crs is None:
        raise MissingCRSError(f"{path}: the zone layer has no CRS; define it (e.g. ogr2ogr -a_srs EPSG:4326)")
    return frame


def fingerprint(path: Path) -> dict[str, Any]:
    """Size, modification time and SHA-256 of a file (or of every tile of a pattern): did an input change?"""
    if is_tile_pattern(path):
        tiles = [fingerprint(p) for p in tile_paths(path)]
        combined = hashlib.sha256("".join(t["sha256"] for t in tiles).encode()).hexdigest()
        return {"path": str(path), "bytes": sum(t["bytes"] for t in tiles), "tiles": len(tiles),
                "sha256": combined}
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    stat = path.stat()
    return {"path": str(path), "bytes": stat.st_size, "mtime": stat.st_mtime, "sha256": digest.hexdigest()}


def read_run_record(out_dir: Path) -> dict[str, Any] | None:
    """The run.json of a finished output folder, or None."""
    record = out_dir / "run.json"
    if not record.is_file():
        return None
    try:
        return dict(json.loads(record.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _write_gpkg(path: Path, layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame]) -> None:
    for name, frame in layers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio", SPATIAL_INDEX="YES")
            else:
                gpd.GeoDataFrame(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio")


@contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """A fresh staging folder beside `out_dir`; on success it replaces `out_dir` in two renames.

    A failure or a kill at any point leaves the previous output folder (or its parked copy) intact.
    """
    out_dir = out_dir.resolve()
    recover_parked(out_dir)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{out_dir.name}.staging-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create the output folder here ({exc.strerror})") from exc
    try:
        yield staging
        _swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _parked(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.previous"


def recover_parked(out_dir: Path) -> None:
    """Put back a previous output parked by a run killed between its two renames."""
    parked = _parked(out_dir)
    if parked.exists() and not out_dir.exists():
        os.replace(parked, out_dir)
        log.warning("restored the previous output %s, left aside by an interrupted run", out_dir)
    elif parked.exists():
        shutil.rmtree(parked, ignore_errors=True)


def _swap_in(staging: Path, out_dir: Path) -> None:
    parked = _parked(out_dir)
    if out_dir.exists():
        os.replace(out_dir, parked)
    os.replace(staging, out_dir)
    shutil.rmtree(parked, ignore_errors=True)


def write_outputs(folder: Path, *, gpkg_layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
                  record: Mapping[str, Any], extras: Callable[[Path], None] | None = None) -> None:
    """Write the GeoPackage, then any extra files, then run.json last (the completion marker)."""
    try:
        _write_gpkg(folder / "sinkzones.gpkg", gpkg_layers)
        if extras is not None:
            extras(folder)
        tmp = folder / "run.json.tmp"
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, folder / "run.json")
    except OSError as exc:
        raise OutputError(f"{folder}: writing the outputs failed ({exc.strerror or exc}); "
                          "the previous output is untouched") from exc


def block_aligned_chunks(info: RasterInfo, *, target_cells: int) -> tuple[int, int]:
    """Chunk shape made of whole storage blocks, holding about target_cells² cells.

    Strip-stored files (blocks as wide as the raster) get full-width chunks of many strips.
    """
    block_rows, block_cols = info.block_shape
    height, width = info.grid.shape
    cols = min(width, block_cols * max(1, target_cells // block_cols))
    rows = block_rows * max(1, (target_cells * target_cells // cols) // block_rows)
    return int(min(rows, height)), int(cols)
