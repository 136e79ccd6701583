"""Region indicators over all zones: forest coverage rate, grassland and wetland area, grassland vegetation cover
(a remote-sensing proxy), wetland protection rate, forest growing stock and the plan's zone scale, against targets.

森林覆盖率 = forest area / land area x 100 (docs/sources.md §2). Forest here is the classes playing the
role forest, plus those playing shrub where the region flag says its shrubland qualifies as
国家特别规定灌木林 (林资发〔2004〕14号:
e.g. counties under 400 mm mean annual precipitation, such as Baotou at about 312 mm). The land area
is the observed area of the zones (nodata excluded), so a raster that misses part of a zone does not
lower the rate. Where zones overlap, the region figures are those of the zones' union (overlapping land
counted once) and the overlap's area is reported as its own row; each zone's own figures are unchanged.

The zone scale (林草碳汇片区规模) is the area of the plan sheet's zones of each sink type (their union, so
overlapping zones of one type count once), and of all of them, in ha and 万亩. Vegetation cover, protection
rate and growing stock are the region rows of their own stages' tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import shapely

from pipeline.core.classmaps import NODATA_CLASS, ClassMap
from pipeline.core.config import Region, RegionTarget
from pipeline.core.grid import zone_areas_m2
from pipeline.core.names import GROWING_STOCK, PROTECTION, REGION, VEGETATION
from pipeline.core.units import M2_PER_HA, MU_PER_HA, WAN
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
    "grassland_vegetation_cover_pct": ("草原综合植被盖度（遥感代理）", "Grassland vegetation cover "
                                       "(remote-sensing proxy)", "%"),
    "wetland_protection_pct": ("湿地保护率", "Wetland protection rate", "%"),
    "forest_growing_stock_m3": ("森林蓄积量", "Forest growing stock", "m³"),
    "sink_zone_area_ha": ("碳汇片区面积", "Sink zone area", "ha"),
    "sink_zone_area_wan_mu": ("碳汇片区面积", "Sink zone area", "万亩"),
}
# wetland_source: which wetland the protection rate measures (land cover / wetland layer); empty on other rows
COLUMNS = ["region", "year", "indicator", "sink_type", "label_zh", "label_en", "unit", "value", "target",
           "target_year", "pct_of_target", "meets_target", "target_source", "wetland_source", "illustrative"]
# the region rows of other stages' tables: (table, its value column, indicator)
STAGE_ROWS = ((VEGETATION, "cover_pct", "grassland_vegetation_cover_pct"),
              (PROTECTION, "protection_pct", "wetland_protection_pct"),
              (GROWING_STOCK, "growing_stock_m3", "forest_growing_stock_m3"))
TOTAL = "total"  # the sink_type of the zone scale over every sink type


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
    measured = not math.isnan(value)  # an indicator without data (no wetland mapped ...) neither meets nor misses
    return {"target": target.value, "target_year": target.year, "pct_of_target": 100.0 * value / target.value,
            "meets_target": bool(value >= target.value) if measured else None, "target_source": target.source}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""  # a row without the column reads NaN once framed


def indicator_rows(values: pd.DataFrame, region: Region) -> pd.DataFrame:
    """Rows of region_indicators from (year, indicator, value[, sink_type, illustrative]) rows, with labels and the
    region's target of the same indicator (and sink type: none for a total)."""
    rows = []
    for row in values.to_dict("records"):
        name, sink = row["indicator"], row.get("sink_type") or ""
        zh, en, unit = INDICATORS[name]
        targets = [t for t in region.targets if t.indicator == name and (t.sink_type or TOTAL) == (sink or TOTAL)]
        rows.append({"region": region.name, "year": int(row["year"]), "indicator": name, "sink_type": sink,
                     "label_zh": zh, "label_en": en, "unit": unit, "value": row["value"],
                     **_against(row["value"], targets), "wetland_source": _text(row.get("wetland_source")),
                     "illustrative": bool(row.get("illustrative", False))})
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def region_indicators(long: pd.DataFrame, region: Region, class_map: ClassMap) -> pd.DataFrame:
    """Table `region_indicators`: one row per epoch and indicator, with the region's target if any."""
    values = [{"year": int(year), "indicator": name, "value": value} for year in sorted(long["year"].unique())
              for name, value in year_indicators(long[long["year"] == year], region, class_map).items()]
    return indicator_rows(pd.DataFrame.from_records(values, columns=["year", "indicator", "value"]), region)


