"""One finished run into the history store, in one transaction: its record, its epochs, the zone versions it
measured and every figure it wrote. A run already stored (same run id) is left as it is.

A zone's version changes when its boundary or its source attributes do; figures point at the version they were
measured on, so an edited boundary never re-labels an older run's figures. Zone sets (a zones file and layer)
are kept apart: two sets may use the same ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.files.run_output import RunOutput, read_run_output
from pipeline.record.backend import Store, rows, utc_now
from pipeline.record.current import write_current_zones
from pipeline.record.schema import FIGURES, KEY_COLUMNS, SRID, Figures, Kind, column_type
from pipeline.record.store import open_store

LAYERS = tuple(layer for fig in FIGURES for layer in fig.layers)
_BATCH_ROWS = 200_000
_DIGITS = 9  # degrees rounded to ~0.1 mm before hashing: the same boundary read twice hashes the same


@dataclass(frozen=True)
class Ingested:
    run_id: str
    stored: bool  # False: the run was already in the store, nothing changed
    new_zone_versions: int = 0
    figure_rows: int = 0


def ingest_folder(folder: Path, *, target: str) -> Ingested:
    """Check an output folder whole, then store it; the store is opened only for a folder worth storing."""
    output = read_run_output(folder, tables=LAYERS)
    with open_store(target) as store:
        return ingest(store, output)


def zone_set(record: Mapping[str, Any]) -> str:
    """A zone set is a zones file and layer: ids mean something only within one."""
    zones = record["config"].get("zones") or {}
    return f"{zones.get('path')}|{zones.get('layer') or ''}"


def ingest(store: Store, output: RunOutput) -> Ingested:
    record = output.record
    rid = str(record["run_id"])
    zones = _zone_rows(output.zones)
    figures = _figure_frames(output)
    with store.writing():
        if not store.query("SELECT run_id FROM runs WHERE run_id = ?", (rid,)).empty:
            return Ingested(run_id=rid, stored=False)
        _insert_run(store, output)
        versions, added = _zone_versions(store, zones, zone_set=zone_set(record), rid=rid,
                                         finished=str(record["finished_utc"]))
        count = 0
        for fig, frame in figures:
            version = frame["zone_id"].map(versions).astype("Int64")
            count += _insert_figures(store, fig, frame.assign(zone_version=version))
        write_current_zones(store, zone_set=zone_set(record))
    return Ingested(run_id=rid, stored=True, new_zone_versions=added, figure_rows=count)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _epochs(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each epoch's year, product, version, path and SHA-256 (from the run's input fingerprints)."""
    sha = {str(p.get("path")): p.get("sha256") for p in record["inputs"]}
    return [{"year": e["year"], "product": e.get("product"), "product_version": e.get("version"),
             "path": str(e["path"]), "sha256": sha.get(str(e["path"]))} for e in record["config"]["landcover"]]


def _insert_run(store: Store, output: RunOutput) -> None:
    record = output.record
    epochs = _epochs(record)
    store.execute("INSERT INTO runs (run_id, name, finished_utc, code_version, config, inputs, class_map, review, "
                  "zone_set, output_dir, ingested_utc) VALUES (?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?)",
                  (record["run_id"], record["config"].get("name", ""), record["finished_utc"],
                   str(record["versions"].get("sinkzone", "")), _json(record["config"]),
                   _json({"epochs": epochs, "files": record["inputs"]}), _json(record["class_map"]),
                   zone_set(record), str(output.folder.resolve()), utc_now()))
    store.executemany("INSERT INTO run_epochs VALUES (?, ?, ?, ?, ?, ?)",
                      [(record["run_id"], e["year"], e["product"], e["product_version"], e["path"], e["sha256"])
                       for e in epochs])


