"""The results as one Excel workbook (tables.xlsx): one sheet per table, headers in Chinese and English.

Pure: returns the sheets as frames with bilingual column headers; pipeline.io.output writes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from pipeline.classmaps import ClassMap
from pipeline.present.styles import field_alias


def header(field: str, class_map: ClassMap) -> str:
    """'分区编号 / Zone ID' where the field has labels; the field's own name otherwise."""
    return field_alias(field, class_map.class_names) or field


def workbook_sheets(layers: Mapping[str, pd.DataFrame], class_map: ClassMap) -> dict[str, pd.DataFrame]:
    """Every layer and table as a sheet, in the GeoPackage's order; geometries left out."""
    sheets = {}
    for name, frame in layers.items():
        plain = pd.DataFrame(frame.drop(columns=frame.geometry.name)) if isinstance(frame, gpd.GeoDataFrame) \
            else frame
        sheets[name] = plain.set_axis([header(str(c), class_map) for c in plain.columns], axis=1)
    return sheets
