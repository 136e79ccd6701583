"""Accuracy sample points: read, moved to the raster's CRS, their map class and stratum read from the rasters,
their reference labels matched to the class map, and every point that cannot be used listed with its reason.

A point is left out, never guessed, when it lies outside every zone, on nodata (or off the raster) in the assessed
or the strata epoch, or when its reference label is empty or names no class. The rest are the sample.

With `accuracy.change` a point's map class and stratum are both its change category, from its classes in the two
epochs, and the reference label names a category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from pipeline.core.classmaps import NODATA_CLASS, ClassMap
from pipeline.core.config import Change, RunConfig
from pipeline.core.errors import SinkzoneError
from pipeline.core.estimators import change_category
from pipeline.core.grid import Grid
from pipeline.files.points import read_points, values_at_cells
from pipeline.files.rasters import RasterInfo, window_source
from pipeline.inputs.landcover import epoch_nodata
from pipeline.inputs.zones import PreparedZones

_SHOWN = 10  # excluded points listed by id in a note; all of them are in the run's tables


@dataclass(frozen=True)
class AccuracyInputs:
    """The usable sample, one row per point: `sample_id`, `stratum`, `map_class`, `reference_class`; with
    `members` the (point row, zone number) pairs of the zones each point lies in, and the points left out."""

    year: int
    strata_year: int
    samples: pd.DataFrame
    members: NDArray[np.int64]
    excluded: pd.DataFrame
    notes: tuple[str, ...]


def cell_of_points(points: gpd.GeoSeries, grid: Grid) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """Row, column and on-raster flag of each point (already in the grid's CRS); the cell holding it."""
    cols, rows = ~grid.transform * (points.x.to_numpy(), points.y.to_numpy())
    rows, cols = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
    return rows, cols, inside


def class_of_cells(info: RasterInfo, nodata: float | None, class_map: ClassMap, rows: NDArray[np.int64],
                   cols: NDArray[np.int64], inside: NDArray[np.bool_]) -> NDArray[np.object_]:
    """The class name under each point; NODATA_CLASS off the raster, on nodata or on a code the map lacks."""
    classes = np.full(len(rows), NODATA_CLASS, dtype=object)
    codes = values_at_cells(window_source(info.path), rows[inside], cols[inside])
    lookup = class_map.code_to_class()
    classes[inside] = [NODATA_CLASS if nodata is not None and c == nodata else lookup.get(int(c), NODATA_CLASS)
                       for c in codes]
    return classes


def reference_classes(labels: pd.Series, valid: Sequence[str]) -> NDArray[np.object_]:
    """Each interpreter's label as one of the `valid` names (case ignored; spaces and hyphens read as "_"); None
    for empty or unknown labels."""
    names = {name.lower(): name for name in valid}
    text = labels.fillna("").astype(str).str.strip().str.lower().str.replace(r"[ -]", "_", regex=True)
    return np.array([names.get(t) for t in text], dtype=object)


def change_categories_of(was: NDArray[np.object_], now: NDArray[np.object_], *, group: Sequence[str],
                         categories: Sequence[str]) -> NDArray[np.object_]:
    """The change category of each point from its classes at the first and second epoch; NODATA_CLASS where
    either is (such a point is outside the population, and `_reasons` says so)."""
    number = change_category(np.isin(was, group), np.isin(now, group))
    known = (was != NODATA_CLASS) & (now != NODATA_CLASS)
    return np.where(known, np.array(categories, dtype=object)[number], NODATA_CLASS)


def zone_members(points: NDArray[np.object_], zones: PreparedZones) -> NDArray[np.int64]:
    """(point row, zone number) for every zone a point lies in (boundary included)."""
    tree = shapely.STRtree(zones.geoms)
    pairs = tree.query(points, predicate="intersects")
    return np.asarray(pairs.T, dtype=np.int64).reshape(-1, 2)


def _reasons(in_zone: NDArray[np.bool_], map_class: NDArray[np.object_], stratum: NDArray[np.object_],
             reference: NDArray[np.object_], *, year: int, strata_year: int) -> list[str]:
    """Why each point cannot be used ('' when it can), the first reason that applies."""
    reasons = []
    for z, m, s, r in zip(in_zone, map_class, stratum, reference, strict=True):
        if not z:
            reasons.append("outside every zone")
        elif m == NODATA_CLASS:
            reasons.append(f"on nodata or off the raster in {year}")
        elif s == NODATA_CLASS:
            reasons.append(f"on nodata or off the raster in {strata_year}")
        elif r is None:
            reasons.append("reference label empty or not a class")
        else:
            reasons.append("")
    return reasons


def _excluded_note(excluded: pd.DataFrame, *, source: str, field: str, valid: Sequence[str], what: str) -> list[str]:
    if excluded.empty:
        return []
    counts = "; ".join(f"{n} {reason}" for reason, n in excluded["reason"].value_counts().items())
    shown = ", ".join(str(i) for i in excluded["sample_id"].head(_SHOWN))
    return [f"{source}: {len(excluded)} sample point(s) left out of the accuracy assessment ({counts}): "
            f"sample_id {shown}{' ...' if len(excluded) > _SHOWN else ''}. Reference labels in {field!r} must "
            f"be {what}: {', '.join(valid)}"]


def _sample_ids(frame: gpd.GeoDataFrame) -> pd.Series:
    if "sample_id" in frame.columns:
        return frame["sample_id"].astype(str).reset_index(drop=True)
    return pd.Series(np.arange(1, len(frame) + 1).astype(str))


def _reference_names(change: Change | None, class_map: ClassMap, problems: list[str]
                     ) -> tuple[list[str] | None, str]:
    """The names a reference label may take and what they are; None (problem collected) for an unknown group."""
    if change is None:
        return class_map.class_names, f"class names of {class_map.name!r}"
    try:
        change.group(class_map)
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None, ""
    return list(change.categories), f"change categories of accuracy.change ({change.from_year}-{change.to_year})"


def read_accuracy(config: RunConfig, zones: PreparedZones, infos: Sequence[RasterInfo], class_map: ClassMap,
                  problems: list[str]) -> AccuracyInputs | None:
    """The checked sample of the config's `accuracy:` section, or None (problems collected) without one."""
    settings, years = config.accuracy, config.accuracy_years
    if settings is None or years is None:
        return None
    source = str(settings.samples)
    try:
        frame = read_points(settings.samples, layer=settings.layer)
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    if settings.reference_field not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        problems.append(f"{source}: no field {settings.reference_field!r} with the reference labels; the "
                        f"sample has: {fields}. Set accuracy.reference_field")
        return None
    grid = infos[0].grid
    points = frame.geometry.to_crs(grid.crs).reset_index(drop=True)
    rows, cols, inside = cell_of_points(points, grid)
    by_year = {e.year: (e, info) for e, info in zip(config.landcover, infos, strict=True)}
    map_class, stratum = (class_of_cells(by_year[y][1], epoch_nodata(*by_year[y]), class_map, rows, cols, inside)
                          for y in years)
    valid, what = _reference_names(settings.change, class_map, problems)
    if valid is None:
        return None
    reference = reference_classes(frame[settings.reference_field].reset_index(drop=True), valid)
    members = zone_members(points.to_numpy(), zones)
    in_zone = np.zeros(len(points), dtype=bool)
    in_zone[members[:, 0]] = True
    table = pd.DataFrame({"sample_id": _sample_ids(frame), "stratum": stratum, "map_class": map_class,
                          "reference_class": reference, "reference_label": frame[settings.reference_field]
                          .reset_index(drop=True).astype(str),
                          "reason": _reasons(in_zone, map_class, stratum, reference, year=years[0],
                                             strata_year=years[1])})
    if settings.change is not None:  # the sample's strata and map labels are the categories of the two classes
        table["stratum"] = table["map_class"] = change_categories_of(
            stratum, map_class, group=settings.change.group(class_map), categories=settings.change.categories)
    usable = (table["reason"] == "").to_numpy()
    if not usable.any():
        problems.append(f"{source}: none of the {len(table)} sample point(s) can be used (reasons: "
                        f"{', '.join(table['reason'].unique())}); check the points' CRS and the reference labels")
        return None
    excluded = table.loc[~usable, ["sample_id", "reference_label", "reason"]]
    keep = np.flatnonzero(usable)
    renumber = np.full(len(table), -1, dtype=np.int64)
    renumber[keep] = np.arange(len(keep))
    members = members[usable[members[:, 0]]]
    members[:, 0] = renumber[members[:, 0]]
    return AccuracyInputs(year=years[0], strata_year=years[1],
                          samples=table.loc[usable, ["sample_id", "stratum", "map_class", "reference_class"]]
                          .reset_index(drop=True), members=members, excluded=excluded.reset_index(drop=True),
                          notes=tuple(_excluded_note(excluded, source=source, field=settings.reference_field,
                                                     valid=valid, what=what)))
