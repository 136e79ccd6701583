"""Progress of each zone against its plan: latest value, target, percent reached, and the trend.

Targets are minimums to reach by the target year. The trend is the least-squares slope over all
epochs, carried forward from the latest value to the target year. Status:
- reached: the latest value already meets the target;
- no trend yet: one epoch only, so no slope;
- on track: the trend reaches the target by the target year;
- behind: it does not (or the target year has passed without reaching it).
A carbon target is evaluated only when carbon per zone exists (table zone_carbon); otherwise its
status is "no carbon data".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.classmaps import ClassMap
from pipeline.inputs.check import Inputs
from pipeline.inputs.plans import PROGRESS_FIELDS, sink_classes
from pipeline.names import PROGRESS
from pipeline.stages.base import StageResult

COLUMNS = ["zone_id", "metric", "unit", "classes", "latest_year", "latest_value", "target_value", "target_year",
           "pct_of_target", "slope_per_year", "projected_value", "status"]
NO_CARBON = "no carbon data"
# a least-squares slope carries rounding error: a projection landing on the target counts as reaching it
_REL_TOLERANCE = 1e-9
STATUS_LABELS = {"reached": ("已达标", "reached"), "on track": ("按进度", "on track"),
                 "behind": ("滞后", "behind"), "no trend yet": ("暂无趋势", "no trend yet"),
                 NO_CARBON: ("无碳数据", "no carbon data")}


def class_series(long: pd.DataFrame, *, zone_id: str, classes: tuple[str, ...]) -> pd.DataFrame:
    """Per epoch: area (ha) and share (%) of the zone covered by the given classes."""
    rows = long[(long["zone_id"] == zone_id) & long["class"].isin(classes)]
    sums = rows.groupby("year")[["area_ha", "share"]].sum()
    return pd.DataFrame({"year": sums.index.to_numpy(), "area_ha": sums["area_ha"].to_numpy(),
                         "share_pct": 100.0 * sums["share"].to_numpy()})


def carbon_series(carbon: pd.DataFrame, *, zone_id: str) -> pd.DataFrame:
    """Per epoch: total carbon stock (t C) of a zone; a `total` pool is used as is, else pools add up."""
    rows = carbon[carbon["zone_id"].astype(str) == zone_id]
    if (rows["pool"] == "total").any():
        rows = rows[rows["pool"] == "total"]
    sums = rows.groupby("year")["carbon_t"].sum()
    return pd.DataFrame({"year": sums.index.to_numpy(), "carbon_t": sums.to_numpy()})


def assess(years: np.ndarray, values: np.ndarray, *, target: float, target_year: int) -> dict[str, object]:
    """Latest value, percent of target, slope, projection to the target year and the status."""
    latest_year, latest = int(years[-1]), float(values[-1])
    slope = float(np.polyfit(years.astype(float), values.astype(float), 1)[0]) if len(years) > 1 else math.nan
    projected = latest + slope * (target_year - latest_year) if len(years) > 1 else math.nan
    goal = target * (1 - _REL_TOLERANCE)
    if latest >= goal:
        status = "reached"
    elif len(years) < 2:
        status = "no trend yet"
    elif target_year > latest_year and projected >= goal:
        status = "on track"
    else:
        status = "behind"
    return {"latest_year": latest_year, "latest_value": latest, "target_value": target,
            "pct_of_target": 100.0 * latest / target, "slope_per_year": slope, "projected_value": projected,
            "status": status}


def _no_carbon(zone_id: str, target: float, target_year: int) -> dict[str, object]:
    return {"zone_id": zone_id, "metric": "carbon_stock", "unit": "t C", "classes": "", "latest_year": None,
            "latest_value": math.nan, "target_value": target, "target_year": target_year,
            "pct_of_target": math.nan, "slope_per_year": math.nan, "projected_value": math.nan, "status": NO_CARBON}


def _plan_rows(plan: pd.Series, long: pd.DataFrame, carbon: pd.DataFrame | None,
               *, class_map: ClassMap, wetland_includes_water: bool) -> list[dict[str, object]]:
    zone, year = str(plan["zone_id"]), int(plan["target_year"])
    classes = sink_classes(str(plan["sink_type"]), class_map=class_map, wetland_includes_water=wetland_includes_water)
    land = class_series(long, zone_id=zone, classes=classes)
    rows = []
    for metric, column, unit, target in (("share", "share_pct", "%", plan["target_share_pct"]),
                                         ("area", "area_ha", "ha", plan["target_area_ha"])):
        if not math.isnan(target):
            rows.append({"zone_id": zone, "metric": metric, "unit": unit, "classes": "+".join(classes),
                         "target_year": year, **assess(land["year"].to_numpy(), land[column].to_numpy(),
                                                       target=float(target), target_year=year)})
    target_c = float(plan["target_carbon_t"])
    if not math.isnan(target_c):
        series = carbon_series(carbon, zone_id=zone) if carbon is not None else None
        if series is None or series.empty:
            rows.append(_no_carbon(zone, target_c, year))
        else:
            rows.append({"zone_id": zone, "metric": "carbon_stock", "unit": "t C", "classes": "",
                         "target_year": year, **assess(series["year"].to_numpy(), series["carbon_t"].to_numpy(),
                                                       target=target_c, target_year=year)})
    return rows


def progress_table(long: pd.DataFrame, plans: pd.DataFrame, *, class_map: ClassMap,
                   carbon: pd.DataFrame | None = None, wetland_includes_water: bool = False) -> pd.DataFrame:
    """Long table `zone_progress`: one row per zone and target metric (share, area, carbon_stock)."""
    rows = [row for _, plan in plans.iterrows()
            for row in _plan_rows(plan, long, carbon, class_map=class_map,
                                  wetland_includes_water=wetland_includes_water)]
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def zone_fields(plans: pd.DataFrame, progress: pd.DataFrame) -> pd.DataFrame:
    """Plan and progress fields for the zone layer, indexed by zone_id.

    The headline progress is the share target if given, else the area target; carbon has its own.
    """
    land = progress[progress["metric"].isin(["share", "area"])].sort_values("metric", ascending=False)
    head = land.drop_duplicates("zone_id").set_index("zone_id")
    carbon = progress[progress["metric"] == "carbon_stock"].set_index("zone_id")
    fields = plans.set_index("zone_id").drop(columns=["baseline_year"])
    values = (head["metric"], head["latest_value"], head["pct_of_target"], head["status"], carbon["pct_of_target"],
              carbon["status"])
    for name, value in zip(PROGRESS_FIELDS, values, strict=True):
        fields[name] = value
    return fields


def tabulate(inputs: Inputs, *, class_area: pd.DataFrame, carbon: pd.DataFrame | None) -> StageResult:
    """zone_progress and the plan and progress fields of the zones, when the run has a plan sheet."""
    if inputs.plans is None:
        return StageResult()
    progress = progress_table(class_area, inputs.plans, class_map=inputs.class_map, carbon=carbon,
                              wetland_includes_water=inputs.config.region.wetland_includes_water)
    return StageResult(tables={PROGRESS: progress}, zone_fields=zone_fields(inputs.plans, progress))