def stage_rows(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The region rows of the vegetation cover, protection and growing stock tables, as indicator values."""
    frames = [pd.DataFrame({"year": t["year"], "indicator": name, "value": t[column],
                            "wetland_source": t["wetland_source"] if "wetland_source" in t.columns else "",
                            "illustrative": t["illustrative"] if "illustrative" in t.columns else False})
              for table, column, name in STAGE_ROWS if table in tables
              for t in [tables[table][tables[table]["level"] == "region"]]]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["year", "indicator", "value"])


def zone_scale(inputs: Inputs, years: Sequence[int]) -> pd.DataFrame:
    """The plan's zones by sink type and in all (the union of each set), in ha and 万亩, for every epoch."""
    plans = inputs.plans
    if plans is None or plans.empty:
        return pd.DataFrame(columns=["year", "indicator", "value", "sink_type"])
    sink = plans.set_index(plans["zone_id"].astype(str))["sink_type"].reindex(inputs.zones.ids.astype(str))
    kinds = [k for k in ("forest", "grassland", "wetland") if (sink == k).any()]
    sets = {**{k: inputs.zones.geoms[(sink == k).to_numpy()] for k in kinds},
            TOTAL: inputs.zones.geoms[sink.notna().to_numpy()]}
    ha = {k: float(zone_areas_m2(np.array([shapely.union_all(g)], dtype=object), inputs.grid)[0]) / M2_PER_HA
          for k, g in sets.items()}
    illustrative = bool(inputs.config.plans and inputs.config.plans.illustrative)
    rows = [{"year": year, "indicator": f"sink_zone_area_{unit}", "value": area * factor, "sink_type": kind,
             "illustrative": illustrative}
            for year in years for kind, area in ha.items()
            for unit, factor in (("ha", 1.0), ("wan_mu", MU_PER_HA / WAN))]
    return pd.DataFrame.from_records(rows)


def _union_class_area(inputs: Inputs, computed: Computed) -> pd.DataFrame:
    """Class areas (ha) of the union of the zones per epoch, in the columns of zone_class_area."""
    frames = [union_areas_ha(totals, class_map=inputs.class_map, unit_m2=computed.unit_m2, year=year)
              .rename_axis("class").reset_index().assign(year=year) for year, totals in computed.union_totals.items()]
    return pd.concat(frames, ignore_index=True)


def _overlap_rows(inputs: Inputs, years: list[int]) -> pd.DataFrame:
    zh, en, unit = INDICATORS["zone_overlap_ha"]
    overlap = float(inputs.overlaps["area_ha"].sum())
    rows = [{"region": inputs.config.region.name, "year": year, "indicator": "zone_overlap_ha", "sink_type": "",
             "label_zh": zh, "label_en": en, "unit": unit, "value": overlap, **_against(overlap, []),
             "wetland_source": "", "illustrative": False} for year in years]
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def region_class_area(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame) -> pd.DataFrame:
    """The region's class areas per epoch (class, year, area_ha): the zones' sum, or where they overlap their
    union's."""
    return class_area if inputs.overlaps.empty else _union_class_area(inputs, computed)


def tabulate(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame,
             stages: Mapping[str, pd.DataFrame] | None = None) -> StageResult:
    """region_indicators over all zones; where zones overlap, over their union, with the overlap's area; then the
    region rows of the `stages` tables (vegetation cover, protection, growing stock) and the zone scale."""
    table = region_indicators(region_class_area(inputs, computed, class_area=class_area), inputs.config.region,
                              inputs.class_map)
    years = sorted(int(y) for y in table["year"].unique())
    more = [indicator_rows(frame, inputs.config.region) for frame in (stage_rows(stages or {}),
                                                                       zone_scale(inputs, years)) if not frame.empty]
    if not inputs.overlaps.empty:
        more.append(_overlap_rows(inputs, years))
    return StageResult(tables={REGION: pd.concat([table, *more], ignore_index=True)})
