"""The only module that touches files: lazy raster opening, zone reading, atomic output writing."""

from __future__ import annotations

import csv
import hashlib
import io as _stdio
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

from pipeline.errors import MissingCRSError, MissingFileError, OutputError, RasterError, TableError, ZoneError
from pipeline.grid import Grid

log = logging.getLogger(__name__)


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


def raster_info(path: Path) -> RasterInfo:
    """Header of a raster; a missing file, an unreadable file or a missing CRS is an error."""
    _require_file(path)
    try:
        with rasterio.open(path) as src:
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
    arr = rioxarray.open_rasterio(path, chunks={"band": 1, "y": chunks[0], "x": chunks[1]},
                                  lock=False, mask_and_scale=False)
    assert isinstance(arr, xr.DataArray)
    return arr.isel(band=0)


def check_readable(path: Path) -> None:
    """Decode every storage block once (cheap next to the run) so corrupt files fail before compute."""
    try:
        with rasterio.open(path) as src:
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
    """Size, modification time and SHA-256 of a file, to tell whether an input changed."""
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


PLAN_LINE = "_line"


def read_plan_sheet(path: Path) -> pd.DataFrame:
    """A plan-sheet CSV as text columns, with each row's line number in the file in column `_line`.

    Lines starting with '#' are comments (the shipped sheets say there that their targets are
    illustrative); a UTF-8 byte-order mark, as Excel writes it, is accepted.
    """
    _require_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot read the plan sheet as UTF-8 text ({exc})") from exc
    kept = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise TableError(f"{path}: the plan sheet has no header row")
    rows = list(csv.reader(_stdio.StringIO("\n".join(line for _, line in kept))))
    header = [h.strip() for h in rows[0]]
    bad = [n for (n, _), row in zip(kept[1:], rows[1:], strict=True) if len(row) != len(header)]
    if bad:
        raise TableError(f"{path}: line(s) {bad[:10]} do not have the {len(header)} fields of the header "
                         "(quote text that holds commas)")
    frame = pd.DataFrame([[v.strip() for v in row] for row in rows[1:]], columns=header, dtype=str)
    frame[PLAN_LINE] = [n for n, _ in kept[1:]]
    return frame


def read_preview(path: Path, *, bounds: tuple[float, float, float, float],
                 max_side: int) -> tuple[Any, Any]:
    """Band 1 inside `bounds` (raster CRS), decimated by nearest neighbour to at most max_side cells a side.

    For report maps only: a picture, never used for areas. Returns (array, transform of the array).
    """
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as src:
        window = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
        window = window.intersection(Window(0, 0, src.width, src.height))
        scale = max(1.0, max(window.height, window.width) / max_side)
        shape = (max(1, int(window.height / scale)), max(1, int(window.width / scale)))
        data = src.read(1, window=window, out_shape=shape)
        transform = src.window_transform(window) * rasterio.Affine.scale(window.width / shape[1],
                                                                          window.height / shape[0])
    return data, transform


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write files given as {relative path: content} under folder, creating sub-folders."""
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
