"""Output folders: staged beside the target and swapped in whole; the GeoPackage, QGIS project and run.json."""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import shutil
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pyogrio.errors
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from pipeline.core.errors import OutputError
from pipeline.core.names import (
    CACHE_DIR,
    GPKG_NAME,
    OUTPUT_MARKER,
    PROJECT_NAME,
    REPORT_DIR,
    RUN_LOG,
    RUN_RECORD,
    STYLE_TABLE,
    WORKBOOK_NAME,
)

log = logging.getLogger(__name__)


def read_run_record(out_dir: Path) -> dict[str, Any] | None:
    """The run.json of a finished output folder, or None."""
    record = out_dir / RUN_RECORD
    if not record.is_file():
        return None
    try:
        return dict(json.loads(record.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


# what a run writes into its output folder; everything else there is a user's file, carried over on rerun
_WRITTEN = frozenset({GPKG_NAME, f"{GPKG_NAME}-wal", f"{GPKG_NAME}-shm", PROJECT_NAME, RUN_RECORD, RUN_LOG,
                      REPORT_DIR, OUTPUT_MARKER, f"{RUN_RECORD}.tmp", f"{PROJECT_NAME}.tmp", WORKBOOK_NAME,
                      CACHE_DIR})


def output_folder_problem(out_dir: Path, *, inputs: Sequence[Path]) -> str | None:
    """Why sinkzone must not replace `out_dir`, or None when the folder is its own (or new, or empty).

    The output folder is swapped out whole, so it may only be a folder sinkzone wrote: one holding the
    marker, or a previous version's output (run.json, no marker), or an empty or missing folder.
    """
    out_dir = out_dir.resolve()
    held = [p for p in inputs if out_dir == p.resolve() or out_dir in p.resolve().parents]
    if held:
        return (f"{out_dir}: the output folder holds the input {held[0]}; a run replaces its output folder "
                "whole, so choose a new folder of its own for output.dir (or --out)")
    if not out_dir.is_dir():
        return None
    if os.path.ismount(out_dir):
        return (f"{out_dir}: the output folder is a mount point and cannot be replaced; "
                "choose a sub-folder of it for output.dir (or --out)")
    if (out_dir / OUTPUT_MARKER).is_file() or (out_dir / RUN_RECORD).is_file() or not any(out_dir.iterdir()):
        return None
    return (f"{out_dir}: the folder is not empty and is not a sinkzone output folder (no {OUTPUT_MARKER}); "
            "a run replaces its output folder whole, so choose a new or empty folder for output.dir (or --out)")


def _write_gpkg(path: Path, layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame]) -> None:
    # Arrow batches write millions of table rows several times faster than feature-by-feature writes.
    for name, frame in layers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True, SPATIAL_INDEX="YES")
            else:
                gpd.GeoDataFrame(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True)


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


def _carry_over(out_dir: Path, staging: Path) -> None:
    """Copy the files a user put into the output folder into the new output, so a rerun keeps them.

    Copied, not moved: a run killed before its swap leaves the previous folder exactly as it was.
    """
    if not out_dir.is_dir():
        return
    for entry in out_dir.iterdir():
        if entry.name in _WRITTEN or (staging / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, staging / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, staging / entry.name, follow_symlinks=False)


def _swap_in(staging: Path, out_dir: Path) -> None:
    _carry_over(out_dir, staging)
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
        (folder / OUTPUT_MARKER).write_text("This folder is a sinkzone output: each run replaces it, keeping "
                                            "only files it did not write itself.\n", encoding="utf-8")
        _write_gpkg(folder / GPKG_NAME, gpkg_layers)
        if extras is not None:
            extras(folder)
        tmp = folder / f"{RUN_RECORD}.tmp"
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, folder / RUN_RECORD)
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


def write_qgis_package(folder: Path, *, styles: pd.DataFrame, project_xml: str, record: Mapping[str, Any]) -> None:
    """Default styles and run provenance into the GeoPackage, then the project beside it.

    layer_styles goes through GDAL as a table without geometry, as QGIS creates it; the provenance
    goes into GDAL's dataset metadata (gpkg_metadata, scope geopackage), where GDAL and QGIS show it.
    """
    gpkg = folder / GPKG_NAME
    provenance_items = {"SINKZONE_RUN_ID": str(record.get("run_id", "")),
                        "SINKZONE_RUN_JSON": json.dumps(record, ensure_ascii=False, default=str)}
    pyogrio.write_dataframe(styles, gpkg, layer=STYLE_TABLE, driver="GPKG",
                            layer_options={"FID": "id"}, dataset_metadata=provenance_items)
    qgs_name = Path(PROJECT_NAME).with_suffix(".qgs").name
    tmp = folder / f"{PROJECT_NAME}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(qgs_name, project_xml)
    os.replace(tmp, folder / PROJECT_NAME)


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write files given as {relative path: content} under folder, creating sub-folders."""
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


_EXCEL_ROWS = 1_048_576  # rows of one worksheet, the header included


def _cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    """A value as Excel should hold it: gaps empty, numbers as numbers, text always as text (never a formula)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float):
        return value
    cell = WriteOnlyCell(sheet, value=str(value))
    cell.data_type = "s"
    return cell


def write_workbook(path: Path, sheets: Mapping[str, pd.DataFrame]) -> None:
    """One worksheet per table; a table longer than a worksheet goes on over `<name> (2)`, `<name> (3)` ..."""
    book = openpyxl.Workbook(write_only=True)
    per_sheet = _EXCEL_ROWS - 1
    for name, frame in sheets.items():
        for part, start in enumerate(range(0, max(len(frame), 1), per_sheet), start=1):
            sheet = book.create_sheet(name if part == 1 else f"{name} ({part})")
            sheet.append([_cell(sheet, c) for c in frame.columns])
            for row in frame.iloc[start:start + per_sheet].itertuples(index=False):
                sheet.append([_cell(sheet, v) for v in row])
    book.save(path)
