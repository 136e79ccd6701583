"""`sinkzone sample`: a stratified random sample of cells for an interpreter to label (Olofsson et al. 2014).

The population is every cell whose centre lies inside the union of the zones and holds a class (not nodata) in
both the strata epoch and the assessed epoch. The strata are the classes of the strata epoch (by default the
assessed one; another epoch makes a Stehman 2014 design, which `accuracy: {strata_year: ...}` then analyses).
The total sample size comes from the target standard error of overall accuracy and an expected user's accuracy
(Olofsson 2014 eq. 13), allocated in proportion to stratum area with a minimum per stratum (their section 5.1.2).
Each stratum's cells are then drawn with equal probability without replacement, seeded, in two passes over the
chunks: one counts the cells of each stratum, the other picks the drawn ranks. Points are the cells' centres.

A config with `accuracy.change` makes the strata its change categories (Olofsson 2014, section 5): each cell's
stratum and map class is its category from the classes of from_year and to_year, and the population is the cells
with a class in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from rasterio.features import geometry_mask
from rasterio.transform import xy

from pipeline.core.classmaps import ClassMap
from pipeline.core.config import Change, RunConfig
from pipeline.core.errors import ConfigError
from pipeline.core.estimators import allocate, change_category, sample_size
from pipeline.core.grid import Grid, row_cell_areas_m2
from pipeline.core.units import M2_PER_HA
from pipeline.files.points import write_samples
from pipeline.files.rasters import WindowSource, block_aligned_chunks, read_window, window_source
from pipeline.inputs.check import Inputs, check_inputs
from pipeline.inputs.landcover import epoch_nodata
from pipeline.inputs.sample_points import zone_members

Window = tuple[int, int, int, int]


@dataclass(frozen=True)
class Design:
    """What the user asks for; `n` wins over `target_se`."""

    year: int | None = None
    strata_year: int | None = None
    n: int | None = None
    target_se: float = 0.01
    expected_accuracy: float = 0.8
    min_per_stratum: int = 50
    seed: int = 0


@dataclass(frozen=True)
class Sample:
    """The allocation (one row per stratum: cells, area_ha, weight, n) and the points drawn, with their files."""

    allocation: pd.DataFrame
    points: gpd.GeoDataFrame
    files: list[Path]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Epochs:
    sources: tuple[WindowSource, WindowSource]  # strata epoch, assessed epoch
    nodata: tuple[float | None, float | None]
    lookup: NDArray[np.int64]  # code -> class number (-1: nodata or unmapped); codes of both epochs
    classes: list[str]  # the strata: class names, or change categories with `in_group`
    in_group: NDArray[np.bool_] | None = None  # class number -> in the change group (a change design)


def _lookup(class_map: ClassMap, max_code: int) -> NDArray[np.int64]:
    lookup = np.full(max_code + 1, -1, dtype=np.int64)
    for number, name in enumerate(class_map.class_names):
        codes = [c for c in class_map.classes[name] if 0 <= c <= max_code]
        lookup[codes] = number
    return lookup


def _windows(grid: Grid, chunk: tuple[int, int]) -> Iterator[Window]:
    rows, cols = chunk
    for r0 in range(0, grid.height, rows):
        for c0 in range(0, grid.width, cols):
            yield r0, c0, min(rows, grid.height - r0), min(cols, grid.width - c0)


def _classes_in(epochs: _Epochs, union: shapely.Geometry, grid: Grid, window: Window) -> tuple[NDArray, NDArray]:
    """Class numbers (strata epoch, assessed epoch) of one window; -1 outside the union or on nodata."""
    r0, c0, h, w = window
    transform = grid.transform * grid.transform.translation(c0, r0)
    outside = geometry_mask([union], out_shape=(h, w), transform=transform)  # cell centre not in the union
    out = []
    for source, nodata in zip(epochs.sources, epochs.nodata, strict=True):
        codes = np.asarray(read_window(source, r0, c0, h, w)).astype(np.int64)
        known = (codes >= 0) & (codes < len(epochs.lookup)) & (codes != (nodata if nodata is not None else -1))
        number = np.where(known, epochs.lookup[np.clip(codes, 0, len(epochs.lookup) - 1)], -1)
        out.append(np.where(outside, -1, number))
    valid = (out[0] >= 0) & (out[1] >= 0)
    if epochs.in_group is not None:  # both are the change category, from the strata (first) to the assessed epoch
        category = np.where(valid, change_category(epochs.in_group[out[0]], epochs.in_group[out[1]]), -1)
        return category, category
    return np.where(valid, out[0], -1), np.where(valid, out[1], -1)


def _count(epochs: _Epochs, union: shapely.Geometry, grid: Grid, windows: list[Window]) -> tuple[NDArray, NDArray]:
    """Cells per (window, stratum), and area per stratum (m²), in the first pass."""
    k = len(epochs.classes)
    cells, area = np.zeros((len(windows), k), dtype=np.int64), np.zeros(k)
    row_m2 = row_cell_areas_m2(grid)
    for i, window in enumerate(windows):
        strata, _ = _classes_in(epochs, union, grid, window)
        valid = strata >= 0
        cells[i] = np.bincount(strata[valid], minlength=k)
        rows = np.broadcast_to(row_m2[window[0]:window[0] + window[2], None], strata.shape)
        area += np.bincount(strata[valid], weights=rows[valid], minlength=k)
    return cells, area


def _pick(epochs: _Epochs, union: shapely.Geometry, grid: Grid, windows: list[Window], cells: NDArray,
          ranks: list[NDArray[np.int64]]) -> pd.DataFrame:
    """Second pass: the row, column, stratum and map class of every drawn rank (rank = order in reading order)."""
    before = np.cumsum(cells, axis=0) - cells  # cells of each stratum in earlier windows
    picked = []
    for i, window in enumerate(windows):
        wanted = [r[(r >= before[i, h]) & (r < before[i, h] + cells[i, h])] - before[i, h] for h, r in enumerate(ranks)]
        if not any(len(w) for w in wanted):
            continue
        strata, mapped = _classes_in(epochs, union, grid, window)
        for h, local in enumerate(wanted):
            flat = np.flatnonzero(strata.ravel() == h)[local]
            rows, cols = np.divmod(flat, window[3])
            picked.append(pd.DataFrame({"row": rows + window[0], "col": cols + window[1], "stratum": h,
                                        "map": mapped.ravel()[flat]}))
    return pd.concat(picked, ignore_index=True)


def allocation(area_m2: NDArray[np.float64], cells: NDArray[np.int64], classes: list[str],
               design: Design) -> pd.DataFrame:
    """Strata with area, their weights, the sample size (given, or eq. 13) and its allocation with a minimum."""
    keep = area_m2 > 0
    weights = area_m2[keep] / area_m2[keep].sum()
    n = design.n if design.n is not None else sample_size(
        weights=weights, expected_users_accuracy=np.full(len(weights), design.expected_accuracy),
        target_se=design.target_se)
    counts = allocate(n, weights=weights, min_per_stratum=design.min_per_stratum)
    frame = pd.DataFrame({"stratum": np.array(classes)[keep], "cells": cells[keep],
                          "area_ha": area_m2[keep] / M2_PER_HA, "weight": weights,
                          "n": np.minimum(counts, cells[keep])})
    return frame.assign(n_planned=counts)


def _epochs(inputs: Inputs, years: tuple[int, int], *, change: Change | None) -> _Epochs:
    by_year = {e.year: (e, info) for e, info in zip(inputs.config.landcover, inputs.rasters, strict=True)}
    class_map = inputs.class_map
    codes = [c for codes in class_map.classes.values() for c in codes]
    in_group = None if change is None else np.isin(class_map.class_names, change.group(class_map))
    return _Epochs(sources=(window_source(by_year[years[1]][0].path), window_source(by_year[years[0]][0].path)),
                   nodata=(epoch_nodata(*by_year[years[1]]), epoch_nodata(*by_year[years[0]])),
                   lookup=_lookup(class_map, max(codes, default=0)),
                   classes=class_map.class_names if change is None else list(change.categories), in_group=in_group)


def _years(config: RunConfig, design: Design) -> tuple[int, int]:
    """(assessed year, strata year), checked against the epochs; a change design's are (to_year, from_year)."""
    change = config.accuracy.change if config.accuracy else None
    if change is not None:
        if (design.year, design.strata_year) != (None, None):
            raise ConfigError(f"the config's accuracy.change stratifies on the change {change.from_year}-"
                              f"{change.to_year}; leave out --year and --strata-year")
        return change.to_year, change.from_year
    years = [e.year for e in config.landcover]
    year = design.year if design.year is not None else years[-1]
    strata_year = design.strata_year if design.strata_year is not None else year
    if year not in years or strata_year not in years:
        raise ConfigError(f"--year and --strata-year must be land-cover epochs of the config {years}, "
                          f"got {year} and {strata_year}")
    return year, strata_year


