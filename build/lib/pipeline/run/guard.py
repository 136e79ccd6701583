"""Unattended runs: one lock per output folder, a JSON-lines log kept with the output, and batches.

A guarded run takes the output folder's lock, clears what killed runs left behind, logs every
message of the run as JSON lines, and moves that log into the output with the results. A run that
fails keeps its log beside the output folder instead, and the previous output stays as it was.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.core.config import RunConfig, load_config
from pipeline.core.errors import InternalError, SinkzoneError
from pipeline.core.names import RUN_LOG
from pipeline.files.lock import check_writable, clear_leftovers, kept_log_path, open_run_log, output_lock, run_log_path
from pipeline.files.paths import move_file, remove_file
from pipeline.measure.graph import ProgressHook
from pipeline.run import runner

log = logging.getLogger(__name__)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: UTC time, level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


@contextmanager
def run_log(path: Path) -> Iterator[Callable[[Path], None]]:
    """Log the run to `path` beside the output; yields the hook that moves it into the staged output."""
    handler = open_run_log(path)
    handler.setFormatter(JsonLinesFormatter())
    logger = logging.getLogger("pipeline")
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    kept = kept_log_path(path, "failed")
    try:
        yield lambda folder: _move_log(handler, path, folder / RUN_LOG)
    except SinkzoneError as exc:
        log.error("%s", exc)
        _close(logger, handler, level)
        _keep(path, kept)
        raise
    except Exception as exc:
        log.exception("unexpected failure")
        _close(logger, handler, level)
        _keep(path, kept)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InternalError(f"unexpected {type(exc).__name__}: {first_line}. This is a bug in sinkzone; "
                            f"the traceback is in {kept}") from exc
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: kept at once as interrupted, not left for the next run to find
        log.warning("interrupted; the previous output is untouched")
        _close(logger, handler, level)
        _keep(path, kept_log_path(path, "interrupted"))
        raise
    _close(logger, handler, level)
    # still beside the output only when the run found nothing to do: no new output, nothing to keep
    remove_file(path)


def _move_log(handler: logging.FileHandler, path: Path, target: Path) -> None:
    handler.flush()
    move_file(path, target)


def _close(logger: logging.Logger, handler: logging.Handler, level: int) -> None:
    logger.removeHandler(handler)
    logger.setLevel(level)
    handler.close()


def _keep(path: Path, kept: Path) -> None:
    """A failed run keeps its log beside the output folder (unless it went in with a finished output)."""
    if path.exists():
        move_file(path, kept)


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
        return result


Status = Literal["done", "up to date", "failed", "not run"]


@dataclass(frozen=True)
class BatchOutcome:
    config: Path
    status: Status
    detail: str
    seconds: float


def run_batch(configs: Sequence[Path], *, overwrite: bool = False) -> list[BatchOutcome]:
    """Run every config in turn; whatever one config does, it is recorded and the batch goes on.

    A Ctrl-C stops the batch: the configs not started are recorded as "not run".
    """
    outcomes: list[BatchOutcome] = []
    for n, path in enumerate(configs):
        started = time.perf_counter()
        try:
            outcomes.append(_batch_run(path, overwrite=overwrite, started=started))
        except KeyboardInterrupt:
            outcomes.append(BatchOutcome(path, "failed", "interrupted; its previous output is untouched",
                                         time.perf_counter() - started))
            outcomes += [BatchOutcome(p, "not run", "", 0.0) for p in configs[n + 1:]]
            break
    return outcomes


def _batch_run(path: Path, *, overwrite: bool, started: float) -> BatchOutcome:
    try:
        result = guarded_run(load_config(path), overwrite=overwrite)
    except (SinkzoneError, SystemExit) as exc:  # a library that exits must not end the whole batch
        detail = str(exc) if isinstance(exc, SinkzoneError) else f"exited with code {exc.code}"
        log.error("%s failed: %s", path, detail)
        return BatchOutcome(path, "failed", detail, time.perf_counter() - started)
    except Exception as exc:  # a bug while reading a config, outside the run's own log
        log.exception("%s failed unexpectedly", path)
        return BatchOutcome(path, "failed", f"unexpected {type(exc).__name__}: {exc} (a bug in sinkzone)",
                            time.perf_counter() - started)
    status: Status = "up to date" if result.skipped else "done"
    return BatchOutcome(path, status, str(result.out_dir), time.perf_counter() - started)
