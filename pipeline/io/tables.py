"""Tables users give: carbon factor CSVs (or the built-in ones) and plan sheets."""

from __future__ import annotations

import csv
import importlib.resources
import io as _stdio
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipeline.errors import TableError
from pipeline.io.files import require_file

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
    require_file(path)
    try:
        frame = pd.read_csv(path, dtype={"class": str, "lucode": str, "species": str, "zone_id": str},
                            encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: not a readable CSV table ({exc})") from exc
    return frame, str(path)


def read_plan_sheet(path: Path) -> pd.DataFrame:
    """A plan-sheet CSV as text columns, with each row's line number in the file in column `_line`.

    Lines starting with '#' are comments (the shipped sheets say there that their targets are
    illustrative); a UTF-8 byte-order mark, as Excel writes it, is accepted.
    """
    require_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot read the plan sheet as UTF-8 text ({exc})") from exc
    kept = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise TableError(f"{path}: the plan sheet has no header row")
    rows = list(csv.reader(_stdio.StringIO("\n".join(line for _, line in kept))))
    header = [h.strip() for h in rows[0]]
    bad = [n for (n, _), row in zip(kept[1:], rows[1:], strict=True) if len(row) != len(header)]
    if bad:
        raise TableError(f"{path}: line(s) {bad[:10]} do not have the {len(header)} fields of the header "
                         "(quote text that holds commas)")
    frame = pd.DataFrame([[v.strip() for v in row] for row in rows[1:]], columns=header, dtype=str)
    frame[PLAN_LINE] = [n for n, _ in kept[1:]]
    return frame
