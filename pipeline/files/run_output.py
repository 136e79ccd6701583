"""A finished output folder read back whole, for the history store: its run.json and the GeoPackage layers it lists,
checked against each other so that a half-written, foreign or edited folder is refused before anything is stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors

from pipeline.core.errors import StoreError
from pipeline.core.names import GPKG_NAME, RUN_RECORD, ZONES
from pipeline.files.output import read_run_record
from pipeline.files.publish import read_manifest

# what an ingest needs of run.json; a record without any of them was not written whole by a finished run
_RECORD_KEYS = ("run_id", "finished_utc", "config", "inputs", "rows", "versions", "class_map")


@dataclass(frozen=True)
class RunOutput:
    folder: Path
    record: Mapping[str, Any]
    zones: gpd.GeoDataFrame
    tables: Mapping[str, pd.DataFrame]


def read_run_output(folder: Path, *, tables: tuple[str, ...]) -> RunOutput:
    """run.json and the zones layer plus those of `tables` the run wrote, each with the row count run.json gives."""
    record = _complete_record(folder)
    gpkg = folder / GPKG_NAME
    _unchanged(folder, gpkg)
    rows: Mapping[str, int] = record["rows"]
    try:
        zones = pyogrio.read_dataframe(gpkg, layer=ZONES)
        read = {name: pyogrio.read_dataframe(gpkg, layer=name, read_geometry=False)
                for name in tables if name in rows}
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise StoreError(f"{gpkg}: cannot be read as the run's GeoPackage ({exc}); run the config again") from exc
    for name, frame in {ZONES: zones, **read}.items():
        if len(frame) != rows.get(name):
            raise StoreError(f"{gpkg}: layer {name} holds {len(frame)} rows and {RUN_RECORD} says {rows.get(name)}: "
                             "the files do not match the run; run the config again and ingest its new output")
    return RunOutput(folder=folder, record=record, zones=zones, tables=read)


def _complete_record(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise StoreError(f"{folder}: no such output folder; name the folder a run wrote (its output.dir)")
    record = read_run_record(folder)
    missing = [k for k in _RECORD_KEYS if k not in (record or {})]
    if record is None or missing:
        what = f"no readable {RUN_RECORD}" if record is None else f"{RUN_RECORD} lacks {', '.join(missing)}"
        raise StoreError(f"{folder}: {what}: not a finished sinkzone output (a foreign folder, or a run still "
                         "writing or killed); ingest the output folder of a finished run")
    return record


def _unchanged(folder: Path, gpkg: Path) -> None:
    """The GeoPackage as the run left it: the folder's manifest lists its size and time (outputs since the one-writer
    change keep one)."""
    if not gpkg.is_file():
        raise StoreError(f"{gpkg}: missing beside {RUN_RECORD}; the folder does not hold the run's files: run the "
                         "config again")
    stamp = (read_manifest(folder) or {}).get(GPKG_NAME)
    st = gpkg.stat()
    if stamp is not None and stamp != (st.st_size, st.st_mtime_ns):
        raise StoreError(f"{gpkg}: changed since the run wrote it (edited in QGIS?), so its figures may not be the "
                         "run's; run the config again (--overwrite) and ingest the new output")
