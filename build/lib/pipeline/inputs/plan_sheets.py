"""Plan sheets (一片一方案): read the sheet, check each zone's plan row and turn it into typed targets.

A plan sheet has one row per zone: its sink type, targets (share or area of the sink type's land,
carbon stock), the target year and free-text measures. Every problem is collected and reported with
the sheet's line number and zone id, so a manager can fix the spreadsheet in one go.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Collection

import pandas as pd

from pipeline.core.classmaps import ClassMap
from pipeline.core.config import RunConfig
from pipeline.core.errors import SinkzoneError, TableError
from pipeline.files.tables import PLAN_LINE, read_plan_sheet
from pipeline.inputs.zones import PreparedZones

SINK_ROLES: dict[str, tuple[str, ...]] = {
    # Zone plans count shrub with forest (林地: 乔木林 + 灌木林; docs/sources.md §2).
    "forest": ("forest", "shrub"),
    "grassland": ("grassland",),
    "wetland": ("wetland",),
}
# the words bureau sheets use for the sink types (森林碳汇, 林地, 草原 ...)
SINK_WORDS = {"森林": "forest", "林地": "forest", "森林碳汇": "forest", "草原": "grassland", "草地": "grassland",
              "草原碳汇": "grassland", "湿地": "wetland", "湿地碳汇": "wetland"}
REQUIRED = ("zone_id", "sink_type", "target_year")
TARGETS = ("target_share_pct", "target_area_ha", "target_carbon_t")
OPTIONAL = ("name", "baseline_year", "measures")
LINE = PLAN_LINE
# what the plan and progress add to the zone layer besides the plan's own columns
PROGRESS_FIELDS = ("progress_metric", "progress_latest", "progress_pct", "progress_status", "carbon_progress_pct",
                   "carbon_status")
PLAN_FIELDS = ("plan_name", "sink_type", *TARGETS, "target_year", "measures")


def sink_classes(sink_type: str, *, class_map: ClassMap, wetland_includes_water: bool) -> tuple[str, ...]:
    """The land-cover classes whose area a sink type's targets count: those playing its roles."""
    roles = SINK_ROLES[sink_type]
    return class_map.with_roles((*roles, "water") if sink_type == "wetland" and wetland_includes_water else roles)


def sink_type(value: str) -> str:
    """English sink type of a sheet's cell: forest, grassland or wetland in either language, any case."""
    return SINK_WORDS.get(value, value.lower())


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
    sink = sink_type(row["sink_type"])
    if sink not in SINK_ROLES:
        problems.append(f"sink_type must be one of {', '.join(SINK_ROLES)} (or {', '.join(SINK_WORDS)}), "
                        f"got {row['sink_type']!r}")
    targets = {c: _number(row.get(c, ""), c, problems) for c in TARGETS}
    if targets["target_share_pct"] > 100:
        problems.append(f"target_share_pct {targets['target_share_pct']:g} is above 100 %")
    if all(math.isnan(v) for v in targets.values()):
        problems.append(f"no target: give at least one of {', '.join(TARGETS)}")
    target_year = _year(row["target_year"], "target_year", problems)
    baseline = _year(row.get("baseline_year", ""), "baseline_year", problems) or first_year
    if target_year is not None and target_year < baseline:
        problems.append(f"target_year {target_year} is before the baseline year {baseline}")
    record = {"zone_id": zone, "plan_name": row.get("name", ""), "sink_type": sink,
              **targets, "target_year": target_year, "baseline_year": baseline,
              "measures": row.get("measures", "")}
    return record, problems


def _extra_columns(columns: Collection[str], *, taken: Collection[str], source: str) -> list[str]:
    """Columns beyond the standard ones, kept as plan attributes; near-misses of standard names and
    names the zone layer already uses are refused (a mistyped target must not pass as an attribute)."""
    standard = (*REQUIRED, *TARGETS, *OPTIONAL)
    extra = [c for c in columns if c not in (*standard, LINE)]
    problems = []
    for column in extra:
        if not column:
            problems.append("a column has values but no header: name it (e.g. 备注) or delete it")
            continue
        near = difflib.get_close_matches(column, standard, n=1, cutoff=0.75)
        if near or column.startswith("target_"):
            problems.append(f"unknown column {column!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                            + f" (plan columns: {', '.join(standard)})")
        elif column.lower() in {t.lower() for t in (*taken, *PLAN_FIELDS, *PROGRESS_FIELDS)}:
            problems.append(f"column {column!r} has the name of a field sinkzone computes: rename it in the sheet")
    if problems:
        raise TableError(f"{source}: " + "; ".join(problems))
    return extra


def validate_plans(raw: pd.DataFrame, *, zone_ids: Collection[str], first_year: int, source: str,
                   class_map: ClassMap, taken: Collection[str] = ()) -> pd.DataFrame:
    """Typed plan table from a raw sheet (text columns and `_line`); raise naming every bad row.

    The baseline year is the row's `baseline_year`, or else the first land-cover epoch. Other columns
    (such as 备注) are kept as text after the standard ones; `taken` are the zone layer's other field names.
    """
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise TableError(f"{source}: missing column(s) {', '.join(missing)}; a plan sheet needs "
                         f"{', '.join(REQUIRED)} and one of {', '.join(TARGETS)}")
    extra = _extra_columns(list(raw.columns), taken=taken, source=source)
    records, problems = [], []
    seen: dict[str, int] = {}
    for _, row in raw.iterrows():
        record, row_problems = _check_row(row, zone_ids=zone_ids, first_year=first_year)
        if row["zone_id"] in seen:
            row_problems.append(f"zone_id {row['zone_id']!r} already has a plan on line {seen[row['zone_id']]}")
        seen.setdefault(row["zone_id"], row[LINE])
        problems += [f"{source}: line {row[LINE]} (zone_id {row['zone_id']!r}): {p}" for p in row_problems]
        records.append({**record, **{c: row[c] for c in extra}})
    problems += _classless_sink_types({r["sink_type"] for r in records}, class_map, source=source)
    if problems:
        raise TableError("bad plan sheet:\n" + "\n".join(problems))
    return pd.DataFrame.from_records(records, columns=["zone_id", *PLAN_FIELDS[:-1], "baseline_year", "measures",
                                                      *extra])


def _classless_sink_types(sinks: Collection[str], class_map: ClassMap, *, source: str) -> list[str]:
    """A sink type whose roles no class of the map plays could never be measured."""
    return [f"{source}: sink_type {sink} counts the classes playing {' or '.join(SINK_ROLES[sink])}, and class "
            f"map {class_map.name!r} has none: give a class that role (`name: {{codes: [...], role: "
            f"{SINK_ROLES[sink][0]}}}`)" for sink in sorted(sinks)
            if sink in SINK_ROLES and not class_map.with_roles(SINK_ROLES[sink])]


def read_plans(config: RunConfig, zones: PreparedZones, class_map: ClassMap, *, taken: Collection[str],
               problems: list[str], notes: list[str]) -> pd.DataFrame | None:
    """The checked plan sheet, or None when the config names none; problems and notes are collected."""
    if config.plans is None:
        return None
    try:
        sheet = read_plan_sheet(config.plans.path, sheet=config.plans.sheet)
        notes += sheet.notes()
        return validate_plans(sheet.frame, zone_ids=set(zones.ids.astype(str)), first_year=config.landcover[0].year,
                              source=sheet.name, class_map=class_map, taken=taken)
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
