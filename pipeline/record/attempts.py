"""Batch attempts in the history store (`run_attempts`): one row per config a scheduled batch tried, whatever became
of it, so the platform can tell a schedule that works from one that fails night after night."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import UTC, datetime

import pandas as pd

from pipeline.record.backend import Store
from pipeline.record.schema import ATTEMPT_COLUMNS
from pipeline.record.store import open_store

COLUMNS = tuple(name for name, _ in ATTEMPT_COLUMNS)
FAILED = ("failed", "not stored")  # what the failed_run alert raises on
_NEWEST_FIRST = "ORDER BY started_utc DESC, attempt_id DESC"


@dataclass(frozen=True)
class Attempt:
    attempt_id: str
    config_path: str
    config_name: str
    started_utc: str
    finished_utc: str
    status: str  # the batch's: done, up to date, not stored, failed, not run
    detail: str
    run_id: str | None
    host: str


def utc_stamp() -> str:
    """Now in UTC to the microsecond, in a form that sorts as text as it does in time."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_attempt(target: str, attempt: Attempt) -> None:
    """The attempt stored in its own transaction; an attempt already stored (same id) is left as it is."""
    with open_store(target) as store, store.writing():
        if store.query("SELECT attempt_id FROM run_attempts WHERE attempt_id = ?", (attempt.attempt_id,)).empty:
            store.insert("run_attempts", COLUMNS, [astuple(attempt)])


def recent(store: Store, *, limit: int | None = None) -> pd.DataFrame:
    """The attempts, newest first (the `limit` newest when given)."""
    found = store.query(f"SELECT {', '.join(COLUMNS)} FROM run_attempts {_NEWEST_FIRST}"
                        + (" LIMIT ?" if limit is not None else ""), () if limit is None else (limit,))
    return _plain(found)


def failing(store: Store) -> pd.DataFrame:
    """Each config whose latest attempt that ran failed or was not stored, newest first: a later attempt that
    succeeded clears it; one marked "not run" (the batch was stopped before it) leaves the one before standing."""
    latest = ("SELECT a.*, ROW_NUMBER() OVER (PARTITION BY config_path ORDER BY started_utc DESC, attempt_id DESC) "
              "AS pick FROM run_attempts a WHERE status <> 'not run'")
    found = store.query(f"SELECT {', '.join(COLUMNS)} FROM ({latest}) t WHERE pick = 1 AND status IN (?, ?) "
                        f"{_NEWEST_FIRST}", FAILED)
    return _plain(found)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Gaps as None (a run id only some attempts have), as the command line and the pages show them."""
    return frame.astype(object).where(frame.notna(), None)
