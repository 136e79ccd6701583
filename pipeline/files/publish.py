"""The one writer: every file sinkzone publishes (a run's output folder, `sinkzone sample`'s files) goes
through here, so every path keeps the same promises.

- It never replaces what sinkzone did not write: a folder or file is sinkzone's only when the manifest it
  wrote lists it with the size and modification time it left (a labelled sample, a workbook edited in place
  are the user's from then on).
- It refuses a target that is an input of the same command.
- It stages every file beside its target, flushes every file and folder to disk, then renames, so a power
  cut leaves either the old or the new copy, never an empty file.
- A rerun keeps the user's files, with their owner, group and mode, sparse files sparse; the output folder
  keeps its owner, group and mode, also when root's cron runs it. SQLite journals of sinkzone's own
  GeoPackage are never carried (opening the new GeoPackage would roll the old figures back in).
- FIFOs, sockets and devices are refused by name before any compute: reading one blocks forever.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.errors import OutputError
from pipeline.core.names import (
    CACHE_DIR,
    GPKG_NAME,
    MANIFEST,
    OUTPUT_MARKER,
    PROJECT_NAME,
    REPORT_DIR,
    RUN_LOG,
    RUN_RECORD,
    WORKBOOK_NAME,
)
from pipeline.files.paths import special_file_problem

log = logging.getLogger(__name__)

# what a run of an earlier version (without a manifest) wrote into its output folder
_WRITTEN = frozenset({GPKG_NAME, PROJECT_NAME, RUN_RECORD, RUN_LOG, REPORT_DIR, OUTPUT_MARKER, f"{RUN_RECORD}.tmp",
                      f"{PROJECT_NAME}.tmp", WORKBOOK_NAME, CACHE_DIR})
# SQLite's rollback journal and write-ahead log of sinkzone's own GeoPackage: the first read-write open of the
# new GeoPackage would replay them into it, so they are never carried over
_JOURNALS = frozenset(f"{GPKG_NAME}{suffix}" for suffix in ("-journal", "-wal", "-shm"))

Stamp = tuple[int, int]  # size and modification time (ns) a file had when sinkzone wrote it


def read_manifest(folder: Path) -> dict[str, Stamp] | None:
    """What sinkzone wrote into `folder` ({relative path: stamp}), or None when it kept no manifest."""
    try:
        raw = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return {str(name): (int(size), int(mtime)) for name, (size, mtime) in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _stamp(path: Path) -> Stamp:
    st = path.lstat()
    return st.st_size, st.st_mtime_ns


def _write_manifest(folder: Path, names: Mapping[str, Stamp]) -> None:
    (folder / MANIFEST).write_text(json.dumps(dict(sorted(names.items()))), encoding="utf-8")


def _sinkzones(rel: str, path: Path, manifest: Mapping[str, Stamp] | None) -> bool:
    """Is the file at `rel` (relative to the output folder) still as sinkzone wrote it?"""
    if rel in _JOURNALS or rel == MANIFEST:
        return True
    if manifest is None:  # an earlier version's output: its own names
        return rel.split("/")[0] in _WRITTEN or rel in (f"{GPKG_NAME}-wal", f"{GPKG_NAME}-shm")
    return manifest.get(rel) == _stamp(path)


def output_folder_problem(out_dir: Path, *, inputs: Sequence[Path]) -> str | None:
    """Why sinkzone must not replace `out_dir`, or None when the folder is its own (or new, or empty).

    The output folder is swapped out whole, so it may only be a folder sinkzone wrote: one holding the
    marker, or a previous version's output (run.json, no marker), or an empty or missing folder.
    """
    try:
        out_dir = out_dir.resolve()
    except (OSError, RuntimeError) as exc:  # a symbolic-link loop
        return f"{out_dir}: the output folder cannot be resolved ({exc}); name a real folder for output.dir"
    held = [p for p in inputs if out_dir == p.resolve() or out_dir in p.resolve().parents]
    if held:
        return (f"{out_dir}: the output folder holds the input {held[0]}; a run replaces its output folder "
                "whole, so choose a new folder of its own for output.dir (or --out)")
    if not out_dir.is_dir():
        return special_file_problem(out_dir)
    if os.path.ismount(out_dir):
        return (f"{out_dir}: the output folder is a mount point and cannot be replaced; "
                "choose a sub-folder of it for output.dir (or --out)")
    if not ((out_dir / OUTPUT_MARKER).is_file() or (out_dir / RUN_RECORD).is_file() or not any(out_dir.iterdir())):
        return (f"{out_dir}: the folder is not empty and is not a sinkzone output folder (no {OUTPUT_MARKER}); "
                "a run replaces its output folder whole, so choose a new or empty folder for output.dir (or --out)")
    special = next((p for p in _entries(out_dir) if special_file_problem(p)), None)
    return None if special is None else (f"{special_file_problem(special)} (a user's file in the output folder is "
                                         "copied into every new output)")


def _entries(folder: Path) -> Iterator[Path]:
    """Every file, symbolic link and other non-folder under `folder`, never following links."""
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        for name in [*files, *(d for d in dirs if (base / d).is_symlink())]:
            yield base / name


def refuse_inputs(targets: Sequence[Path], *, inputs: Sequence[Path]) -> None:
    """A command never writes over a file it reads."""
    read = {p.resolve() for p in inputs}
    try:
        clash = [t for t in targets if t.resolve() in read]
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic-link loop
        raise OutputError(f"{targets[0].parent}: the path cannot be followed ({exc}); fix the symbolic links on "
                          "it or choose another --out") from exc
    if clash:
        raise OutputError(f"{clash[0]}: is an input of this command (the config reads it); choose another --out")


# ---- single files (`sinkzone sample`)


def publish_files(folder: Path, writers: Mapping[str, Callable[[Path], None]], *, inputs: Sequence[Path]) -> list[Path]:
    """Write each {name: writer(path)} into `folder`, staged and flushed, then renamed into place.

    An existing file is replaced only when sinkzone wrote it and nobody changed it since.
    """
    targets = [folder / name for name in writers]
    refuse_inputs(targets, inputs=inputs)
    manifest = read_manifest(folder) or {}
    for target in targets:
        problem = special_file_problem(target)
        if problem:
            raise OutputError(problem)
        if target.is_symlink() or (target.exists() and manifest.get(target.name) != _stamp(target)):
            raise OutputError(f"{target}: exists and is not a file sinkzone wrote, or was changed since (a "
                              "labelled sample?); it is kept: choose another --out, or move it away first")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the folder ({exc.strerror})") from exc
    staged = {name: folder / f".{name}.staging-{uuid.uuid4().hex[:8]}{Path(name).suffix}" for name in writers}
    try:
        for name, write in writers.items():
            write(staged[name])
            _fsync(staged[name])
        for name, path in staged.items():
            os.replace(path, folder / name)
            manifest[name] = _stamp(folder / name)
        _write_manifest(folder, manifest)
        _fsync(folder)
    except OSError as exc:
        raise OutputError(f"{folder}: writing {', '.join(writers)} failed ({exc.strerror or exc})") from exc
    finally:
        for path in staged.values():
            with contextlib.suppress(OSError):
                path.unlink()
    return targets


# ---- output folders


@contextmanager
def staged_output(out_dir: Path, *, amend: Callable[[Path, list[str]], None] | None = None) -> Iterator[Path]:
    """A fresh staging folder beside `out_dir`; on success it replaces `out_dir` in two renames.

    A failure or a kill at any point leaves the previous output folder (or its parked copy) intact. `amend`
    gets the staged folder and the notes on the user's files carried over (an edited copy of a file sinkzone
    writes is kept beside the new one), to record them before the swap.
    """
    out_dir = out_dir.resolve()
    recover_parked(out_dir)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{out_dir.name}.staging-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create the output folder here ({exc.strerror})") from exc
    try:
        yield staging
        try:
            _swap_in(staging, out_dir, amend=amend)
        except OSError as exc:
            name = f" ({exc.filename})" if exc.filename else ""
            raise OutputError(f"{out_dir}: moving the finished output in place failed ({exc.strerror}{name}); "
                              "the previous output is untouched") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _parked(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.previous"


def recover_parked(out_dir: Path) -> None:
    """Put back a previous output parked by a run killed between its two renames."""
    parked = _parked(out_dir)
    if parked.exists() and not out_dir.exists():
        os.replace(parked, out_dir)
        log.warning("restored the previous output %s, left aside by an interrupted run", out_dir)
    elif parked.exists():
        shutil.rmtree(parked, ignore_errors=True)


def _carry_over(out_dir: Path, staging: Path) -> list[str]:
    """Copy the files a user put into (or changed in) the output folder into the new output; the notes.

    Copied, not moved: a run killed before its swap leaves the previous folder exactly as it was. A user's
    copy of a name the run writes again is kept beside it, as `<stem>.edited-<UTC time><suffix>`.
    """
    if not out_dir.is_dir():
        return []
    manifest = read_manifest(out_dir)
    notes = []
    for path in _entries(out_dir):
        rel = path.relative_to(out_dir).as_posix()
        if _sinkzones(rel, path, manifest):
            continue
        target = staging / rel
        if target.exists() or target.is_symlink():
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(path.lstat().st_mtime))
            target = target.with_name(f"{Path(rel).stem}.edited-{stamp}{Path(rel).suffix}")
            notes.append(f"{out_dir / rel}: changed after sinkzone wrote it; kept as {target.name} beside the "
                         "new one")
        _copy(path, target)
    return notes


def _copy(source: Path, target: Path) -> None:
    """A user's file copied with its mode, times, owner and group; holes of a sparse file stay holes."""
    _make_parents(source, target)
    st = source.lstat()
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), target)
    elif st.st_blocks * 512 < st.st_size:
        _copy_sparse(source, target, size=st.st_size)
        shutil.copystat(source, target)
    else:
        shutil.copy2(source, target)
    _same_owner(target, st)


