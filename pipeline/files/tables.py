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
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import openpyxl
    from openpyxl.cell.cell import Cell, MergedCell
    from openpyxl.worksheet.worksheet import Worksheet

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
        name, rows = _xlsx_rows(path, sheet=sheet)
        return Table(frame=_sheet_frame(rows, path), name=f"{path}, sheet {name!r}")  # XML: UTF-8
    text, encoding = read_text(path, what="plan sheet")
    return Table(frame=_sheet_frame(_sheet_rows(text), path), name=str(path), encoding=encoding)


# an .xlsx is a zip: a plan sheet unpacks to well under a megabyte, a zip bomb to gigabytes from a few
MAX_UNPACKED_BYTES = 256 << 20
MAX_PACKING_RATIO = 200


def zip_too_large(members: list[zipfile.ZipInfo], *, limit: int) -> tuple[int, int] | None:
    """(unpacked, packed) bytes when a zip's directory says it unpacks to more than `limit` bytes, or more than
    a megabyte packed over MAX_PACKING_RATIO times (a zip bomb); None when it may be unpacked."""
    total = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if total > limit or (total > 1 << 20 and total / packed > MAX_PACKING_RATIO):
        return total, packed
    return None


def _unpacked_size_problem(path: Path) -> str | None:
    """Why the workbook must not be parsed (it would unpack to too much), checked from the zip's directory."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        return f"{path}: not a readable .xlsx workbook ({exc})"
    sizes = zip_too_large(members, limit=MAX_UNPACKED_BYTES)
    if sizes:
        return (f"{path}: the workbook unpacks to {sizes[0]:,} bytes from {sizes[1]:,} (a plan sheet unpacks to well "
                f"under {MAX_UNPACKED_BYTES >> 20} MB); not read: save the plan sheet on its own, or as CSV")
    return None


def _xlsx_rows(path: Path, *, sheet: str | None) -> tuple[str, list[tuple[int, list[str]]]]:
    """The plan worksheet's name and its rows as the text a person sees, with Excel row numbers.

    The sheet is the one named, else the one whose header has zone_id (several such sheets are refused, an old
    plan beside the new one must not be used unnoticed). A cell Excel shows as 45 % reads 45; a formula
    without a saved value, and merged cells in the plan rows, are refused naming row and column."""
    problem = _unpacked_size_problem(path)
    if problem:
        raise TableError(problem)
    import openpyxl  # loaded by the runs that read an .xlsx plan sheet, not by every run

    try:
        shown = openpyxl.load_workbook(path, data_only=True)
        typed = openpyxl.load_workbook(path, data_only=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise TableError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    name = _plan_sheet_name(path, shown, sheet=sheet)
    values, formulas = shown[name], typed[name]
    problems = [*_merged_problems(values), *_formula_problems(values, formulas)]
    if problems:
        raise TableError(f"{path}, sheet {name!r}: " + "; ".join(problems[:10]))
    rows = [(n, [_cell_text(_as_shown(cell)) for cell in row])
            for n, row in enumerate(values.iter_rows(), start=1)]
    return name, rows


def _plan_sheet_name(path: Path, book: openpyxl.Workbook, *, sheet: str | None) -> str:
    if sheet is not None:
        if sheet not in book.sheetnames:
            raise TableError(f"{path}: no sheet {sheet!r}; the workbook has: {', '.join(book.sheetnames)}")
        return sheet
    with_ids = [ws.title for ws in book.worksheets
                if any(str(v).strip() == "zone_id" for row in ws.iter_rows(max_row=20, values_only=True) for v in row)]
    if len(with_ids) > 1:
        raise TableError(f"{path}: sheets {', '.join(repr(n) for n in with_ids)} all look like plan sheets (a "
                         "zone_id column); name the one to use with plans.sheet in the config")
    return with_ids[0] if with_ids else book.worksheets[0].title


def _merged_problems(ws: Worksheet) -> list[str]:
    """Merged cells below the header row: Excel shows one value over several rows, the file holds it once."""
    from openpyxl.utils import get_column_letter

    header = next((n for n, row in enumerate(ws.iter_rows(values_only=True), start=1) if any(
        v is not None and str(v).strip() and not str(v).startswith("#") for v in row)), 0)
    return [f"cells {r.coord} are merged (row {r.min_row}, column {get_column_letter(r.min_col)}): unmerge them "
            "and type the value in every row" for r in ws.merged_cells.ranges if r.max_row > header]


def _formula_problems(values: Worksheet, formulas: Worksheet) -> list[str]:
    """Formulas whose result the file does not hold (written by a program that does not calculate)."""
    return [f"row {cell.row}, column {cell.column_letter}: the formula {cell.value} has no saved value; open and "
            "save the file in Excel or WPS, or type the value"
            for row in formulas.iter_rows() for cell in row
            if cell.data_type == "f" and values[cell.coordinate].value is None]


def _as_shown(cell: Cell | MergedCell) -> object:
    """The value as Excel shows it: a percent-formatted 0.45 is the 45 a person typed as 45 %."""
    value = cell.value
    if isinstance(value, int | float) and not isinstance(value, bool) and "%" in str(cell.number_format):
        return round(value * 100, 9)
    return value


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
