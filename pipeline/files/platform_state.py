"""The web platform's own files beside the history store: its database (users, audit) and its secret key.

They sit next to the history GeoPackage, never inside it: QGIS users open that file, and it holds only figures."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pipeline.core.errors import PlatformError

_SECRET_BYTES = 50


def state_paths(history: str, *, state: Path | None) -> tuple[Path, Path]:
    """(the platform's SQLite database, its secret key file): in the folder `state`, else beside the history
    GeoPackage as `<name>.platform.sqlite3` and `<name>.platform.secret`."""
    if state is not None:
        if not state.is_dir():
            raise PlatformError(f"--state {state}: no such folder; create it for the platform's own database and key")
        database, key = state / "platform.sqlite3", state / "platform.secret"
    elif "://" in history:
        raise PlatformError(f"{history}: a PostGIS store has no folder beside it; give --state DIR for the "
                            "platform's own database and key")
    else:
        path = Path(history)
        if not path.is_file():
            raise PlatformError(f"{history}: no history store there; give the GeoPackage `sinkzone ingest` wrote "
                                "(--history PATH)")
        database = path.with_name(f"{path.stem}.platform.sqlite3")
        key = path.with_name(f"{path.stem}.platform.secret")
    with contextlib.suppress(FileExistsError):  # password hashes: readable by the service's user only
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return database, key


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
