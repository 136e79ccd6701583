"""The one policy for text leaving sinkzone (workbook, CSV, KML, HTML, JSON, charts): what a user typed comes out
as the same literal text, whatever the format would otherwise make of it.

- Control characters: Word's line break (\\x0b) and a form feed become a line break; the rest, which XML (xlsx,
  KML, SVG) cannot hold at all, become U+FFFD, so the file stays valid and the place stays visible.
- Formulas never: a spreadsheet opening a CSV runs a cell starting with = + - @ (OWASP "CSV injection"), so such
  text gets a leading apostrophe there; in xlsx text cells are typed as text instead.
- Long integers as text: Excel keeps 15 significant digits, so an 18-digit 小班 code stored as a number becomes
  another code; integers beyond 2^53 - 1 (past which a double is inexact) leave as text.
- Truncation noted: an Excel cell holds at most 32,767 characters; longer text is cut with a note.
- JSON that cannot open a tag: `<`, `>` and `&` leave as \\u escapes (the same data to a JSON reader), so a browser
  or proxy showing it as HTML, or a script file assigning it, shows text; U+2028 and U+2029 too (older JavaScript
  ends a line there).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

EXCEL_CELL_CHARS = 32_767
EXCEL_ROWS = 1_048_576  # rows of one worksheet, the header included: what Excel opens
EXACT_INTEGER = 2**53 - 1  # the largest integer every double (Excel's only number type) holds exactly
_LINE_BREAKS = re.compile("[\x0b\x0c\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                                "\u2029": "\\u2029"})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def clean(text: str) -> str:
    """Text with line-break controls as line breaks and every other control character as U+FFFD."""
    return _CONTROLS.sub("\ufffd", _LINE_BREAKS.sub("\n", text))


def csv_text(text: str) -> str:
    """A CSV field a spreadsheet shows literally: text that would start a formula gets an apostrophe.

    A plain number such as -3.5 stays a number."""
    text = clean(text)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def exact_number(value: int | float) -> int | float | str:
    """A number a spreadsheet or JSON reader keeps exactly, else its digits as text."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_INTEGER:
        return str(value)
    return value


def cell_text(text: str, *, limit: int = EXCEL_CELL_CHARS) -> tuple[str, bool]:
    """Text for one spreadsheet cell and whether it had to be cut to the cell's limit."""
    text = clean(text)
    return (text, False) if len(text) <= limit else (text[:limit], True)


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def json_text(data: Any) -> str:
    """`data` as JSON text (UTF-8 characters kept) in which nothing can open an HTML tag or end a script line."""
    return json.dumps(data, ensure_ascii=False).translate(_JSON_ESCAPES)