def _zone_rows(zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """zone_id, MultiPolygon in WGS 84 with its WKB, bounds and hash, area, and the source attributes as JSON.

    The zones layer holds zone_id, the source attributes, then the fields the stages add, the first of which is
    always area_ha (class_area runs first): the attributes are the columns between the two.
    """
    columns = [c for c in zones.columns if c != zones.geometry.name]
    end = columns.index("area_ha") if "area_ha" in columns else len(columns)
    attributes = zones[columns[1:end]].astype(object).where(zones[columns[1:end]].notna(), None)
    geoms = zones.geometry.to_crs(epsg=SRID).to_numpy() if zones.crs is not None else zones.geometry.to_numpy()
    multi = np.array([g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon(
        [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]) for g in geoms], dtype=object)
    rounded = shapely.transform(multi, lambda xy: np.round(xy, _DIGITS))
    return pd.DataFrame({
        "zone_id": zones["zone_id"].astype(str).to_numpy(),
        "wkb": shapely.to_wkb(multi), "bounds": list(map(tuple, shapely.bounds(multi))),
        "sha": [hashlib.sha256(w).hexdigest() for w in shapely.to_wkb(rounded)],
        "area_ha": zones["area_ha"].to_numpy() if "area_ha" in zones else None,
        "attributes": [_json(row) for row in attributes.to_dict("records")],
    })


def _canonical(value: Any) -> str:
    """Stored attributes as text in one form (PostgreSQL hands jsonb back as a dict, SQLite as the text)."""
    return _json(value if isinstance(value, dict | list) else json.loads(value))


def _zone_versions(store: Store, zones: pd.DataFrame, *, zone_set: str, rid: str,
                   finished: str) -> tuple[dict[str, int], int]:
    """Each zone's version: an existing one with the same boundary and attributes, else a new one."""
    known = store.query("SELECT zone_id, version, geom_sha256, attributes FROM zone_versions WHERE zone_set = ?",
                        (zone_set,))
    match = {(z, s, _canonical(a)): int(v) for z, v, s, a in known.itertuples(index=False, name=None)}
    newest = known.groupby("zone_id")["version"].max().astype(int).to_dict() if len(known) else {}
    versions: dict[str, int] = {}
    new, seen = [], []
    for zone_id, wkb, bounds, sha, area_ha, attributes in zones[
            ["zone_id", "wkb", "bounds", "sha", "area_ha", "attributes"]].itertuples(index=False, name=None):
        found = match.get((zone_id, sha, attributes))
        if found is None:
            found = newest.get(zone_id, 0) + 1
            new.append((store.geometry_value(wkb, bounds), zone_set, zone_id, found, sha,
                        None if area_ha is None or pd.isna(area_ha) else float(area_ha), attributes, rid, rid))
        else:
            seen.append((rid, zone_set, zone_id, found))
        versions[zone_id] = found
    store.executemany("INSERT INTO zone_versions (geom, zone_set, zone_id, version, geom_sha256, area_ha, attributes, "
                      f"first_run, last_run) VALUES ({store.geom_placeholder}, ?, ?, ?, ?, ?, ?, ?, ?)", new)
    for end, compare in (("last_run", "<"), ("first_run", ">")):
        store.executemany(f"UPDATE zone_versions SET {end} = ? WHERE zone_set = ? AND zone_id = ? AND version = ? AND "
                          f"(SELECT finished_utc FROM runs WHERE run_id = {end}) {compare} ?",
                          [(*row, finished) for row in seen])
    return versions, len(new)


def _figure_frames(output: RunOutput) -> list[tuple[Figures, pd.DataFrame]]:
    """Each long table's rows from the run's tables: run id, zone id, year, then the run's own columns."""
    made = []
    for fig in FIGURES:
        parts = [output.tables[layer] for layer in fig.layers if layer in output.tables]
        if not parts:
            continue
        frame = pd.concat(parts, ignore_index=True)
        zone_ids = frame["zone_id"].astype(str) if "zone_id" in frame else pd.Series(None, index=frame.index)
        keys = pd.DataFrame({"run_id": str(output.record["run_id"]), "zone_id": zone_ids,
                             "year": frame.get(fig.year_from)}, index=frame.index)
        made.append((fig, pd.concat([keys, frame.drop(columns=["zone_id", "year"], errors="ignore")], axis=1)))
    return made


def ident(name: str) -> str:
    """A column name as a quoted SQL identifier (the run's column names are data, not code)."""
    return '"' + name.replace('"', '""') + '"'


def _kind(series: pd.Series) -> Kind:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    return "real" if pd.api.types.is_numeric_dtype(series) else "text"


def _insert_figures(store: Store, fig: Figures, frame: pd.DataFrame) -> int:
    """The rows into the long table; a column a newer run's table brings is added to the store (nullable)."""
    have = set(store.columns(fig.name))
    for column in (c for c in frame.columns if c not in have):
        kind = column_type(_kind(frame[column]), store.dialect)
        store.execute(f"ALTER TABLE {fig.name} ADD COLUMN {ident(column)} {kind}")
    ordered = frame[[c for c, _ in KEY_COLUMNS] + [c for c in frame.columns if c not in dict(KEY_COLUMNS)]]
    # whole numbers held as floats beside a gap (a carbon row without a source) go in as integers
    whole = [c for c, kind in (*KEY_COLUMNS, *fig.columns) if kind == "int" and c in ordered]
    ordered = ordered.astype(dict.fromkeys(whole, "Int64")).sort_values(["zone_id", "year"], kind="stable")
    names = [ident(c) for c in ordered.columns]
    for start in range(0, len(ordered), _BATCH_ROWS):  # a 小班 run's millions of rows, a slice at a time
        store.insert(fig.name, names, rows(ordered.iloc[start:start + _BATCH_ROWS]))
    return len(ordered)
