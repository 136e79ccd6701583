"""The history store in PostgreSQL 15 + PostGIS, for a bureau that shares one: the same schema as the GeoPackage.

Roles: the owner applies migrations, a writer ingests and reviews, a reader (QGIS, web pages) only selects; the
README gives the commands that make them. Ingests queue on one transaction-scoped advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psycopg
import psycopg.errors

from pipeline.core.errors import StoreError, StoreUnavailable
from pipeline.record.backend import Store
from pipeline.record.schema import Dialect

_INGEST_LOCK = 0x5A11  # the advisory lock every writer of a store takes for its transaction
_CONNECT_TIMEOUT_S = 10


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"


def _adapted(sql: str) -> str:
    """`?` placeholders as psycopg's `%s`; a literal % doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgisStore(Store):
    dialect: Dialect = "postgis"
    geom_placeholder = "ST_GeomFromWKB(?, 4326)"
    wkb_sql = "ST_AsBinary({})"

    def __init__(self, url: str) -> None:
        self.target = _shown(url)
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"{self.target}: cannot connect to the history store ({str(exc).strip()}); check "
                                   "the server is running and the user and password") from exc

    @contextmanager
    def writing(self) -> Iterator[None]:
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_INGEST_LOCK,))
                yield
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(f"{self.target}: this role may not change the history store ({str(exc).strip()}); "
                             "connect as the writer role (the owner role for a new schema version)") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"{self.target}: the connection to the history store broke ({str(exc).strip()});"
                                   " nothing of this transaction was stored: try again") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._db.execute(_adapted(sql) if params else sql, tuple(params) or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._db.cursor() as cursor:
                cursor.executemany(_adapted(sql), rows)

    def insert(self, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]]) -> None:
        """COPY: several times faster than INSERTs for the millions of rows of a 小班 run."""
        with self._db.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        try:
            with self._db.cursor() as cursor:
                cursor.execute(_adapted(sql) if params else sql, tuple(params) or None)
                names = [c.name for c in cursor.description or ()]
                return pd.DataFrame.from_records(cursor.fetchall(), columns=names)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(f"{self.target}: this role may not read the history store ({str(exc).strip()}); "
                             "connect as the reader role") from exc

    def geometry_value(self, wkb: bytes, bounds: tuple[float, float, float, float]) -> Any:
        return wkb

    def columns(self, table: str) -> list[str]:
        found = self.query("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                           "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
        return [str(c) for c in found["column_name"]]

    def has_table(self, table: str) -> bool:
        return bool(self.query("SELECT to_regclass(?) IS NOT NULL AS found", (table,))["found"].iloc[0])

    def after_migration(self, number: int) -> None:
        """Nothing: PostGIS registers geometry columns itself, and default privileges grant the roles."""

    def close(self) -> None:
        self._db.close()
