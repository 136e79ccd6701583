"""Region indicators over all zones: forest coverage rate, grassland and wetland area, against targets.

森林覆盖率 = forest area / land area x 100 (docs/sources.md §2). Forest here is the classes playing the
role forest, plus those playing shrub where the region flag says its shrubland qualifies as
国家特别规定灌木林 (林资发〔2004〕14号:
e.g. counties under 400 mm mean annual precipitation, such as Baotou at about 312 mm). The land area
is the observed area of the zones (nodata excluded), so a raster that misses part of a zone does not
lower the rate. Where zones overlap, the region figures are those of the zones' union (overlapping land
counted once) and the overlap's area is reported as its own row; each zone's own figures are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from pipeline.core.classmaps import NODATA_CLASS, ClassMap
from pipeline.core.config import Region, RegionTarget
from pipeline.core.names import REGION
from pipeline.core.units import MU_PER_HA, WAN
from pipeline.inputs.check import Inputs
from pipeline.measure.graph import Computed
from pipeline.metrics.base import StageResult
from pipeline.metrics.class_area import union_areas_ha

INDICATORS: dict[str, tuple[str, str, str]] = {
    "forest_coverage_pct": ("森林覆盖率", "Forest coverage rate", "%"),
    "forest_area_ha": ("森林面积", "Forest area", "ha"),
    "forest_area_wan_mu": ("森林面积", "Forest area", "万亩"),
    "grassland_area_ha": ("草地面积", "Grassland area", "ha"),
    "grassland_area_wan_mu": ("草地面积", "Grassland area", "万亩"),
    "wetland_area_ha": ("湿地面积", "Wetland area", "ha"),
    "wetland_area_wan_mu": ("湿地面积", "Wetland area", "万亩"),
    "land_area_ha": ("土地面积（有观测）", "Land area (observed)", "ha"),
    "zone_overlap_ha": ("分区重叠面积", "Zone overlap area (sum over pairs)", "ha"),
}
COLUMNS = ["region", "year", "indicator", "label_zh", "label_en", "unit", "value", "target", "target_year",
           "pct_of_target", "meets_target", "target_source"]


def indicator_classes(region: Region, class_map: ClassMap) -> dict[str, tuple[str, ...]]:
    """Which classes make up forest, grassland and wetland under the region's flags, by their roles."""
    roles = {"forest": ("forest", "shrub") if region.shrub_counts_as_forest else ("forest",),
             "grassland": ("grassland",),
             "wetland": ("wetland", "water") if region.wetland_includes_water else ("wetland",)}
    return {name: class_map.with_roles(wanted) for name, wanted in roles.items()}


def year_indicators(one_year: pd.DataFrame, region: Region, class_map: ClassMap) -> dict[str, float]:
    """The indicator values of one epoch from its class-area rows (all zones)."""
    by_class = one_year.groupby("class")["area_ha"].sum()
    land = float(by_class.drop(NODATA_CLASS, errors="ignore").sum())
    values = {"land_area_ha": land}
    for name, classes in indicator_classes(region, class_map).items():
        area = float(by_class.reindex(list(classes)).fillna(0.0).sum())
        values[f"{name}_area_ha"] = area
        values[f"{name}_area_wan_mu"] = area * MU_PER_HA / WAN
    values["forest_coverage_pct"] = 100.0 * values["forest_area_ha"] / land if land > 0 else math.nan
    return values


def _against(value: float, targets: Sequence[RegionTarget]) -> dict[str, object]:
    if not targets:
        return {"target": math.nan, "target_year": None, "pct_of_target": math.nan, "meets_target": None,
                "target_source": ""}
    target = targets[0]
    return {"target": target.value, "target_year": target.year, "pct_of_target": 100.0 * value / target.value,
            "meets_target": bool(value >= target.value), "target_source": target.source}


def region_indicators(long: pd.DataFrame, region: Region, class_map: ClassMap) -> pd.DataFrame:
    """Table `region_indicators`: one row per epoch and indicator, with the region's target if any."""
    rows = []
    for year in sorted(long["year"].unique()):
        for name, value in year_indicators(long[long["year"] == year], region, class_map).items():
            zh, en, unit = INDICATORS[name]
            targets = [t for t in region.targets if t.indicator == name]
            rows.append({"region": region.name, "year": int(year), "indicator": name, "label_zh": zh,
                         "label_en": en, "unit": unit, "value": value, **_against(value, targets)})
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def _union_class_area(inputs: Inputs, computed: Computed) -> pd.DataFrame:
    """Class areas (ha) of the union of the zones per epoch, in the columns of zone_class_area."""
    frames = [union_areas_ha(totals, class_map=inputs.class_map, unit_m2=computed.unit_m2, year=year)
              .rename_axis("class").reset_index().assign(year=year) for year, totals in computed.union_totals.items()]
    return pd.concat(frames, ignore_index=True)


def _overlap_rows(inputs: Inputs, years: list[int]) -> pd.DataFrame:
    zh, en, unit = INDICATORS["zone_overlap_ha"]
    overlap = float(inputs.overlaps["area_ha"].sum())
    rows = [{"region": inputs.config.region.name, "year": year, "indicator": "zone_overlap_ha", "label_zh": zh,
             "label_en": en, "unit": unit, "value": overlap, **_against(overlap, [])} for year in years]
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def region_class_area(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame) -> pd.DataFrame:
    """The region's class areas per epoch (class, year, area_ha): the zones' sum, or where they overlap their
    union's."""
    return class_area if inputs.overlaps.empty else _union_class_area(inputs, computed)


def tabulate(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame) -> StageResult:
    """region_indicators over all zones; where zones overlap, over their union, with the overlap's area."""
    table = region_indicators(region_class_area(inputs, computed, class_area=class_area), inputs.config.region,
                              inputs.class_map)
    if inputs.overlaps.empty:
        return StageResult(tables={REGION: table})
    overlap = _overlap_rows(inputs, sorted(int(y) for y in table["year"].unique()))
    return StageResult(tables={REGION: pd.concat([table, overlap], ignore_index=True)})
