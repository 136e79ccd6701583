"""The web platform's own files beside the history store: its database (users, audit) and its secret key.

They sit next to the history GeoPackage, never inside it: QGIS users open that file, and it holds only figures."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pipeline.core.errors import PlatformError

_SECRET_BYTES = 50


def state_paths(history: Path) -> tuple[Path, Path]:
    """(the platform's SQLite database, its secret key file) for a history GeoPackage."""
    if not history.is_file():
        raise PlatformError(f"{history}: no history store there; give the GeoPackage `sinkzone ingest` wrote "
                            "(--history PATH)")
    database = history.with_name(f"{history.stem}.platform.sqlite3")
    with contextlib.suppress(FileExistsError):  # password hashes: readable by the service's user only
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return database, history.with_name(f"{history.stem}.platform.secret")


def secret_key(path: Path) -> str:
    """The key that signs sessions and CSRF tokens, made on first start in a file only its owner can read."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            raise PlatformError(f"{path}: the secret key file can be read by others; run `chmod 600 {path}`") from None
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(_SECRET_BYTES))
    return path.read_text(encoding="ascii").strip()
