"""The run log: every message of a run as JSON lines, written beside the output while the run runs, moved into
the output with the results, and kept visible beside the output folder when the run failed or was interrupted."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.errors import InternalError, OutputError, SinkzoneError
from pipeline.core.names import RUN_LOG
from pipeline.files.paths import move_file, remove_file

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


def run_log_path(out_dir: Path) -> Path:
    """Where a run logs while it runs: a hidden file beside the output, moved in with the output."""
    out_dir = out_dir.resolve()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return out_dir.parent / f".{out_dir.name}.run-{stamp}-{os.getpid()}.log.jsonl"


def kept_log_path(run_log: Path, outcome: str) -> Path:
    """Where the log of a run that left no output is kept, visible beside the output folder."""
    return run_log.with_name(run_log.name.replace(".run-", f".{outcome}-").lstrip("."))


def open_run_log(path: Path) -> logging.FileHandler:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the run log ({exc.strerror}); "
                          "choose a writable output folder") from exc
