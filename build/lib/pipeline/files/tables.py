"""Tables users give: carbon factor CSVs (or the built-in ones) and plan sheets."""

from __future__ import annotations

import csv
import datetime
import importlib.resources
import io as _stdio
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd

from pipeline.core.errors import TableError
from pipeline.core.text import UTF8, decode_text, encoding_note
from pipeline.files.paths import require_file

PLAN_LINE = "_line"


def read_text(path: Path, *, what: str) -> tuple[str, str]:
    """A user's text file and the encoding it was read with: UTF-8 (with or without BOM), else GB18030."""
    require_file(path)
    try:
        return decode_text(path.read_bytes())
    except OSError as exc:
        raise TableError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: the {what} is neither UTF-8 nor GB18030 text ({exc.reason} at byte "
                         f"{exc.start}); save it as UTF-8 (Excel: CSV UTF-8)") from exc


@dataclass(frozen=True)
class Table:
    """A table as read: its rows, how messages name it and the text encoding it was read in."""

    frame: pd.DataFrame
    name: str
    encoding: str = UTF8

    def notes(self) -> list[str]:
        """The note a run records when the table was not UTF-8 text."""
        note = encoding_note(self.name, self.encoding)
        return [] if note is None else [note]


def read_csv_table(spec: str, *, builtins: Mapping[str, str]) -> Table:
    """A factor table: a built-in name (a CSV shipped in pipeline/tables) or a CSV path (UTF-8 or GB18030)."""
    dtypes = {"class": str, "lucode": str, "species": str, "zone_id": str}
    if spec in builtins:
        resource = importlib.resources.files("pipeline.core") / "tables" / builtins[spec]
        with resource.open("r", encoding="utf-8") as fh:
            return Table(frame=pd.read_csv(fh, dtype=dtypes), name=f"{spec} (built-in)")
    path = Path(spec)
    if not path.suffix == ".csv":
        raise TableError(f"{spec}: not a built-in table ({', '.join(builtins)}) nor a .csv file")
    text, encoding = read_text(path, what="CSV table")
    try:
        frame = pd.read_csv(_stdio.StringIO(text), dtype=dtypes)
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: not a readable CSV table ({exc})") from exc
    return Table(frame=frame, name=str(path), encoding=encoding)


def read_plan_sheet(path: Path, *, sheet: str | None = None) -> Table:
    """A plan sheet (CSV or .xlsx) as text columns, with each row's line (or Excel row) number in `_line`.

    Lines starting with '#' are comments (the shipped sheets say there that their targets are
    illustrative); blank rows and empty trailing columns, as Excel leaves them, are ignored.
    """
    require_file(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return Table(frame=_sheet_frame(_xlsx_rows(path, sheet=sheet), path), name=str(path))  # XML: UTF-8
    text, encoding = read_text(path, what="plan sheet")
    return Table(frame=_sheet_frame(_sheet_rows(text), path), name=str(path), encoding=encoding)


def _xlsx_rows(path: Path, *, sheet: str | None) -> list[tuple[int, list[str]]]:
    """Every row of one worksheet (the first unless named) as text cells, with its Excel row number."""
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise TableError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    if sheet is not None and sheet not in book.sheetnames:
        raise TableError(f"{path}: no sheet {sheet!r}; the workbook has: {', '.join(book.sheetnames)}")
    pages = book[sheet] if sheet is not None else book.worksheets[0]
    return [(n, [_cell_text(v) for v in row]) for n, row in enumerate(pages.iter_rows(values_only=True), start=1)]


def _cell_text(value: object) -> str:
    """A cell as the text a person sees: 150202 stays 150202 even when Excel stores it as 150202.0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()[:10]
    return str(value).strip()


def _sheet_rows(text: str) -> list[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on; a quoted cell may hold line breaks (Excel's Alt+Enter)."""
    reader = csv.reader(_stdio.StringIO(text))
    rows = []
    start = 1
    for row in reader:
        rows.append((start, [v.strip() for v in row]))
        start = reader.line_num + 1
    return rows


def _sheet_frame(numbered: list[tuple[int, list[str]]], path: Path) -> pd.DataFrame:
    """Header and rows of a sheet, comments (first cell starting with '#') and blank rows dropped, empty
    trailing columns cut."""
    kept = [(n, row) for n, row in numbered if any(row) and not row[0].startswith("#")]
    if not kept:
        raise TableError(f"{path}: the plan sheet has no header row")
    header = list(kept[0][1])
    while header and not header[-1]:
        header.pop()
    width = len(header)
    bad = [n for n, row in kept[1:] if len(row) < width or any(row[width:])]
    if bad:
        raise TableError(f"{path}: line(s) {bad[:10]} do not have the {width} fields of the header "
                         "(quote text that holds commas)")
    frame = pd.DataFrame([row[:width] for _, row in kept[1:]], columns=header, dtype=str)
    frame[PLAN_LINE] = [n for n, _ in kept[1:]]
    return frame
