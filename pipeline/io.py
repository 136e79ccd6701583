"""The only module that touches files: lazy raster opening, zone reading, atomic output writing."""

from __future__ import annotations

import csv
import ctypes
import errno
import fcntl
import glob
import hashlib
import importlib.resources
import io as _stdio
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pyproj
import rasterio
import rioxarray
import xarray as xr
from rasterio.errors import RasterioError, RasterioIOError

from pipeline.errors import MissingCRSError, MissingFileError, OutputError, RasterError, TableError, ZoneError
from pipeline.grid import Grid
from pipeline.mosaic import Tile, vrt_xml
from pipeline.qgis_project import GPKG_NAME, PROJECT_NAME, QgisPackage, StyleRow

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
        with rasterio.open(source.gdal) as src:
            return src.read(1, window=window)
    except RasterioError as exc:
        raise _corrupt(source.path, _first_bad_block(source.gdal, window), exc) from exc


def _first_bad_block(gdal_source: str, window: rasterio.windows.Window) -> str:
    """Which storage block of a window fails to decode (only looked for once a read has failed)."""
    with rasterio.open(gdal_source) as src:
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
        with rasterio.open(raster_source(path)) as src:
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
        try:
            _swap_in(staging, out_dir)
        except OSError as exc:
            raise OutputError(f"{out_dir}: moving the finished output in place failed ({exc.strerror}); "
                              "the previous output is untouched") from exc
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
    _fsync_tree(staging)
    if out_dir.exists() and _exchange(staging, out_dir):
        _fsync_dir(out_dir.parent)
        return  # staging now holds the old output; staged_output removes it
    parked = _parked(out_dir)
    if out_dir.exists():
        os.replace(out_dir, parked)
    os.replace(staging, out_dir)
    _fsync_dir(out_dir.parent)
    shutil.rmtree(parked, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2); False where the system cannot.

    With it the output folder exists at every instant; without it a kill between the two renames
    leaves the previous output parked, and the next run puts it back.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    return int(renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)) == 0


def _fsync_tree(folder: Path) -> None:
    """Flush the staged files to disk before they replace the output, so a power cut cannot swap in holes."""
    for path in folder.iterdir():
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise OutputError(f"{folder.parent}: writing the outputs failed ({_write_failure(folder, exc)}); "
                          "the previous output is untouched") from exc


def _write_failure(folder: Path, exc: Exception) -> str:
    """Why a write failed, in words; GDAL reports a full disk as an SQLite error, so check the space left."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if getattr(exc, "errno", None) == errno.ENOSPC or (free is not None and free < 1 << 20):
        return f"the disk is full, {free or 0:,} bytes free: free some space and run again"
    return str(getattr(exc, "strerror", None) or exc)


def block_aligned_chunks(info: RasterInfo, *, target_cells: int) -> tuple[int, int]:
    """Chunk shape made of whole storage blocks, holding about target_cells² cells.

    Strip-stored files (blocks as wide as the raster) get full-width chunks of many strips.
    """
    block_rows, block_cols = info.block_shape
    height, width = info.grid.shape
    cols = min(width, block_cols * max(1, target_cells // block_cols))
    rows = block_rows * max(1, (target_cells * target_cells // cols) // block_rows)
    return int(min(rows, height)), int(cols)


def read_csv_table(spec: str, *, builtins: Mapping[str, str]) -> tuple[pd.DataFrame, str]:
    """A factor table: a built-in name (a CSV shipped in pipeline/tables) or a CSV path; and its label."""
    if spec in builtins:
        resource = importlib.resources.files("pipeline") / "tables" / builtins[spec]
        with resource.open("r", encoding="utf-8") as fh:
            return pd.read_csv(fh, dtype={"class": str, "lucode": str, "species": str}), f"{spec} (built-in)"
    path = Path(spec)
    if not path.suffix == ".csv":
        raise TableError(f"{spec}: not a built-in table ({', '.join(builtins)}) nor a .csv file")
    _require_file(path)
    try:
        frame = pd.read_csv(path, dtype={"class": str, "lucode": str, "species": str, "zone_id": str},
                            encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: not a readable CSV table ({exc})") from exc
    return frame, str(path)


# ---- QGIS package: default styles, provenance metadata and the project file ------------------------

_STYLE_TABLE = "layer_styles"


def _style_frame(rows: Sequence[StyleRow]) -> pd.DataFrame:
    """layer_styles rows with the columns QGIS itself creates (QgsOgrProviderMetadata::saveStyle)."""
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame({
        "f_table_catalog": "", "f_table_schema": "",
        "f_table_name": [r.table for r in rows], "f_geometry_column": [r.geometry_column for r in rows],
        "styleName": [r.style.name for r in rows], "styleQML": [r.style.qml for r in rows], "styleSLD": "",
        "useAsDefault": True, "description": [r.style.title for r in rows], "owner": "", "ui": "",
        "update_time": now,
    })


def write_qgis_package(folder: Path, *, package: QgisPackage, record: Mapping[str, Any]) -> None:
    """Default styles and run provenance into the GeoPackage, then the project beside it.

    layer_styles goes through GDAL as a table without geometry, as QGIS creates it; the provenance
    goes into GDAL's dataset metadata (gpkg_metadata, scope geopackage), where GDAL and QGIS show it.
    """
    gpkg = folder / GPKG_NAME
    provenance_items = {"SINKZONE_RUN_ID": str(record.get("run_id", "")),
                        "SINKZONE_RUN_JSON": json.dumps(record, ensure_ascii=False, default=str)}
    pyogrio.write_dataframe(_style_frame(package.style_rows), gpkg, layer=_STYLE_TABLE, driver="GPKG",
                            layer_options={"FID": "id"}, dataset_metadata=provenance_items)
    qgs_name = Path(PROJECT_NAME).with_suffix(".qgs").name
    tmp = folder / f"{PROJECT_NAME}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(qgs_name, package.project_xml)
    os.replace(tmp, folder / PROJECT_NAME)


# ---- unattended runs: writability, one lock per output folder, run logs, leftovers of killed runs ----


def check_writable(out_dir: Path) -> None:
    """The output folder can be created beside its siblings: probe its nearest existing ancestor."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: the output path is a file, not a folder; choose another output folder")
    ancestor = out_dir.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{out_dir}: cannot be created because {ancestor} is a file, not a folder; "
                          "choose another output folder")
    try:
        tempfile.TemporaryFile(dir=ancestor).close()
    except OSError as exc:
        raise OutputError(f"{out_dir}: the folder {ancestor} is not writable ({exc.strerror}); "
                          "choose another output folder or fix its permissions") from exc


