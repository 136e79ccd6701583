"""The results as one Excel workbook (tables.xlsx): one sheet per table, headers in Chinese and English.

Pure: returns the sheets as frames with bilingual column headers; pipeline.files.output writes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from pipeline.core.classmaps import ClassMap
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
    listed = ", ".join(f"{name} ({rows:,} rows)" for name, rows in too_long.items())
    notes = [f"tables.xlsx leaves out {listed}, longer than output.workbook_max_rows ({max_rows:,}); "
             "open them from sinkzones.gpkg"] if too_long else []
    return sheets, notes
