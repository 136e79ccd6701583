"""The one small interface both back ends of the history store implement, and the opening of a store by its target:
a GeoPackage path (`history.gpkg`) or a PostgreSQL URL (`postgresql://user@host/db`).

SQL is written once, with `?` placeholders; each back end adapts it. Every write happens inside `writing()`: one
transaction that also keeps other writers out until it commits or rolls back.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

import pipeline
from pipeline.core.errors import StoreError
from pipeline.record.schema import LATEST, MIGRATIONS, Dialect


class Store(ABC):
    dialect: Dialect
    target: str

    @abstractmethod
    def writing(self) -> AbstractContextManager[None]:
        """One transaction that no other writer interleaves with; rolled back on any error."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    @abstractmethod
    def geometry_value(self, wkb: bytes, bounds: tuple[float, float, float, float]) -> Any:
        """A MultiPolygon (WKB, EPSG:4326) as the back end stores it, for the `geom_placeholder` of an INSERT."""

    geom_placeholder = "?"
    wkb_sql = "{}"  # SQL giving the WKB of a geometry column, formatted with the column

    @abstractmethod
    def columns(self, table: str) -> list[str]: ...

    @abstractmethod
    def has_table(self, table: str) -> bool: ...

    @abstractmethod
    def after_migration(self, number: int) -> None:
        """What the back end adds after a migration (a GeoPackage registers new tables and views)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        if not self.has_table("schema_version"):
            return 0
        found = self.query("SELECT MAX(version) AS v FROM schema_version")["v"].iloc[0]
        return 0 if pd.isna(found) else int(found)


def migrate(store: Store, *, upto: int = LATEST) -> list[int]:
    """Apply the migrations the store lacks, each in its own transaction; refuse a store from a newer sinkzone."""
    current = store.schema_version()
    if current > LATEST:
        raise StoreError(f"{store.target}: the history store has schema version {current}, written by a newer "
                         f"sinkzone (this one, {pipeline.__version__}, knows up to {LATEST}): upgrade sinkzone to "
                         "use it; it was left untouched")
    applied = []
    for migration in (m for m in MIGRATIONS if current < m.number <= upto):
        with store.writing():
            if migration.number == 1:
                store.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                              "sinkzone TEXT NOT NULL, applied_utc TEXT NOT NULL)")
            for statement in migration.statements(store.dialect):
                store.execute(statement)
            store.after_migration(migration.number)
            store.execute("INSERT INTO schema_version VALUES (?, ?, ?, ?)",
                          (migration.number, migration.description, pipeline.__version__, utc_now()))
        applied.append(migration.number)
    return applied


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def open_store(target: str, *, create: bool = True, upto: int | None = None) -> Store:
    """The store at `target`, brought to the latest schema (created when `create` and missing)."""
    store: Store
    if "://" in target:
        from pipeline.record.postgis import PostgisStore

        store = PostgisStore(target)
    else:
        from pipeline.record.gpkg import GeoPackageStore

        store = GeoPackageStore(target, create=create)
    try:
        if create:
            migrate(store, upto=LATEST if upto is None else upto)
        elif store.schema_version() < LATEST:
            raise StoreError(f"{target}: the history store has schema version {store.schema_version()} and this "
                             f"sinkzone needs {LATEST}: ingest into it (or run `sinkzone history migrate`) once with "
                             "a role that may change it")
        elif store.schema_version() > LATEST:
            migrate(store)  # refuses with the newer-version message
    except BaseException:
        store.close()
        raise
    return store


def rows(frame: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """A frame's rows as plain Python values, gaps as None (what both drivers bind)."""
    clean = frame.astype(object).where(frame.notna(), None)
    for row in clean.itertuples(index=False, name=None):
        yield tuple(v.item() if hasattr(v, "item") else v for v in row)
