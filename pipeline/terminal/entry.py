"""The console entry: a Ctrl-C while the command line itself loads (typer, rich: the first second) ends as one
during a run does, with one line and exit 130, never a bare traceback."""

from __future__ import annotations

import sys

from pipeline.core.errors import INTERRUPTED_EXIT


def main() -> None:
    try:
        from pipeline.terminal.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted, nothing was changed\n")
        raise SystemExit(INTERRUPTED_EXIT) from None
    cli_main()
