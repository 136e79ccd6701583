"""Plan sheets (一片一方案): read the sheet, check each zone's plan row and turn it into typed targets.

A plan sheet has one row per zone: its sink type, targets (share or area of the sink type's land,
carbon stock), the target year and free-text measures. Every problem is collected and reported with
the sheet's line number and zone id, so a manager can fix the spreadsheet in one go.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection

import pandas as pd

from pipeline.config import RunConfig
from pipeline.errors import SinkzoneError, TableError
from pipeline.inputs.zones import PreparedZones
from pipeline.io.tables import PLAN_LINE, read_plan_sheet

SINK_CLASSES: dict[str, tuple[str, ...]] = {
    # Zone plans count shrub with forest (林地: 乔木林 + 灌木林; docs/sources.md §2).
    "forest": ("forest", "shrub"),
    "grassland": ("grassland",),
    "wetland": ("wetland",),
}
REQUIRED = ("zone_id", "sink_type", "target_year")
TARGETS = ("target_share_pct", "target_area_ha", "target_carbon_t")
OPTIONAL = ("name", "baseline_year", "measures")
LINE = PLAN_LINE


def sink_classes(sink_type: str, *, wetland_includes_water: bool) -> tuple[str, ...]:
    """The land-cover classes whose area a sink type's targets count."""
    classes = SINK_CLASSES[sink_type]
    return (*classes, "water") if sink_type == "wetland" and wetland_includes_water else classes


def _ascii(value: str) -> str:
    """Digits typed with a Chinese input method (全角 ２０３０) as plain digits; other text unchanged."""
    return unicodedata.normalize("NFKC", value).strip()


def _number(value: str, column: str, problems: list[str]) -> float:
    if value == "":
        return math.nan
    try:
        number = float(_ascii(value))
    except ValueError:
        problems.append(f"{column} {value!r} is not a number")
        return math.nan
    if not math.isfinite(number) or number <= 0:
        problems.append(f"{column} must be a positive number, got {value!r}")
    return number


def _year(value: str, column: str, problems: list[str]) -> int | None:
    if value == "":
        return None
    digits = _ascii(value)
    if not (digits.isascii() and digits.isdigit()) or not 1900 <= int(digits) <= 2200:
        problems.append(f"{column} must be a year like 2030, got {value!r}")
        return None
    return int(digits)


def _check_row(row: pd.Series, *, zone_ids: Collection[str], first_year: int) -> tuple[dict[str, object], list[str]]:
    problems: list[str] = []
    zone = row["zone_id"]
    if zone not in zone_ids:
        problems.append(f"zone_id {zone!r} is not in the zone layer")
    if row["sink_type"] not in SINK_CLASSES:
        problems.append(f"sink_type must be one of {', '.join(SINK_CLASSES)}, got {row['sink_type']!r}")
    targets = {c: _number(row.get(c, ""), c, problems) for c in TARGETS}
    if targets["target_share_pct"] > 100:
        problems.append(f"target_share_pct {targets['target_share_pct']:g} is above 100 %")
    if all(math.isnan(v) for v in targets.values()):
        problems.append(f"no target: give at least one of {', '.join(TARGETS)}")
    target_year = _year(row["target_year"], "target_year", problems)
    baseline = _year(row.get("baseline_year", ""), "baseline_year", problems) or first_year
    if target_year is not None and target_year < baseline:
        problems.append(f"target_year {target_year} is before the baseline year {baseline}")
    record = {"zone_id": zone, "plan_name": row.get("name", ""), "sink_type": row["sink_type"],
              **targets, "target_year": target_year, "baseline_year": baseline,
              "measures": row.get("measures", "")}
    return record, problems


def validate_plans(raw: pd.DataFrame, *, zone_ids: Collection[str], first_year: int, source: str) -> pd.DataFrame:
    """Typed plan table from a raw sheet (text columns and `_line`); raise naming every bad row.

    The baseline year is the row's `baseline_year`, or else the first land-cover epoch.
    """
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise TableError(f"{source}: missing column(s) {', '.join(missing)}; a plan sheet needs "
                         f"{', '.join(REQUIRED)} and one of {', '.join(TARGETS)}")
    unknown = [c for c in raw.columns if c not in (*REQUIRED, *TARGETS, *OPTIONAL, LINE)]
    if unknown:
        raise TableError(f"{source}: unknown column(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join((*REQUIRED, *TARGETS, *OPTIONAL))}")
    records, problems = [], []
    seen: dict[str, int] = {}
    for _, row in raw.iterrows():
        record, row_problems = _check_row(row, zone_ids=zone_ids, first_year=first_year)
        if row["zone_id"] in seen:
            row_problems.append(f"zone_id {row['zone_id']!r} already has a plan on line {seen[row['zone_id']]}")
        seen.setdefault(row["zone_id"], row[LINE])
        problems += [f"{source}: line {row[LINE]} (zone_id {row['zone_id']!r}): {p}" for p in row_problems]
        records.append(record)
    if problems:
        raise TableError("bad plan sheet:\n" + "\n".join(problems))
    return pd.DataFrame.from_records(records, columns=["zone_id", "plan_name", "sink_type", *TARGETS,
                                                      "target_year", "baseline_year", "measures"])


def read_plans(config: RunConfig, zones: PreparedZones, problems: list[str]) -> pd.DataFrame | None:
    """The checked plan sheet, or None when the config names none; problems are collected."""
    if config.plans is None:
        return None
    try:
        raw = read_plan_sheet(config.plans.path)
        return validate_plans(raw, zone_ids=set(zones.ids.astype(str)), first_year=config.landcover[0].year,
                              source=str(config.plans.path))
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
