"""Batches: every config of a folder run in turn; whatever one config does is recorded and the batch goes on.

Each config's attempt (its status, when, why) is also kept in the history store its run goes to (`run_attempts`),
so the platform sees a scheduled run that failed; a config with no store records nothing."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.core.config import Overrides
from pipeline.core.errors import SinkzoneError
from pipeline.inputs.run_config import load_config
from pipeline.record.attempts import Attempt, record_attempt, utc_stamp
from pipeline.run.guarded_run import guarded_run

log = logging.getLogger(__name__)


Status = Literal["done", "up to date", "not stored", "failed", "not run"]


@dataclass(frozen=True)
class BatchOutcome:
    config: Path
    status: Status
    detail: str
    seconds: float
    started_utc: str = field(default_factory=utc_stamp)
    finished_utc: str = field(default_factory=utc_stamp)
    run_id: str | None = None
    attempt_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class _Start:
    """When a config's attempt began: in UTC for the store, on the monotonic clock for its seconds."""

    utc: str = field(default_factory=utc_stamp)
    clock: float = field(default_factory=time.perf_counter)

    def outcome(self, path: Path, status: Status, detail: str, *, run_id: str | None = None) -> BatchOutcome:
        return BatchOutcome(path, status, detail, time.perf_counter() - self.clock, started_utc=self.utc,
                            run_id=run_id)


def run_batch(configs: Sequence[Path], *, overwrite: bool = False, history: str | None = None) -> list[BatchOutcome]:
    """Run every config in turn; whatever one config does, it is recorded and the batch goes on.

    A Ctrl-C stops the batch: the configs not started are recorded as "not run". `history` is a store every run is
    ingested into (else each config's own `history`); a run the store did not take is "not stored". Each outcome is
    recorded as an attempt in that store as soon as it is known.
    """
    outcomes: list[BatchOutcome] = []
    for n, path in enumerate(configs):
        start = _Start()
        try:
            outcomes.append(_batch_run(path, overwrite=overwrite, history=history, start=start))
            _record_attempts(outcomes[-1:], history=history)
        except KeyboardInterrupt:
            if len(outcomes) == n:  # stopped in the run, not while its attempt was being recorded
                outcomes.append(start.outcome(path, "failed", "interrupted; its previous output is untouched"))
            outcomes += [BatchOutcome(p, "not run", "", 0.0) for p in configs[n + 1:]]
            _record_after_stop(outcomes[n:], history=history)
            break
    return outcomes


def _batch_run(path: Path, *, overwrite: bool, history: str | None, start: _Start) -> BatchOutcome:
    try:
        result = guarded_run(load_config(path, Overrides(history=history)), overwrite=overwrite)
    except (SinkzoneError, SystemExit) as exc:  # a library that exits must not end the whole batch
        detail = str(exc) if isinstance(exc, SinkzoneError) else f"exited with code {exc.code}"
        log.error("%s failed: %s", path, detail)
        return start.outcome(path, "failed", detail)
    except Exception as exc:  # a bug while reading a config, outside the run's own log
        log.exception("%s failed unexpectedly", path)
        return start.outcome(path, "failed", f"unexpected {type(exc).__name__}: {exc} (a bug in sinkzone)")
    run_id = result.stored.run_id if result.stored is not None else result.record.get("run_id")
    if result.not_stored is not None:
        return start.outcome(path, "not stored", f"{result.out_dir}; {result.not_stored}", run_id=run_id)
    return start.outcome(path, "up to date" if result.skipped else "done", str(result.out_dir), run_id=run_id)


def _record_attempts(outcomes: Sequence[BatchOutcome], *, history: str | None) -> None:
    """Each outcome kept as an attempt in the store its config's runs go to (`history`, else the config's own).
    A store that cannot take it is a warning: the batch goes on and its exit code stays what its runs make it."""
    for outcome in outcomes:
        name, target = _identity(outcome.config, history=history)
        if target is None:
            continue
        attempt = Attempt(attempt_id=outcome.attempt_id, config_path=str(outcome.config.absolute()), config_name=name,
                          started_utc=outcome.started_utc, finished_utc=outcome.finished_utc, status=outcome.status,
                          detail=outcome.detail, run_id=outcome.run_id, host=socket.gethostname())
        try:
            record_attempt(target, attempt)
        except SinkzoneError as exc:  # the store's messages start with the store, its password left out
            log.warning("%s: the attempt (%s) is not recorded in the history store: %s", outcome.config,
                        outcome.status, exc)


def _identity(path: Path, *, history: str | None) -> tuple[str, str | None]:
    """The config's name and the store its attempts go to; a config that cannot be read is named by its file and
    recorded only in the batch's own store (`--history`)."""
    try:
        config = load_config(path, Overrides(history=history))
    except Exception:  # whatever made it unreadable is the attempt's own detail already
        return path.name, history
    return config.name, config.history.target if config.history is not None else None


def _record_after_stop(outcomes: Sequence[BatchOutcome], *, history: str | None) -> None:
    """The stopped config and those not run, recorded; a second Ctrl-C while doing so leaves them unrecorded."""
    try:
        _record_attempts(outcomes, history=history)
    except KeyboardInterrupt:
        log.warning("interrupted again: the attempts of the configs not run are not recorded in the history store")
