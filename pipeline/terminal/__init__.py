"""Phase 8, terminal: the command line, the only place that prints or sets an exit code. Imports from any phase."""

from __future__ import annotations

import sys

INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report a Ctrl-C


def main() -> None:
    """The console entry. A Ctrl-C while the command line itself loads (typer, rich: the first second) ends as one
    during a run does: one line and exit 130, never a bare traceback."""
    try:
        from pipeline.terminal.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted, nothing was changed\n")
        raise SystemExit(INTERRUPTED_EXIT) from None
    cli_main()
