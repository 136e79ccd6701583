"""Glue between the runner and the plan stages: plan sheets, progress, region indicators, candidate land
and the report. The runner calls four functions here; all the logic lives in pipeline/stages/ and
pipeline/report.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
from dask.delayed import Delayed

from pipeline import io, report
from pipeline.errors import SinkzoneError
from pipeline.grid import row_cell_areas_m2
from pipeline.stages import candidates as cand
from pipeline.stages.plans import validate_plans
from pipeline.stages.progress import progress_table, zone_fields
from pipeline.stages.region import region_indicators

if TYPE_CHECKING:
    from pipeline.config import RunConfig
    from pipeline.inputs import Inputs
    from pipeline.runner import ChunkPlan, RunResult
    from pipeline.zones import PreparedZones

log = logging.getLogger(__name__)
CANDIDATES_LAYER = "afforestation_candidates"


def read_plans(config: RunConfig, zones: PreparedZones, problems: list[str]) -> pd.DataFrame | None:
    """The checked plan sheet, or None when the config names none; problems are collected."""
    if config.plans is None:
        return None
    try:
        raw = io.read_plan_sheet(config.plans.path)
        return validate_plans(raw, zone_ids=set(zones.ids.astype(str)), first_year=config.landcover[0].year,
                              source=str(config.plans.path))
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None


def _candidate_chunk(sources: list[io.WindowSource], nodata: list[float | None], rules: cand.Screening, *, row_off: int,
                     col_off: int, height: int, width: int, grid_shape: tuple[int, int],
                     max_cell_m2: float) -> cand.Pieces:
    blocks = [io.read_window(source, row_off, col_off, height, width) for source in sources]
    return cand.chunk_pieces(blocks, nodata, rules, row_off=row_off, col_off=col_off, grid_shape=grid_shape,
                             max_cell_m2=max_cell_m2)


def candidate_graph(inputs: Inputs, *, plan: ChunkPlan) -> Delayed | None:
    """Lazy candidate parcels: one screening task per chunk over the look-back epochs, then one merge.

    Each task reads its own windows, on the same chunk layout as the class-area tasks.
    """
    from pipeline.inputs import epoch_nodata  # pipeline.inputs imports this module

    settings = inputs.config.candidates
    if settings is None or not settings.enabled:
        return None
    years, checked = cand.lookback_epochs([e.year for e in inputs.config.landcover],
                                          lookback_years=settings.lookback_years)
    epochs = [(e, info) for e, info in zip(inputs.config.landcover, inputs.rasters, strict=True) if e.year in years]
    sources = [io.window_source(e.path) for e, _ in epochs]
    nodata = [epoch_nodata(e, info) for e, info in epochs]
    rules = cand.make_screening(inputs.class_map.classes, never=settings.never_classes,
                                excluded=settings.excluded_classes, min_parcel_m2=settings.min_parcel_m2)
    grid = inputs.grid
    cell_m2 = row_cell_areas_m2(grid)
    parts = [dask.delayed(_candidate_chunk, pure=True)(
        sources, nodata, rules, row_off=r0, col_off=c0, height=h, width=w, grid_shape=grid.shape,
        max_cell_m2=float(cell_m2[r0:r0 + h].max())) for _, _, r0, c0, h, w in plan.windows()]
    merged = dask.delayed(cand.merge_pieces, pure=True)(*parts)
    return dask.delayed(cand.candidate_table, pure=True)(
        merged, rules, grid=grid, zone_geoms=inputs.zones.geoms, zone_ids=inputs.zones.ids, years=years,
        checked=checked, lookback_years=settings.lookback_years)


def add_outputs(result: RunResult, inputs: Inputs, found: tuple[np.ndarray, pd.DataFrame] | None) -> None:
    """Add plan and progress fields to the zone layer, and the region and candidate tables."""
    long = result.tables["zone_class_area"]
    config = inputs.config
    result.tables["region_indicators"] = region_indicators(long, config.region)
    if inputs.plans is not None:
        progress = progress_table(long, inputs.plans, carbon=result.tables.get("zone_carbon"),
                                  wetland_includes_water=config.region.wetland_includes_water)
        result.tables["zone_progress"] = progress
        fields = zone_fields(inputs.plans, progress).reindex(result.zones["zone_id"]).set_axis(result.zones.index)
        for column in fields.columns:
            result.zones[column] = fields[column]
    if found is not None:
        geoms, frame = found
        layer = gpd.GeoDataFrame(frame, geometry=geoms, crs=inputs.grid.crs)
        result.tables[CANDIDATES_LAYER] = layer.to_crs(inputs.zones.source.crs)
        if len(frame):
            log.warning("afforestation candidates: %s", frame["note"].iloc[0])


def report_writer(inputs: Inputs, result: RunResult) -> Callable[[Path], None] | None:
    """A function writing report/ into the staging folder, or None when the report is off."""
    from pipeline.inputs import epoch_nodata  # pipeline.inputs imports this module

    if inputs.config.report is None or not inputs.config.report.enabled:
        return None
    latest = inputs.config.landcover[-1]
    nodata = epoch_nodata(latest, inputs.rasters[-1])
    maps = {}
    for zone_id, geom in zip(inputs.zones.ids.astype(str), inputs.zones.geoms, strict=True):
        data, transform = io.read_preview(latest.path, bounds=tuple(geom.bounds), max_side=600)
        maps[zone_id] = report.MapData(data=data, transform=transform, nodata=nodata, crs=inputs.grid.crs)
    files = report.build_report(result.tables, result.zones, class_map=inputs.class_map, maps=maps,
                                run_name=inputs.config.name, region=inputs.config.region.name)

    def write(folder: Path) -> None:
        io.write_files(folder / "report", files)

    return write
