"""A streamed .xlsx writer for plain tables: cells as XML text, rows joined in batches and deflated into the zip
one worksheet at a time, so memory holds one batch of rows whatever the table's length.

Written by hand because a table's cells are many (320,000 rows x 6 columns for five epochs of 2,000 zones) and
a general writer spends microseconds on each (XlsxWriter's constant-memory mode: 12 s for those rows, more
than the rest of the run); here a column's cells are formatted in one pass and a repeated text once. Text goes
only into inline-string cells, so no text ever becomes a formula, a number or a link.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

EMPTY = "<c/>"  # cells carry no reference, so a gap is written to keep the next cell in its column
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_BATCH_ROWS = 20_000
# one font, the two fills and the border every workbook declares, and the one cell format all cells use
_STYLES = (f'{_HEAD}<styleSheet xmlns="{_MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font>'
           '</fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill '
           'patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/>'
           '<diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
           'borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
           'xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
           '</styleSheet>')


def text_cell(text: str) -> str:
    """Literal text (already cleaned of the control characters XML cannot hold: core/literal.py)."""
    return f'<c t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'


def number_cell(value: float) -> str:
    """A number as the shortest text that reads back as the same double; an infinity as Excel's #NUM! error."""
    return f"<c><v>{value!r}</v></c>" if math.isfinite(value) else '<c t="e"><v>#NUM!</v></c>'


def bool_cell(value: bool) -> str:
    return f'<c t="b"><v>{int(value)}</v></c>'


def write_xlsx(path: Path | IO[bytes], sheets: Mapping[str, Iterable[Sequence[str]]]) -> None:
    """Worksheets named as given (at most 31 characters each), each from its rows of cell XML, in order, into a
    file or a binary stream."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _content_types(len(sheets)))
        archive.writestr("_rels/.rels", _relations([("officeDocument", "xl/workbook.xml")], ns=_DOC_REL))
        archive.writestr("xl/workbook.xml", _workbook(list(sheets)))
        parts = [("worksheet", f"worksheets/sheet{k}.xml") for k in range(1, len(sheets) + 1)]
        archive.writestr("xl/_rels/workbook.xml.rels", _relations([*parts, ("styles", "styles.xml")], ns=_DOC_REL))
        archive.writestr("xl/styles.xml", _STYLES)
        for k, rows in enumerate(sheets.values(), start=1):
            with archive.open(f"xl/worksheets/sheet{k}.xml", "w", force_zip64=True) as part:
                _write_sheet(part, rows)


def _write_sheet(part: IO[bytes], rows: Iterable[Sequence[str]]) -> None:
    part.write(f'{_HEAD}<worksheet xmlns="{_MAIN}"><sheetData>'.encode())
    batch: list[str] = []
    for r, row in enumerate(rows, start=1):
        batch.append(f'<row r="{r}">{"".join(row)}</row>')
        if len(batch) == _BATCH_ROWS:
            part.write("".join(batch).encode())
            batch.clear()
    part.write(("".join(batch) + "</sheetData></worksheet>").encode())


def _content_types(n_sheets: int) -> str:
    sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{k}.xml" ContentType="{_TYPE}.worksheet+xml"/>'
                     for k in range(1, n_sheets + 1))
    return (f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>{sheets}</Types>')


def _relations(targets: list[tuple[str, str]], *, ns: str) -> str:
    links = "".join(f'<Relationship Id="rId{k}" Type="{ns}/{kind}" Target="{target}"/>'
                    for k, (kind, target) in enumerate(targets, start=1))
    return f'{_HEAD}<Relationships xmlns="{_PKG_REL}">{links}</Relationships>'


def _workbook(names: list[str]) -> str:
    sheets = "".join(f'<sheet name={quoteattr(name)} sheetId="{k}" r:id="rId{k}"/>'
                     for k, name in enumerate(names, start=1))
    return f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_REL}"><sheets>{sheets}</sheets></workbook>'
