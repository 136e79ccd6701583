"""Paths and file identities shared by the readers and writers."""

from __future__ import annotations

import glob
import hashlib
from contextlib import suppress
from pathlib import Path
from typing import Any

from pipeline.errors import MissingFileError


def require_file(path: Path) -> None:
    if not path.exists():
        raise MissingFileError(f"{path}: file not found")


def is_tile_pattern(path: Path) -> bool:
    """A land-cover path with glob characters names a set of same-grid tiles."""
    return any(ch in str(path) for ch in "*?[")


def tile_paths(pattern: Path) -> list[Path]:
    found = sorted(Path(p) for p in glob.glob(str(pattern)))
    if not found:
        raise MissingFileError(f"{pattern}: no tile matches this pattern")
    return found


def fingerprint(path: Path) -> dict[str, Any]:
    """Size, modification time and SHA-256 of a file (or of every tile of a pattern): did an input change?"""
    if is_tile_pattern(path):
        tiles = [fingerprint(p) for p in tile_paths(path)]
        combined = hashlib.sha256("".join(t["sha256"] for t in tiles).encode()).hexdigest()
        return {"path": str(path), "bytes": sum(t["bytes"] for t in tiles), "tiles": len(tiles),
                "sha256": combined}
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    stat = path.stat()
    return {"path": str(path), "bytes": stat.st_size, "mtime": stat.st_mtime, "sha256": digest.hexdigest()}


def move_file(source: Path, target: Path) -> None:
    """Rename a file; an open log handle keeps writing to it at its new place."""
    source.replace(target)


def remove_file(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def list_configs(folder: Path) -> list[Path]:
    """The run configs of a batch folder, in name order."""
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: batch folder not found")
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
