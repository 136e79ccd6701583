"""What a run writes into its staged output folder (files/publish.py swaps it in): the GeoPackage, QGIS project,
workbook and run.json."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors

from pipeline.core.errors import OutputError
from pipeline.core.literal import EXCEL_ROWS, cell_text, csv_text, exact_number
from pipeline.core.names import GPKG_NAME, OUTPUT_MARKER, PROJECT_NAME, RUN_RECORD, STYLE_TABLE
from pipeline.files.xlsx import EMPTY, bool_cell, number_cell, text_cell, write_xlsx

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


def _write_gpkg(path: Path, layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame]) -> None:
    # Arrow batches write millions of table rows several times faster than feature-by-feature writes.
    for name, frame in layers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True, SPATIAL_INDEX="YES")
            else:
                gpd.GeoDataFrame(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True)


def write_outputs(folder: Path, *, gpkg_layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
                  record: Mapping[str, Any], extras: Callable[[Path], None] | None = None) -> None:
    """Write the GeoPackage, then any extra files, then run.json last (the completion marker)."""
    try:
        (folder / OUTPUT_MARKER).write_text("This folder is a sinkzone output: each run replaces it, keeping "
                                            "only files it did not write itself.\n", encoding="utf-8")
        _write_gpkg(folder / GPKG_NAME, gpkg_layers)
        if extras is not None:
            extras(folder)
        write_run_record(folder, record)
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise OutputError(f"{folder.parent}: writing the outputs failed ({_write_failure(folder, exc)}); "
                          "the previous output is untouched") from exc


def write_run_record(folder: Path, record: Mapping[str, Any]) -> None:
    """run.json, written whole under another name and renamed: its presence marks a finished output."""
    tmp = folder / f"{RUN_RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, folder / RUN_RECORD)


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


def write_series(path: Path, *, series: pd.DataFrame, zones: gpd.GeoDataFrame) -> None:
    """`sinkzone history export`: the series as CSV, as a workbook (series and zones), or as a GeoPackage holding
    the zones layer and the series table, by the file's suffix."""
    if path.suffix == ".csv":  # zone ids are user text: literal in a spreadsheet (core/literal.py)
        series.map(lambda v: csv_text(v) if isinstance(v, str) else v).to_csv(path, index=False, encoding="utf-8")
    elif path.suffix == ".xlsx":
        write_workbook(path, {"zone_series": series, "zones": pd.DataFrame(zones.drop(columns=zones.geometry.name))})
    else:
        _write_gpkg(path, {"zones": zones, "zone_series": series})


def _cell(value: object) -> str:
    """A value's cell as Excel should hold it: gaps empty, numbers as numbers (integers past a double's exact range
    as text), text always as literal text (never a formula, control characters replaced; core/literal.py)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return EMPTY
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return bool_cell(value)
    if isinstance(value, int | float):
        value = exact_number(value)
        if not isinstance(value, str):
            return number_cell(value)
    return text_cell(cell_text(str(value))[0])


def _column(values: pd.Series) -> list[str]:
    """A column's cells: floats formatted in one pass, anything else once per distinct value (a class name
    repeats on every row)."""
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        cells = [f"<c><v>{v!r}</v></c>" for v in numbers.tolist()]
        for at in np.flatnonzero(~np.isfinite(numbers)):
            cells[at] = _cell(float(numbers[at]))
        return cells
    seen: dict[tuple[type, object], str] = {}  # keyed by type too: True is not 1
    return [seen[k] if (k := (type(v), v)) in seen else seen.setdefault(k, _cell(v)) for v in values.tolist()]


def write_workbook(path: Path | IO[bytes], sheets: Mapping[str, pd.DataFrame]) -> None:
    """One worksheet per table, into a file or a binary stream (a web download); a table longer than a worksheet
    goes on over `<name> (2)`, `<name> (3)` ...

    Streamed (files/xlsx.py): a worksheet's rows are formatted column by column and deflated in batches."""
    per_sheet = EXCEL_ROWS - 1
    parts: dict[str, Iterable[Sequence[str]]] = {}
    for name, frame in sheets.items():
        for part, start in enumerate(range(0, max(len(frame), 1), per_sheet), start=1):
            parts[name if part == 1 else f"{name} ({part})"] = _rows(frame.iloc[start:start + per_sheet])
    write_xlsx(path, parts)


def _rows(frame: pd.DataFrame) -> Iterator[Sequence[str]]:
    """The header, then the rows; formatted when the worksheet is written, so one worksheet's cells are held."""
    yield [_cell(c) for c in frame.columns]
    yield from zip(*(_column(frame[c]) for c in frame.columns), strict=True)
