"""Unattended runs on disk: writability probes, one lock per output folder, leftovers of killed runs."""

from __future__ import annotations

import errno
import fcntl
import glob
import json
import logging
import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pipeline.core.errors import OutputError
from pipeline.files.publish import recover_parked
from pipeline.files.run_log import kept_log_path

log = logging.getLogger(__name__)



def check_writable(out_dir: Path) -> None:
    """The output folder can be created beside its siblings: probe its nearest existing ancestor."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: the output path is a file, not a folder; choose another output folder")
    ancestor = out_dir.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{out_dir}: cannot be created because {ancestor} is a file, not a folder; "
                          "choose another output folder")
    try:
        tempfile.TemporaryFile(dir=ancestor).close()
    except OSError as exc:
        raise OutputError(f"{out_dir}: the folder {ancestor} is not writable ({exc.strerror}); "
                          "choose another output folder or fix its permissions") from exc


def lock_path(out_dir: Path) -> Path:
    out_dir = out_dir.resolve()
    return out_dir.parent / f"{out_dir.name}.lock"


@contextmanager
def output_lock(out_dir: Path) -> Iterator[str]:
    """Hold the lock file beside `out_dir` for the whole run, so two runs never write one output.

    The lock is an flock on the file, so the kernel releases it when its process dies, even by SIGKILL;
    the file's text (pid, host, start time) only tells people who holds it. A lock file found with
    text but no flock was left by a dead process: it is taken over, and its text is yielded so the
    caller can log the takeover ("" when the lock was free).
    """
    path = lock_path(out_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, stale = _acquire_lock(path, out_dir.resolve())
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the lock file ({exc.strerror}); "
                          "choose a writable output folder") from exc
    try:
        yield stale
    finally:
        with suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                os.unlink(path)
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    """Open the lock file itself, never what a symlink planted in its place points to."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO) or path.is_symlink():
            raise OutputError(f"{path}: the lock file is a symbolic link or a special file, not a lock sinkzone "
                              "wrote; remove it (nothing was written) and run again") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError(f"{path}: the lock file is not a regular file; remove it and run again")
    return fd


def _acquire_lock(path: Path, out_dir: Path) -> tuple[int, str]:
    while True:
        fd = _open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown holder"
            os.close(fd)
            raise OutputError(f"{out_dir}: another run is writing this output ({holder}); "
                              "wait for it to finish, or give this run another output folder") from None
        # a releasing holder unlinks the file: a lock on an unlinked inode locks nothing, so start again
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        stale = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        mine = {"pid": os.getpid(), "host": socket.gethostname(),
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(mine).encode(), 0)
        os.fsync(fd)
        return fd, stale


def clear_leftovers(out_dir: Path, *, own_log: Path) -> None:
    """Remove what killed runs left beside `out_dir`; call only while holding its lock."""
    out_dir = out_dir.resolve()
    recover_parked(out_dir)
    for staging in _beside(out_dir, ".", ".staging-*"):
        shutil.rmtree(staging, ignore_errors=True)
        log.warning("removed %s, the unfinished output of an interrupted run", staging)
    for orphan in _beside(out_dir, ".", ".run-*.log.jsonl"):
        if orphan == own_log:
            continue
        kept = kept_log_path(orphan, "interrupted")
        os.replace(orphan, kept)
        log.warning("an earlier run of %s was interrupted; its log is kept as %s", out_dir, kept)
    for outcome in ("interrupted", "failed"):
        for old in _beside(out_dir, "", f".{outcome}-*.log.jsonl")[:-KEPT_LOGS]:
            old.unlink(missing_ok=True)


KEPT_LOGS = 10  # logs of failed and of interrupted runs kept beside an output, each; older ones are removed


def _beside(out_dir: Path, prefix: str, suffix: str) -> list[Path]:
    """Files beside `out_dir` named prefix + its name + suffix, oldest first (names hold the UTC time).

    The folder's own name is literal text, never a pattern: `out[12]` must not match `out1`.
    """
    pattern = glob.escape(str(out_dir.parent / f"{prefix}{out_dir.name}")) + suffix
    return sorted(Path(p) for p in glob.glob(pattern, include_hidden=True))
