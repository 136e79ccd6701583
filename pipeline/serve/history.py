"""The platform's only access to the history store: a few parametrised queries on the names issue 20 fixes
(`runs`, `zone_versions`, `progress`, `region_indicators`, the views `zone_series` and `current_zones`).

Every value travels as a bound parameter; the only text put into SQL is a sort order picked from `SERIES_SORTS`.
The SQL is plain enough for SQLite (GeoPackage) and PostGIS alike; geometries leave as GeoPackage blobs here.
Reading opens the file read-only; the one write is a run's review state, which issue 20 lets a reviewer change.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from pipeline.core.errors import PlatformError

Row = dict[str, Any]
# the zone page's sort names and the SQL each stands for: nothing a visitor types reaches the SQL text
SERIES_SORTS: dict[str, str] = {
    "year": "year, metric",
    "-year": "year DESC, metric",
    "metric": "metric, year",
    "value": "value, metric, year",
    "-value": "value DESC, metric, year",
}
SERIES_COLUMNS = ("year", "metric", "value", "unit", "run_id", "review", "product", "product_version")
REVIEW_STATES = ("draft", "accepted", "superseded")
# a GeoPackage geometry blob: 'GP', version, flags (bits 1-3 give the envelope's kind), srs id (4 bytes),
# envelope, then standard WKB
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


@dataclass(frozen=True)
class History:
    path: Path

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise PlatformError(f"{self.path}: the history store cannot be opened ({exc})") from None
        connection.row_factory = sqlite3.Row
        with closing(connection):
            yield connection

    def rows(self, sql: str, **params: Any) -> list[Row]:
        with self._read() as connection:
            return [dict(row) for row in connection.execute(sql, params)]


def zones(history: History) -> list[Row]:
    """Every current zone with its name, plan status and latest served figures (geometry as a blob)."""
    return [_named(row) for row in history.rows("SELECT * FROM current_zones ORDER BY zone_id")]


def zone(history: History, zone_id: str) -> Row | None:
    found = history.rows("SELECT * FROM current_zones WHERE zone_id = :zone_id", zone_id=zone_id)
    return _named(found[0]) if found else None


def _named(row: Row) -> Row:
    """The zone with a `name`: the zone layer's name field as the run recorded it, else its id."""
    attributes = json.loads(row.get("attributes") or "{}")
    name = attributes.get("name", attributes.get("名称"))
    return {**row, "attributes": attributes, "name": str(name) if name is not None else row["zone_id"]}


def series(history: History, zone_id: str, *, sort: str = "year") -> list[Row]:
    """The zone's served series (zone_series), in one of the whitelisted orders."""
    order = SERIES_SORTS[sort]
    columns = ", ".join(SERIES_COLUMNS)
    return history.rows(f"SELECT {columns} FROM zone_series WHERE zone_id = :zone_id ORDER BY {order}",
                        zone_id=zone_id)


def targets(history: History, zone_id: str, run_id: str | None) -> list[Row]:
    """The plan targets against what was achieved, from the run that serves the zone's latest figures."""
    return history.rows("SELECT metric, unit, latest_year, latest_value, target_value, target_year, pct_of_target, "
                        "status FROM progress WHERE zone_id = :zone_id AND run_id = :run_id ORDER BY metric",
                        zone_id=zone_id, run_id=run_id)


def versions(history: History, zone_id: str) -> list[Row]:
    return history.rows("SELECT version, area_ha, geom_sha256, first_run, last_run FROM zone_versions "
                        "WHERE zone_id = :zone_id ORDER BY version", zone_id=zone_id)


def runs(history: History) -> list[Row]:
    return history.rows("SELECT run_id, name, finished_utc, code_version, review, reviewed_by, reviewed_utc, notes "
                        "FROM runs ORDER BY finished_utc DESC, run_id")


def run(history: History, run_id: str) -> Row | None:
    found = history.rows("SELECT run_id, name, finished_utc, code_version, config, inputs, class_map, review, "
                         "reviewed_by, reviewed_utc, notes FROM runs WHERE run_id = :run_id", run_id=run_id)
    if not found:
        return None
    row = found[0]
    return {**row, **{key: json.loads(row[key] or "null") for key in ("config", "inputs", "class_map")}}


def region(history: History) -> list[Row]:
    """The region's indicators of its latest year against its targets, from the newest accepted run that has them,
    else the newest draft (superseded runs serve nothing, as in zone_series)."""
    return history.rows(
        "SELECT i.region, i.indicator, i.label_zh, i.label_en, i.unit, i.value, i.target, i.target_year, "
        "i.pct_of_target, i.meets_target, i.year, i.run_id FROM region_indicators i WHERE i.run_id = (SELECT "
        "r.run_id FROM runs r WHERE r.review <> 'superseded' AND r.run_id IN (SELECT run_id FROM region_indicators) "
        "ORDER BY CASE r.review WHEN 'accepted' THEN 0 ELSE 1 END, r.finished_utc DESC LIMIT 1) "
        "AND i.year = (SELECT MAX(y.year) FROM region_indicators y WHERE y.run_id = i.run_id) "
        "ORDER BY i.region, i.indicator")


def set_review(history: History, run_id: str, *, review: str, by: str, note: str) -> None:
    """A run's review state, with who and when: the one change the platform makes to the store."""
    if review not in REVIEW_STATES:
        raise PlatformError(f"{review!r} is not a review state; use one of {', '.join(REVIEW_STATES)}")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with closing(sqlite3.connect(history.path, timeout=30)) as connection, connection:
        changed = connection.execute(
            "UPDATE runs SET review = :review, reviewed_by = :by, reviewed_utc = :now, "
            "notes = CASE WHEN :note = '' THEN notes ELSE :note END WHERE run_id = :run_id",
            {"review": review, "by": by, "now": now, "note": note, "run_id": run_id}).rowcount
    if changed != 1:
        raise PlatformError(f"run {run_id!r} is not in the history store {history.path}")


def geometry(blob: bytes | None) -> BaseGeometry | None:
    """A GeoPackage geometry blob as a shapely geometry (None for an empty one)."""
    if not blob:
        return None
    if blob[:2] != b"GP":
        raise PlatformError("a zone geometry is not a GeoPackage geometry blob; is this a history store?")
    envelope = _ENVELOPE_BYTES.get((blob[3] >> 1) & 0b111, 0)
    shape = shapely.from_wkb(blob[8 + envelope:])
    return None if shape.is_empty else shape
