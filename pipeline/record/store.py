"""Opening the history store by its target, a GeoPackage path (`history.gpkg`) or a PostgreSQL URL
(`postgresql://user@host/db`), and bringing it to this sinkzone's schema with the numbered migrations."""

from __future__ import annotations

import pipeline
from pipeline.core.errors import StoreError
from pipeline.record.backend import Store, utc_now
from pipeline.record.schema import LATEST, MIGRATIONS, Migration


def migrate(store: Store, *, upto: int = LATEST) -> list[int]:
    """Apply the migrations the store lacks, each in its own transaction; refuse a store from a newer sinkzone."""
    current = store.schema_version()
    if current > LATEST:
        raise StoreError(f"{store.target}: the history store has schema version {current}, written by a newer "
                         f"sinkzone (this one, {pipeline.__version__}, knows up to {LATEST}): upgrade sinkzone to "
                         "use it; it was left untouched")
    applied = []
    for migration in lacking(store, upto=upto):
        with store.writing():
            if migration.number in store.migrations():
                continue  # another process applied it while this one waited for the lock
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


def lacking(store: Store, *, upto: int = LATEST) -> list[Migration]:
    """The migrations up to `upto` the store has not applied, in order: numbers are compared one by one, not with
    the highest, as branches developed apart may have given a store a later number before an earlier one."""
    have = store.migrations()
    return [m for m in MIGRATIONS if m.number <= upto and m.number not in have]


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
        elif lacking(store):
            missing = ", ".join(str(m.number) for m in lacking(store))
            raise StoreError(f"{target}: the history store lacks schema migration(s) {missing} this sinkzone needs: "
                             "ingest into it (or run `sinkzone history migrate`) once with a role that may change it")
        elif store.schema_version() > LATEST:
            migrate(store)  # refuses with the newer-version message
    except BaseException:
        store.close()
        raise
    return store