def _make_parents(source: Path, target: Path) -> None:
    """The target's folders, each with the mode, owner and group of the user's folder it copies."""
    missing = []
    folder, origin = target.parent, source.parent
    while not folder.exists():
        missing.append((folder, origin))
        folder, origin = folder.parent, origin.parent
    for made, model in reversed(missing):
        made.mkdir()
        shutil.copystat(model, made)
        _same_owner(made, model.lstat())


def _copy_sparse(source: Path, target: Path, *, size: int) -> None:
    """Only the data regions, then the full length: the copy takes the blocks the original takes."""
    with source.open("rb") as src, target.open("wb") as dst:
        offset = 0
        while offset < size:
            try:
                start = os.lseek(src.fileno(), offset, os.SEEK_DATA)
            except OSError:  # no data after offset (ENXIO)
                break
            end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            src.seek(start)
            dst.seek(start)
            remaining = end - start
            while remaining:
                block = src.read(min(remaining, 1 << 22))
                if not block:
                    break
                dst.write(block)
                remaining -= len(block)
            offset = end
        dst.truncate(size)


def _same_owner(path: Path, st: os.stat_result) -> None:
    """Root can give a file back its owner; anyone can keep a group they are in. Otherwise as it falls."""
    uid = st.st_uid if os.geteuid() == 0 else -1
    with contextlib.suppress(OSError):
        os.chown(path, uid, st.st_gid, follow_symlinks=False)


