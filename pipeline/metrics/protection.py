"""湿地保护率 (wetland protection rate): table `zone_wetland_protection`, per zone and for the region, each epoch.

rate = wetland area inside the union of the protected areas / wetland area x 100. Both areas are exact class
areas from the same coverage model (the protected part of a zone is the zone cut by the union of the protected
polygons, so a place inside two reserves counts once). Wetland is the classes playing wetland, and water too
where the region's `wetland_includes_water` says so: official rates differ mostly by that class list.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.core.classmaps import NODATA_CLASS
from pipeline.core.names import PROTECTION
from pipeline.inputs.check import Inputs
from pipeline.measure.graph import Computed
from pipeline.metrics.base import StageResult
from pipeline.metrics.class_area import class_area_table
from pipeline.metrics.region import indicator_classes, region_class_area
from pipeline.metrics.vegetation import latest_zone_field

PROTECTION_FIELD = "wetland_protection_pct"  # the zone layer's field: the latest epoch's rate
LABEL_ZH = "湿地保护率"
LABEL_EN = "Wetland protection rate"
# the region's rows while they are summed, a key no zone id can be (ids are printable text)
_REGION_KEY = "\x00region"
COLUMNS = ["level", "zone_id", "year", "wetland_ha", "protected_wetland_ha", "protection_pct", "wetland_classes",
           "label_zh", "label_en", "illustrative"]


def _wetland_ha(long: pd.DataFrame, classes: tuple[str, ...], key: str) -> pd.Series:
    """Wetland area (ha) by `key` and year from class-area rows."""
    wet = long[long["class"].isin(classes) & (long["class"] != NODATA_CLASS)]
    return wet.groupby([key, "year"])["area_ha"].sum()


def protection_table(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame) -> pd.DataFrame:
    """Zone rows, then one region row per epoch."""
    classes = indicator_classes(inputs.config.region, inputs.class_map)["wetland"]
    region = _REGION_KEY
    ids = np.array([*inputs.zones.ids.astype(str), region], dtype=object)
    protected_long = pd.concat([class_area_table(totals, class_map=inputs.class_map, zone_ids=ids,
                                                 off_raster_m2=np.zeros(len(ids)), unit_m2=computed.unit_m2, year=year)
                                for year, totals in sorted(computed.protected.items())], ignore_index=True)
    whole = pd.concat([class_area[["zone_id", "year", "class", "area_ha"]],
                       region_class_area(inputs, computed, class_area=class_area)
                       .assign(zone_id=region)[["zone_id", "year", "class", "area_ha"]]], ignore_index=True)
    years = sorted(computed.protected)
    index = pd.MultiIndex.from_product([ids, years], names=["zone_id", "year"])
    wetland = _wetland_ha(whole, classes, "zone_id").reindex(index, fill_value=0.0)
    protected = _wetland_ha(protected_long, classes, "zone_id").reindex(index, fill_value=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(wetland > 0, 100.0 * protected / wetland, math.nan)
    spec = inputs.config.protected_areas
    is_region = index.get_level_values("zone_id") == region
    return pd.DataFrame({
        "level": np.where(is_region, "region", "zone"),
        "zone_id": np.where(is_region, inputs.config.region.name, index.get_level_values("zone_id")),
        "year": index.get_level_values("year"),
        "wetland_ha": wetland.to_numpy(), "protected_wetland_ha": protected.to_numpy(), "protection_pct": pct,
        "wetland_classes": ", ".join(classes), "label_zh": LABEL_ZH, "label_en": LABEL_EN,
        "illustrative": bool(spec and spec.illustrative)})[COLUMNS]


def tabulate(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame) -> StageResult:
    """zone_wetland_protection when the config names protected areas."""
    if inputs.protected is None:
        return StageResult()
    table = protection_table(inputs, computed, class_area=class_area)
    notes = []
    classes = indicator_classes(inputs.config.region, inputs.class_map)["wetland"]
    if not classes:
        notes.append(f"wetland protection: class map {inputs.class_map.name!r} has no class playing wetland"
                     f"{' or water' if inputs.config.region.wetland_includes_water else ''}; every rate is empty")
    no_wetland = table[(table["level"] == "region") & (table["wetland_ha"] <= 0)]["year"].tolist()
    if no_wetland:
        notes.append(f"wetland protection: the land cover maps no wetland ({', '.join(classes)}) inside the zones in "
                     f"{', '.join(map(str, no_wetland))}, so the rate is empty; a map that shows the wetlands "
                     "(CLCD 30 m, 三调 湿地) gives it")
    return StageResult(tables={PROTECTION: table}, notes=tuple(notes),
                       zone_fields=latest_zone_field(table, value="protection_pct", field=PROTECTION_FIELD))
