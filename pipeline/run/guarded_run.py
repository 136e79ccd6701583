"""One unattended run: the output folder's lock, the leftovers of killed runs cleared, the run logged as JSON
lines and its log kept with the output (or beside it, when the run failed; the previous output then stays)."""

from __future__ import annotations

import dataclasses
import logging
import os

from pipeline.core.config import RunConfig
from pipeline.core.errors import StoreError
from pipeline.files.lock import check_writable, clear_leftovers, output_lock
from pipeline.files.run_log import run_log, run_log_path
from pipeline.measure.graph import ProgressHook
from pipeline.record.ingest import ingest_folder
from pipeline.run import runner

log = logging.getLogger(__name__)


def guarded_run(config: RunConfig, *, overwrite: bool = False,
                progress: ProgressHook | None = None) -> runner.RunResult:
    """runner.run under the output folder's lock, with its JSON-lines log kept with the output."""
    out_dir = config.output.dir
    check_writable(out_dir)
    log_path = run_log_path(out_dir)
    with output_lock(out_dir) as stale, run_log(log_path) as keep_log:
        log.info("run %r started (pid %d), output %s", config.name, os.getpid(), out_dir)
        if stale:
            log.warning("cleared a stale lock on %s left by a process that is gone: %s", out_dir, stale)
        clear_leftovers(out_dir, own_log=log_path)
        result = runner.run(config, overwrite=overwrite, progress=progress, extras=keep_log)
        log.info("run %r %s", config.name, "found nothing to do" if result.skipped else "finished")
        return result if config.history is None else _stored(result, target=config.history.target)


def _stored(result: runner.RunResult, *, target: str) -> runner.RunResult:
    """The finished output ingested into the history store (an up-to-date one too: a store that missed it catches
    up). A store that fails leaves the output as written; the result says why."""
    try:
        stored = ingest_folder(result.out_dir, target=target)
    except StoreError as exc:
        log.error("the output is written but not stored in the history: %s", exc)
        return dataclasses.replace(result, not_stored=exc)
    log.info("history store: run %s %s", stored.run_id, "stored" if stored.stored else "was already stored")
    return dataclasses.replace(result, stored=stored)