def _adopt(staging: Path, out_dir: Path, *, written: Sequence[str]) -> None:
    """The new output takes the previous folder's owner, group and mode (a shared 2775 folder stays one), and so do
    the files and folders sinkzone wrote in it: a root cron run leaves the analyst's folder editable by them."""
    if not out_dir.is_dir():
        return
    st = out_dir.lstat()
    with contextlib.suppress(OSError):
        os.chmod(staging, stat.S_IMODE(st.st_mode))
    _same_owner(staging, st)
    folders = {staging / parent for rel in written for parent in Path(rel).parents if parent != Path(".")}
    for path in [*folders, *(staging / rel for rel in written), staging / MANIFEST]:
        _same_owner(path, st)


def _swap_in(staging: Path, out_dir: Path, *, amend: Callable[[Path, list[str]], None] | None) -> None:
    written = [p.relative_to(staging).as_posix() for p in _entries(staging)]
    notes = _carry_over(out_dir, staging)
    if notes and amend is not None:
        amend(staging, notes)
    _write_manifest(staging, {rel: _stamp(staging / rel) for rel in written})
    _adopt(staging, out_dir, written=written)
    _fsync_tree(staging)
    if out_dir.exists() and _exchange(staging, out_dir):
        _fsync(out_dir.parent)
        return  # staging now holds the old output; staged_output removes it
    parked = _parked(out_dir)
    if out_dir.exists():
        os.replace(out_dir, parked)
    os.replace(staging, out_dir)
    _fsync(out_dir.parent)
    shutil.rmtree(parked, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2); False where the system cannot.

    With it the output folder exists at every instant; without it a kill between the two renames
    leaves the previous output parked, and the next run puts it back.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    return int(renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)) == 0


def _fsync_tree(folder: Path) -> None:
    """Every staged file and folder flushed to disk before they replace the output: a power cut right after the
    swap (which deletes the previous copies) must not leave empty files in cache/, report/ or a user's folder."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                _fsync(path)
        for name in dirs:
            if not (Path(root) / name).is_symlink():
                _fsync(Path(root) / name)
    _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- whole folders made in memory (`sinkzone publish`)


def publish_folder(out_dir: Path, files: Mapping[str, bytes], *, copies: Mapping[str, Path],
                   inputs: Sequence[Path], marker: str) -> Path:
    """A folder of `files` ({relative path: content}) and `copies` ({relative path: file to copy}), staged and
    swapped in whole like a run's output: only into a new, empty or sinkzone-written folder. `marker` is the text
    of the folder's OUTPUT_MARKER, saying what the folder is."""
    problem = output_folder_problem(out_dir, inputs=inputs)
    if problem:
        raise OutputError(problem)
    if (out_dir / RUN_RECORD).is_file():
        raise OutputError(f"{out_dir}: holds a run's output ({RUN_RECORD}), which this would replace whole; give "
                          "--out a folder of its own")
    with staged_output(out_dir) as staging:
        try:
            (staging / OUTPUT_MARKER).write_text(marker, encoding="utf-8")
            for rel, content in files.items():
                _made_parent(staging / rel).write_bytes(content)
            for rel, source in copies.items():
                shutil.copyfile(source, _made_parent(staging / rel))
        except OSError as exc:
            raise OutputError(f"{out_dir}: writing the files failed ({exc.strerror or exc}); the previous folder is "
                              "untouched") from exc
    return out_dir.resolve()


def _made_parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
