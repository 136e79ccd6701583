"""Paths and file identities shared by the readers and writers."""

from __future__ import annotations

import glob
import hashlib
import os
import re
import stat
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pipeline.core.errors import ConfigError, InputError, MissingFileError

_MAX_NAME = 255  # bytes in one file name, and 4096 in a whole path, on Linux file systems
_MAX_PATH = 4096
# a local disk or a healthy network mount answers a lookup in milliseconds; one that has not answered after this
# long is hung (an NFS or SMB server gone), and would block the run, or a whole batch, for ever
ANSWER_SECONDS = 15.0


def checked_path(value: str, *, source: str) -> str:
    """A path that the file system can look up: no NUL byte, names not over-long, no symlink loop."""
    if "\0" in value:
        raise ConfigError(f"{source}: the path {value!r} holds a NUL byte; write the path without it")
    encoded = os.fsencode(value)
    if len(encoded) > _MAX_PATH or any(len(part) > _MAX_NAME for part in encoded.split(b"/")):
        raise ConfigError(f"{source}: the path {value[:80]!r}... is too long for the file system "
                          f"(over {_MAX_NAME} bytes in one name or {_MAX_PATH} in all); shorten it")
    _answers(value, source=source)
    try:
        Path(value).resolve()
    except (RuntimeError, OSError) as exc:
        raise ConfigError(f"{source}: the path {value!r} cannot be followed ({exc}); "
                          "fix the symbolic links on it") from exc
    return value


def _answers(value: str, *, source: str) -> None:
    """The file system holding `value` answers a lookup: it is tried in a thread, as a hung mount blocks it for ever
    (the thread is left behind, a daemon, and ends with the process)."""
    answered = threading.Event()

    def look_up() -> None:
        with suppress(OSError, ValueError):
            os.stat(value)
        answered.set()

    threading.Thread(target=look_up, name=f"look up {value}", daemon=True).start()
    if not answered.wait(ANSWER_SECONDS):
        raise InputError(f"{source}: {value} did not answer within {ANSWER_SECONDS:.0f} s: the file system it is on "
                         f"(a network mount?) hangs; check it (ls {Path(value).parent}) or ask who runs it, "
                         "then run again")


def is_vsi(path: Path) -> bool:
    """A GDAL virtual file system path (/vsicurl/, /vsis3/, /vsizip/ ...): GDAL reads it, the OS cannot."""
    return str(path).startswith("/vsi")


_ARCHIVE = re.compile(r"^(/vsi(?:zip|tar|gzip|7z)/)(.+?\.(?:zip|tar|tgz|tar\.gz|gz|7z))(/.*)?$", re.IGNORECASE)


def gdal_name(path: Path) -> str:
    """The name GDAL opens for `path`: a config's paths are Paths, which fold the `//` of `/vsicurl/https://host`
    and of `/vsizip//abs/x.zip` into one slash; this puts them back."""
    text = str(path)
    if not is_vsi(path):
        return text
    text = re.sub(r"^(/vsi\w+/)(https?|ftp):/(?!/)", r"\1\2://", text)
    archive = _ARCHIVE.match(text)
    if archive and not archive.group(2).startswith("/") and Path("/" + archive.group(2)).is_file():
        text = f"{archive.group(1)}/{archive.group(2)}{archive.group(3) or ''}"
    return text


def require_file(path: Path) -> None:
    """The input exists and reading it cannot block (a FIFO waits forever for a writer)."""
    if is_vsi(path):
        return
    if not path.exists():
        raise MissingFileError(f"{path}: file not found")
    problem = special_file_problem(path)
    if problem:
        raise InputError(problem)