def _points(picked: pd.DataFrame, inputs: Inputs, classes: list[str], *, year: int, strata_year: int
            ) -> gpd.GeoDataFrame:
    x, y = xy(inputs.grid.transform, picked["row"].to_numpy(), picked["col"].to_numpy(), offset="center")
    geoms = gpd.points_from_xy(x, y)
    first_zone = pd.DataFrame(zone_members(np.asarray(geoms), inputs.zones), columns=["point", "zone"]) \
        .groupby("point")["zone"].min()
    names = np.array(classes, dtype=object)
    frame = gpd.GeoDataFrame({
        "sample_id": np.arange(1, len(picked) + 1), "stratum": names[picked["stratum"].to_numpy()],
        "map_class": names[picked["map"].to_numpy()], "year": year, "strata_year": strata_year,
        "zone_id": inputs.zones.ids[first_zone.reindex(range(len(picked))).to_numpy(dtype=np.int64)].astype(str),
        "reference": ""}, geometry=geoms, crs=inputs.grid.crs)
    return frame.to_crs(inputs.zones.source.crs)


def draw(config: RunConfig, design: Design, *, out: Path) -> Sample:
    """Plan, draw and write the sample (GeoPackage in the zones' CRS, CSV in WGS84, KML) named after `out`."""
    inputs = check_inputs(config.model_copy(update={"accuracy": None}), deep=False)
    year, strata_year = _years(config, design)
    epochs = _epochs(inputs, (year, strata_year), change=config.accuracy.change if config.accuracy else None)
    union = shapely.union_all(inputs.zones.geoms)
    grid = inputs.grid
    windows = list(_windows(grid, block_aligned_chunks(inputs.rasters[0], target_cells=config.compute.chunk_cells)))
    cells, area = _count(epochs, union, grid, windows)
    plan = allocation(area, cells.sum(axis=0), epochs.classes, design)
    rng = np.random.default_rng(design.seed)
    n_of = dict(zip(plan["stratum"], plan["n"], strict=True))
    totals = cells.sum(axis=0)
    ranks = [np.sort(rng.choice(int(totals[h]), size=int(n_of.get(name, 0)), replace=False))
             for h, name in enumerate(epochs.classes)]
    picked = _pick(epochs, union, grid, windows, cells, ranks).sort_values(["stratum", "row", "col"])
    points = _points(picked.reset_index(drop=True), inputs, epochs.classes, year=year, strata_year=strata_year)
    short = plan[plan["n"] < plan["n_planned"]]
    notes = tuple(f"stratum {s}: only {c} cell(s) inside the zones, all taken (planned {p})"
                  for s, c, p in zip(short["stratum"], short["cells"], short["n_planned"], strict=True))
    files = write_samples(out.parent, out.stem, points)
    return Sample(allocation=plan.drop(columns="n_planned"), points=points, files=files, notes=notes)
