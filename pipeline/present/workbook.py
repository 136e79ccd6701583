"""The results as one Excel workbook (tables.xlsx): one sheet per table, headers in Chinese and English.

Pure: returns the sheets as frames with bilingual column headers; pipeline.files.output writes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from pipeline.core.classmaps import ClassMap
from pipeline.core.literal import EXCEL_CELL_CHARS, cell_text
from pipeline.present.labels import field_alias


def header(field: str, class_map: ClassMap, *, layer: str | None = None) -> str:
    """'分区编号 / Zone ID' where the field has labels (in `layer`); the field's own name otherwise."""
    return field_alias(field, class_map.class_names, layer=layer) or field


def workbook_sheets(layers: Mapping[str, pd.DataFrame], class_map: ClassMap, *,
                    max_rows: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every layer and table of at most `max_rows` rows as a sheet, in the GeoPackage's order, geometries
    left out; and a note naming the tables left out."""
    sheets = {}
    too_long = {name: len(frame) for name, frame in layers.items() if len(frame) > max_rows}
    for name, frame in layers.items():
        if name in too_long:
            continue
        plain = pd.DataFrame(frame.drop(columns=frame.geometry.name)) if isinstance(frame, gpd.GeoDataFrame) \
            else frame
        sheets[name] = plain.set_axis([header(str(c), class_map, layer=name) for c in plain.columns], axis=1)
    notes = [*_cut_notes(sheets)]
    listed = ", ".join(f"{name} ({rows:,} rows)" for name, rows in too_long.items())
    if too_long:
        notes.append(f"tables.xlsx leaves out {listed}, longer than output.workbook_max_rows ({max_rows:,}); "
                     "open them from sinkzones.gpkg")
    return sheets, notes


def _cut_notes(sheets: Mapping[str, pd.DataFrame]) -> list[str]:
    """Where a text is longer than an Excel cell holds (it is cut there; the GeoPackage keeps it whole)."""
    notes = []
    for name, frame in sheets.items():
        for column in frame.columns[[not pd.api.types.is_numeric_dtype(t) for t in frame.dtypes]]:
            long = _longer_than_a_cell(frame[column])
            if long.any():
                notes.append(f"tables.xlsx, sheet {name}, column {column}: {int(long.sum())} text(s) longer than "
                             f"the {EXCEL_CELL_CHARS:,} characters an Excel cell holds are cut there (first on row "
                             f"{int(long.to_numpy().argmax()) + 2}); sinkzones.gpkg keeps them whole")
    return notes


def _longer_than_a_cell(values: pd.Series) -> pd.Series:
    """Which texts cell_text cuts: cleaning replaces characters one for one, so a text is cut when it is longer
    than a cell holds. A text column is measured at once; other columns a distinct value at a time."""
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        return values.str.len().gt(EXCEL_CELL_CHARS).fillna(False).astype(bool)
    seen: dict[tuple[type, object], bool] = {}
    return pd.Series([seen[k] if (k := (type(v), v)) in seen else seen.setdefault(k, isinstance(v, str)
                                                                                  and cell_text(v)[1])
                      for v in values.tolist()], index=values.index, dtype=bool)
