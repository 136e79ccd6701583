"""The one small interface both back ends of the history store implement (record/store.py opens one).

SQL is written once, with `?` placeholders; each back end adapts it. Every write happens inside `writing()`: one
transaction that also keeps other writers out until it commits or rolls back.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

from pipeline.record.schema import Dialect


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

    def insert(self, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]]) -> None:
        """Many rows into a table (PostGIS copies them in); `columns` quoted as SQL identifiers."""
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         values)

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

    def migrations(self) -> set[int]:
        """The numbers of the migrations applied (a store made on another branch may hold 5 before 4)."""
        if not self.has_table("schema_version"):
            return set()
        return {int(v) for v in self.query("SELECT version FROM schema_version")["version"]}


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """A frame's rows as plain Python values, gaps as None (what both drivers bind); converted a column at a time,
    as numpy's tolist does it fastest."""
    columns = [frame[c].astype(object).where(frame[c].notna(), None).tolist() if frame[c].hasnans or
               frame[c].dtype == object else frame[c].to_numpy().tolist() for c in frame.columns]
    return list(zip(*columns, strict=True))
