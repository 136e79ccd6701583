"""Batches: every config of a folder run in turn; whatever one config does is recorded and the batch goes on."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.core.config import Overrides
from pipeline.core.errors import SinkzoneError
from pipeline.inputs.run_config import load_config
from pipeline.run.guarded_run import guarded_run

log = logging.getLogger(__name__)


Status = Literal["done", "up to date", "not stored", "failed", "not run"]


@dataclass(frozen=True)
class BatchOutcome:
    config: Path
    status: Status
    detail: str
    seconds: float


def run_batch(configs: Sequence[Path], *, overwrite: bool = False, history: str | None = None) -> list[BatchOutcome]:
    """Run every config in turn; whatever one config does, it is recorded and the batch goes on.

    A Ctrl-C stops the batch: the configs not started are recorded as "not run". `history` is a store every run is
    ingested into (else each config's own `history`); a run the store did not take is "not stored".
    """
    outcomes: list[BatchOutcome] = []
    for n, path in enumerate(configs):
        started = time.perf_counter()
        try:
            outcomes.append(_batch_run(path, overwrite=overwrite, history=history, started=started))
        except KeyboardInterrupt:
            outcomes.append(BatchOutcome(path, "failed", "interrupted; its previous output is untouched",
                                         time.perf_counter() - started))
            outcomes += [BatchOutcome(p, "not run", "", 0.0) for p in configs[n + 1:]]
            break
    return outcomes


def _batch_run(path: Path, *, overwrite: bool, history: str | None, started: float) -> BatchOutcome:
    try:
        result = guarded_run(load_config(path, Overrides(history=history)), overwrite=overwrite)
    except (SinkzoneError, SystemExit) as exc:  # a library that exits must not end the whole batch
        detail = str(exc) if isinstance(exc, SinkzoneError) else f"exited with code {exc.code}"
        log.error("%s failed: %s", path, detail)
        return BatchOutcome(path, "failed", detail, time.perf_counter() - started)
    except Exception as exc:  # a bug while reading a config, outside the run's own log
        log.exception("%s failed unexpectedly", path)
        return BatchOutcome(path, "failed", f"unexpected {type(exc).__name__}: {exc} (a bug in sinkzone)",
                            time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if result.not_stored is not None:
        return BatchOutcome(path, "not stored", f"{result.out_dir}; {result.not_stored}", seconds)
    status: Status = "up to date" if result.skipped else "done"
    return BatchOutcome(path, status, str(result.out_dir), seconds)
