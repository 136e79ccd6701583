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

from pipeline.core.classmaps import ClassMap
from pipeline.core.names import PROGRESS
from pipeline.inputs.check import Inputs
from pipeline.inputs.plan_sheets import PROGRESS_FIELDS, sink_classes
from pipeline.metrics.base import StageResult

COLUMNS = ["zone_id", "metric", "unit", "classes", "latest_year", "latest_value", "target_value", "target_year",
           "pct_of_target", "slope_per_year", "projected_value", "status"]
NO_CARBON = "no carbon data"
# a least-squares slope carries rounding error: a projection landing on the target counts as reaching it
_REL_TOLERANCE = 1e-9
STATUS_LABELS = {"reached": ("已达标", "reached"), "on track": ("按进度", "on track"),
                 "behind": ("滞后", "behind"), "no trend yet": ("暂无趋势", "no trend yet"),
                 NO_CARBON: ("无碳数据", "no carbon data")}


def _members(sink_type: str, class_map: ClassMap, wetland_includes_water: bool) -> tuple[str, ...]:
    return tuple(sink_classes(sink_type, class_map=class_map, wetland_includes_water=wetland_includes_water))


def sink_series(long: pd.DataFrame, plans: pd.DataFrame, *, class_map: ClassMap,
                wetland_includes_water: bool) -> pd.DataFrame:
    """Per plan zone and epoch: area (ha) and share (%) of the zone covered by its sink type's classes.

    A class missing from the long table in an epoch counts 0 (the table has no rows for zero areas).
    """
    kinds = plans["sink_type"].astype(str).unique()
    members = pd.DataFrame([(k, c) for k in kinds for c in _members(k, class_map, wetland_includes_water)],
                           columns=["sink_type", "class"])
    zone_kind = pd.DataFrame({"zone_id": plans["zone_id"].astype(str), "sink_type": plans["sink_type"].astype(str)})
    rows = long.merge(zone_kind, on="zone_id").merge(members, on=["sink_type", "class"])
    sums = rows.groupby(["zone_id", "year"])[["area_ha", "share"]].sum()
    every = pd.MultiIndex.from_product([zone_kind["zone_id"].unique(), np.sort(long["year"].unique())],
                                       names=["zone_id", "year"])
    sums = sums.reindex(every, fill_value=0.0).reset_index()
    return sums.assign(share_pct=100.0 * sums.pop("share"))


def carbon_totals(carbon: pd.DataFrame) -> pd.DataFrame:
    """Per zone and epoch: total carbon stock (t C); a zone's `total` pool is used as is, else pools add up."""
    rows = carbon.assign(zone_id=carbon["zone_id"].astype(str))
    is_total = rows["pool"] == "total"
    has_total = is_total.groupby(rows["zone_id"]).transform("any")
    rows = rows[is_total | ~has_total]
    return rows.groupby(["zone_id", "year"])["carbon_t"].sum().reset_index()


def trends(series: pd.DataFrame, *, value: str) -> pd.DataFrame:
    """Per zone: latest epoch and value, the least-squares slope of value over the epochs (NaN with one)
    and the number of epochs; indexed by zone_id."""
    zone = series["zone_id"]
    x, y = series["year"].astype(float), series[value].astype(float)
    dx = x - x.groupby(zone).transform("mean")
    dy = y - y.groupby(zone).transform("mean")
    sxx, sxy = (dx * dx).groupby(zone).sum(), (dx * dy).groupby(zone).sum()
    last = series.sort_values("year", kind="stable").groupby("zone_id").tail(1).set_index("zone_id")
    epochs = zone.groupby(zone).size()
    return pd.DataFrame({"latest_year": last["year"].astype(int), "latest_value": last[value].astype(float),
                         "slope_per_year": (sxy / sxx).where(epochs > 1), "epochs": epochs})


def assess_all(trend: pd.DataFrame, *, target: pd.Series, target_year: pd.Series) -> pd.DataFrame:
    """Percent of target, projection to the target year and status of each zone's trend."""
    latest, slope = trend["latest_value"], trend["slope_per_year"]
    projected = (latest + slope * (target_year - trend["latest_year"])).where(trend["epochs"] > 1)
    goal = target * (1 - _REL_TOLERANCE)
    on_track = (target_year > trend["latest_year"]) & (projected >= goal)
    status = np.select([latest >= goal, trend["epochs"] < 2, on_track], ["reached", "no trend yet", "on track"],
                       "behind")
    return trend.drop(columns="epochs").assign(target_value=target, pct_of_target=100.0 * latest / target,
                                               projected_value=projected, status=status)


