"""Running the command line in tests and checking what it leaves: clean failures, leftovers, output snapshots."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pipeline.terminal.cli import app


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_clean_failure(result: Result, *needles: str) -> None:
    """A non-zero exit with a message that names the problem, and no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    flat = " ".join(result.output.split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in {flat!r}"


def leftovers(folder: Path) -> list[str]:
    """Staging folders, parked outputs, run logs and locks left beside outputs in `folder`."""
    return sorted(p.name for p in folder.iterdir()
                  if ".staging-" in p.name or p.name.endswith((".previous", ".lock")) or ".run-" in p.name)


def snapshot(out_dir: Path) -> dict[str, bytes]:
    """Every file of an output folder, sub-folders (cache/, report/) included, by its path in the folder."""
    return {p.relative_to(out_dir).as_posix(): p.read_bytes() for p in sorted(out_dir.rglob("*")) if p.is_file()}


@contextmanager
def mounted_tmpfs(mount: Path, *, size: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` at `mount` (a real mount point, or a small disk that fills up); skips the
    test where mounting needs a root this machine does not give."""
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
