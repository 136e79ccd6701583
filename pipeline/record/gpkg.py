"""The history store as one GeoPackage (`history.gpkg`): SQLite with the GeoPackage tables QGIS and GDAL read
(gpkg_contents, gpkg_geometry_columns, gpkg_spatial_ref_sys), so zone_versions and current_zones open as layers.

SQLite's rollback journal (not WAL: no -wal file to lose beside a copied store) makes a transaction all or nothing,
also when the process is killed: the next open rolls a half-written one back. `BEGIN IMMEDIATE` takes the write
lock at the start, so two ingests queue instead of failing halfway.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyproj

from pipeline.core.errors import StoreError, StoreUnavailable
from pipeline.record.backend import Store
from pipeline.record.schema import SPATIAL, SRID, Dialect

_APPLICATION_ID = 0x47504B47  # "GPKG"
_USER_VERSION = 10300  # GeoPackage 1.3, what GDAL 3.6 (QGIS here) reads without a warning
_LOCK_WAIT_S = 60.0  # how long a writer waits for another to commit before the store counts as locked
_CORE = (
    "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT "
    "NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)",
    "CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT "
    "UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT "
    "(strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER "
    "REFERENCES gpkg_spatial_ref_sys (srs_id))",
    "CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name "
    "TEXT NOT NULL, srs_id INTEGER NOT NULL REFERENCES gpkg_spatial_ref_sys (srs_id), z TINYINT NOT NULL, m TINYINT "
    "NOT NULL, PRIMARY KEY (table_name, column_name))",
)


def geometry_blob(wkb: bytes, bounds: tuple[float, float, float, float]) -> bytes:
    """A GeoPackage geometry: header (magic, version 0, little-endian with an xy envelope, SRS id) then the WKB."""
    minx, miny, maxx, maxy = bounds
    return b"GP" + bytes((0, 0b0000_0011)) + struct.pack("<i4d", SRID, minx, maxx, miny, maxy) + wkb


class GeoPackageStore(Store):
    dialect: Dialect = "gpkg"
    wkb_sql = "substr({}, 41)"  # the WKB after the 40-byte header geometry_blob writes

    def __init__(self, path: str, *, create: bool) -> None:
        self.target = path
        exists = Path(path).exists()
        if not exists and not create:
            raise StoreError(f"{path}: no history store here; ingest a run into it first (sinkzone ingest OUTPUT "
                             "--history PATH)")
        try:
            self._db = sqlite3.connect(path, timeout=_LOCK_WAIT_S, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            if not exists or self._empty():
                self._create()
            self._check()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a history store ({exc}); name a history GeoPackage, or a new file") \
                from exc

    def _empty(self) -> bool:
        return self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0

    def _create(self) -> None:
        with self.writing():
            if not self._empty():
                return  # another process made it while this one waited for the lock
            self._db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            self._db.execute(f"PRAGMA user_version = {_USER_VERSION}")
            for statement in _CORE:
                self._db.execute(statement)
            self._db.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", [
                ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate system"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate system"),
                ("WGS 84 geodetic", SRID, "EPSG", SRID, pyproj.CRS.from_epsg(SRID).to_wkt(), "longitude/latitude")])

    def _check(self) -> None:
        app = self._db.execute("PRAGMA application_id").fetchone()[0]
        if app != _APPLICATION_ID or not self.has_table("schema_version") and self._has_user_tables():
            raise StoreError(f"{self.target}: a file that is not a sinkzone history store (a run's own GeoPackage?); "
                             "name a history GeoPackage, or a new file such as history.gpkg")

    def _has_user_tables(self) -> bool:
        return bool(self._db.execute("SELECT COUNT(*) FROM gpkg_contents").fetchone()[0]) \
            if self.has_table("gpkg_contents") else True

    @contextmanager
    def writing(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.target}: the history store is locked by another writer ({exc}) after "
                                   f"waiting {_LOCK_WAIT_S:.0f} s; try again when it is done") from exc
        try:
            yield
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            kind = StoreUnavailable if "full" in str(exc) else StoreError
            raise kind(f"{self.target}: writing the history store failed ({exc}); nothing of this transaction was "
                       "stored" + (": free some space on that disk and ingest again" if "full" in str(exc) else ""))\
                from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._db.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        cursor = self._db.execute(sql, tuple(params))
        return pd.DataFrame.from_records(cursor.fetchall(), columns=[c[0] for c in cursor.description])

    def geometry_value(self, wkb: bytes, bounds: tuple[float, float, float, float]) -> Any:
        return geometry_blob(wkb, bounds)

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]

    def has_table(self, table: str) -> bool:
        found = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')",
                                 (table,)).fetchone()
        return found is not None

    def after_migration(self, number: int) -> None:
        """Every new table and view listed in gpkg_contents (QGIS shows them), the spatial ones as features."""
        listed = {row[0] for row in self._db.execute("SELECT table_name FROM gpkg_contents")}
        made = [row[0] for row in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'gpkg_%' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        for name in (n for n in made if n not in listed):
            spatial = name in SPATIAL
            self._db.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                             "VALUES (?, ?, ?, ?)",
                             (name, "features" if spatial else "attributes", name, SRID if spatial else None))
            if spatial:
                self._db.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'MULTIPOLYGON', ?, 0, 0)",
                                 (name, SRID))

    def close(self) -> None:
        self._db.close()