def assess(years: np.ndarray, values: np.ndarray, *, target: float, target_year: int) -> dict[str, object]:
    """Latest value, percent of target, slope, projection to the target year and the status of one series."""
    trend = trends(pd.DataFrame({"zone_id": "", "year": years, "value": values}), value="value")
    row = assess_all(trend, target=pd.Series(target, index=trend.index),
                     target_year=pd.Series(target_year, index=trend.index)).iloc[0]
    return {c: row[c] for c in COLUMNS if c in row.index}


def _metric_rows(plans: pd.DataFrame, trend: pd.DataFrame, *, metric: str, unit: str, target: str,
                 classes: pd.Series) -> pd.DataFrame:
    """Rows of one metric for the plans that set its target."""
    wanted = plans[plans[target].notna()].set_index("zone_id")
    zone_trend = trend.reindex(wanted.index)
    assessed = assess_all(zone_trend, target=wanted[target].astype(float), target_year=wanted["target_year"])
    return assessed.assign(metric=metric, unit=unit, classes=classes.reindex(wanted.index),
                           target_year=wanted["target_year"].astype(int)).rename_axis("zone_id").reset_index()


def _carbon_rows(plans: pd.DataFrame, carbon: pd.DataFrame | None) -> pd.DataFrame:
    """Carbon-stock rows: assessed where the zone has carbon, else `no carbon data`."""
    wanted = plans[plans["target_carbon_t"].notna()].set_index("zone_id")
    totals = carbon_totals(carbon) if carbon is not None else pd.DataFrame(columns=["zone_id", "year", "carbon_t"])
    with_data = wanted[wanted.index.isin(totals["zone_id"])]
    assessed = _metric_rows(with_data.reset_index(), trends(totals, value="carbon_t"), metric="carbon_stock",
                            unit="t C", target="target_carbon_t", classes=pd.Series("", index=with_data.index))
    missing = wanted[~wanted.index.isin(totals["zone_id"])]
    none = pd.DataFrame({"zone_id": missing.index, "metric": "carbon_stock", "unit": "t C", "classes": "",
                         "latest_year": None, "latest_value": math.nan,
                         "target_value": missing["target_carbon_t"].astype(float).to_numpy(),
                         "target_year": missing["target_year"].astype(int).to_numpy(), "pct_of_target": math.nan,
                         "slope_per_year": math.nan, "projected_value": math.nan, "status": NO_CARBON})
    return pd.concat([frame for frame in (assessed, none) if len(frame)], ignore_index=True) \
        if len(assessed) or len(none) else assessed


def progress_table(long: pd.DataFrame, plans: pd.DataFrame, *, class_map: ClassMap,
                   carbon: pd.DataFrame | None = None, wetland_includes_water: bool = False) -> pd.DataFrame:
    """Long table `zone_progress`: one row per zone and target metric (share, area, carbon_stock), in plan order."""
    plans = plans.assign(zone_id=plans["zone_id"].astype(str))
    series = sink_series(long, plans, class_map=class_map, wetland_includes_water=wetland_includes_water)
    land, area = trends(series, value="share_pct"), trends(series, value="area_ha")
    classes = pd.Series(["+".join(_members(str(k), class_map, wetland_includes_water)) for k in plans["sink_type"]],
                        index=plans["zone_id"])
    parts = [_metric_rows(plans, land, metric="share", unit="%", target="target_share_pct", classes=classes),
             _metric_rows(plans, area, metric="area", unit="ha", target="target_area_ha", classes=classes),
             _carbon_rows(plans, carbon)]
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else \
        pd.DataFrame(columns=COLUMNS)
    order = pd.Series(np.arange(len(plans)), index=plans["zone_id"])
    metric_order = {"share": 0, "area": 1, "carbon_stock": 2}
    rows = rows.assign(_plan=rows["zone_id"].map(order), _metric=rows["metric"].map(metric_order))
    return rows.sort_values(["_plan", "_metric"], kind="stable")[COLUMNS].reset_index(drop=True)


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
