"""Tables users give: carbon factor CSVs (or the built-in ones) and plan sheets."""

from __future__ import annotations

import csv
import importlib.resources
import io as _stdio
import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipeline.errors import TableError
from pipeline.io.files import require_file
from pipeline.text import decode_text, encoding_note

log = logging.getLogger(__name__)
PLAN_LINE = "_line"


def read_csv_table(spec: str, *, builtins: Mapping[str, str]) -> tuple[pd.DataFrame, str]:
    """A factor table: a built-in name (a CSV shipped in pipeline/tables) or a CSV path; and its label."""
    if spec in builtins:
        resource = importlib.resources.files("pipeline") / "tables" / builtins[spec]
        with resource.open("r", encoding="utf-8") as fh:
            return pd.read_csv(fh, dtype={"class": str, "lucode": str, "species": str}), f"{spec} (built-in)"
    path = Path(spec)
    if not path.suffix == ".csv":
        raise TableError(f"{spec}: not a built-in table ({', '.join(builtins)}) nor a .csv file")
    text = read_text(path, what="CSV table")
    try:
        frame = pd.read_csv(_stdio.StringIO(text), dtype={"class": str, "lucode": str, "species": str,
                                                           "zone_id": str})
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: not a readable CSV table ({exc})") from exc
    return frame, str(path)


def read_text(path: Path, *, what: str) -> str:
    """A user's text file: UTF-8 (with or without BOM), else GB18030 with a warning in the log."""
    require_file(path)
    try:
        text, encoding = decode_text(path.read_bytes())
    except OSError as exc:
        raise TableError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: the {what} is neither UTF-8 nor GB18030 text ({exc.reason} at byte "
                         f"{exc.start}); save it as UTF-8 (Excel: CSV UTF-8)") from exc
    note = encoding_note(path, encoding)
    if note is not None:
        log.warning(note)
    return text


def read_plan_sheet(path: Path) -> pd.DataFrame:
    """A plan-sheet CSV as text columns, with each row's line number in the file in column `_line`.

    Lines starting with '#' are comments (the shipped sheets say there that their targets are
    illustrative); a UTF-8 byte-order mark, as Excel writes it, is accepted.
    """
    text = read_text(path, what="plan sheet")
    kept = _sheet_rows(text)
    if not kept:
        raise TableError(f"{path}: the plan sheet has no header row")
    header = [h.strip() for h in kept[0][1]]
    bad = [n for n, row in kept[1:] if len(row) != len(header)]
    if bad:
        raise TableError(f"{path}: line(s) {bad[:10]} do not have the {len(header)} fields of the header "
                         "(quote text that holds commas)")
    frame = pd.DataFrame([[v.strip() for v in row] for _, row in kept[1:]], columns=header, dtype=str)
    frame[PLAN_LINE] = [n for n, _ in kept[1:]]
    return frame


def _sheet_rows(text: str) -> list[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on; a quoted cell may hold line breaks (Excel's Alt+Enter).

    Blank records and records whose first cell starts with '#' are comments.
    """
    reader = csv.reader(_stdio.StringIO(text))
    rows = []
    start = 1
    for row in reader:
        if any(v.strip() for v in row) and not row[0].lstrip().startswith("#"):
            rows.append((start, row))
        start = reader.line_num + 1
    return rows