def special_file_problem(path: Path) -> str | None:
    """Why `path` cannot be read or replaced without blocking: a FIFO, socket or device; None otherwise."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"{path}: is {kind}, not a file; reading or copying it would block: remove it or name a regular file"


def is_tile_pattern(path: Path) -> bool:
    """A land-cover path with glob characters names a set of same-grid tiles, unless a file has that very name."""
    return any(ch in str(path) for ch in "*?[") and not path.exists()


def tile_paths(pattern: Path) -> list[Path]:
    """The tiles a pattern names; none, or a bracket pattern that picks one file, is an error.

    `lc[2020].tif` is more likely a file name than a pattern: if no such file exists, using `lc2.tif`
    because it matches would put another file's figures under this name.
    """
    found = sorted(Path(p) for p in glob.glob(str(pattern)))
    if not found:
        raise MissingFileError(f"{pattern}: file not found, and no tile matches it as a pattern "
                               "(a name holding *, ? or [ is read as a tile pattern when no file has that name)")
    if len(found) == 1 and "[" in pattern.name and "*" not in pattern.name:
        raise MissingFileError(f"{pattern}: no file has this name, and as a tile pattern it matches only "
                               f"{found[0].name}; give that file's own name, or rename the file")
    return found


# files GDAL and OGR read beside a data file: Shapefile parts, world files, overviews, masks, .aux.xml
# (with the data file's whole name or its stem), and SQLite's write-ahead log (a GeoPackage open in QGIS)
_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".tfw", ".tifw", ".tiffw", ".wld",
             ".aux.xml", ".ovr", ".msk", ".rrd", ".imd", "-wal")


def _sidecars(path: Path) -> list[Path]:
    wanted = {f"{base}{suffix}".lower() for base in (path.name, path.stem) for suffix in _SIDECARS}
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return []
    return sorted(p for p in siblings if p.name.lower() in wanted and p.name != path.name and p.is_file())


def _vrt_sources(path: Path) -> list[Path]:
    """The local files a VRT reads (its sources, relative to the VRT where it says so)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError):
        return []  # not a VRT GDAL can read either; the raster check reports it
    found = []
    for element in root.iter("SourceFilename"):
        name = (element.text or "").strip()
        source = path.parent / name if element.get("relativeToVRT") == "1" else Path(name)
        if name and source.is_file():
            found.append(source)
    return found


def read_files(path: Path) -> list[Path]:
    """Every file reading `path` reads: the file, its sidecars, a pattern's tiles and a VRT's sources."""
    if is_tile_pattern(path):
        return [f for tile in tile_paths(path) for f in read_files(tile)]
    files = [path, *_sidecars(path)]
    if path.suffix.lower() == ".vrt":
        files += [f for source in _vrt_sources(path) if source.resolve() != path.resolve()
                  for f in read_files(source)]
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_files(path: Path) -> list[Path]:
    """The files of a folder dataset (an Esri File Geodatabase `.gdb` is a folder of tables and indexes)."""
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def fingerprint(path: Path) -> dict[str, Any]:
    """Bytes and SHA-256 of every file reading `path` reads: did anything the run uses change?

    A folder dataset counts every file in it; a GDAL virtual path (/vsicurl/ ...) only its name (reading a remote
    mosaic whole to hash it would cost more than the run)."""
    if is_vsi(path):
        return _vsi_fingerprint(path)
    files = _folder_files(path) if path.is_dir() else read_files(path)
    combined = hashlib.sha256()
    for f in files:
        name = f.relative_to(path).as_posix() if path.is_dir() else f.name
        combined.update(f"{name}\0{_sha256(f)}\0".encode())
    record: dict[str, Any] = {"path": str(path), "bytes": sum(f.stat().st_size for f in files),
                              "sha256": combined.hexdigest()}
    if len(files) > 1:
        record["files"] = [str(f) for f in files]
    return record


def _vsi_fingerprint(path: Path) -> dict[str, Any]:
    """A local archive GDAL reads into (/vsizip/ ...) is hashed whole; a remote input is named, not hashed: its
    bytes are not read twice (`remote`: the run notes that a change to it is seen only with --overwrite)."""
    archive = _ARCHIVE.match(gdal_name(path))
    local = Path("/" + archive.group(2).lstrip("/")) if archive else None
    if local is not None and local.is_file():
        return {"path": str(path), "bytes": local.stat().st_size,
                "sha256": hashlib.sha256(f"{gdal_name(path)}\0{_sha256(local)}".encode()).hexdigest()}
    return {"path": str(path), "sha256": hashlib.sha256(str(path).encode()).hexdigest(), "remote": True}


def move_file(source: Path, target: Path) -> None:
    """Rename a file; an open log handle keeps writing to it at its new place."""
    source.replace(target)


def remove_file(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def list_configs(folder: Path) -> list[Path]:
    """Everything in a batch folder named as a run config (.yaml or .yml in any case, even with a trailing space),
    in name order; one that is no readable file (a dangling or looping link, a folder) is listed too, so the
    batch reports it as failed instead of skipping it unseen."""
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: batch folder not found")
    return sorted(p for p in folder.iterdir() if p.name.strip().lower().endswith((".yaml", ".yml")))