def lock_path(out_dir: Path) -> Path:
    out_dir = out_dir.resolve()
    return out_dir.parent / f"{out_dir.name}.lock"


@contextmanager
def output_lock(out_dir: Path) -> Iterator[str]:
    """Hold the lock file beside `out_dir` for the whole run, so two runs never write one output.

    The lock is an flock on the file, so the kernel releases it when its process dies, even by SIGKILL;
    the file's text (pid, host, start time) only tells people who holds it. A lock file found with
    text but no flock was left by a dead process: it is taken over, and its text is yielded so the
    caller can log the takeover ("" when the lock was free).
    """
    path = lock_path(out_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, stale = _acquire_lock(path, out_dir.resolve())
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the lock file ({exc.strerror}); "
                          "choose a writable output folder") from exc
    try:
        yield stale
    finally:
        with suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                os.unlink(path)
        os.close(fd)


def _acquire_lock(path: Path, out_dir: Path) -> tuple[int, str]:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown holder"
            os.close(fd)
            raise OutputError(f"{out_dir}: another run is writing this output ({holder}); "
                              "wait for it to finish, or give this run another output folder") from None
        # a releasing holder unlinks the file: a lock on an unlinked inode locks nothing, so start again
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        stale = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        mine = {"pid": os.getpid(), "host": socket.gethostname(),
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(mine).encode(), 0)
        os.fsync(fd)
        return fd, stale


def clear_leftovers(out_dir: Path, *, own_log: Path) -> None:
    """Remove what killed runs left beside `out_dir`; call only while holding its lock."""
    out_dir = out_dir.resolve()
    recover_parked(out_dir)
    for staging in out_dir.parent.glob(f".{out_dir.name}.staging-*"):
        shutil.rmtree(staging, ignore_errors=True)
        log.warning("removed %s, the unfinished output of an interrupted run", staging)
    for orphan in out_dir.parent.glob(f".{out_dir.name}.run-*.log.jsonl"):
        if orphan == own_log:
            continue
        kept = kept_log_path(orphan, "interrupted")
        os.replace(orphan, kept)
        log.warning("an earlier run of %s was interrupted; its log is kept as %s", out_dir, kept)


def run_log_path(out_dir: Path) -> Path:
    """Where a run logs while it runs: a hidden file beside the output, moved in with the output."""
    out_dir = out_dir.resolve()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return out_dir.parent / f".{out_dir.name}.run-{stamp}-{os.getpid()}.log.jsonl"


def kept_log_path(run_log: Path, outcome: str) -> Path:
    """Where the log of a run that left no output is kept, visible beside the output folder."""
    return run_log.with_name(run_log.name.replace(".run-", f".{outcome}-").lstrip("."))


def open_run_log(path: Path) -> logging.FileHandler:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the run log ({exc.strerror}); "
                          "choose a writable output folder") from exc


def move_file(source: Path, target: Path) -> None:
    """Rename a file; an open log handle keeps writing to it at its new place."""
    os.replace(source, target)


def remove_file(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def list_configs(folder: Path) -> list[Path]:
    """The run configs of a batch folder, in name order."""
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: batch folder not found")
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


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
