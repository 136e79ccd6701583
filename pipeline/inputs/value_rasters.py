"""Value rasters (NDVI, fractional cover ...): headers read and checked before any compute, each paired with
the land-cover epoch its classes come from and the zones reprojected onto its own grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from pipeline.core.config import RunConfig, ValueRaster
from pipeline.core.errors import SinkzoneError
from pipeline.core.weighted import usable
from pipeline.files.rasters import RasterInfo, largest_magnitude, raster_info
from pipeline.inputs.zones import PreparedZones, prepare_zones, zones_off_grid


@dataclass(frozen=True)
class ValueInput:
    """One value raster: its header, the zones on its grid and the land-cover epoch (position) for its classes."""

    spec: ValueRaster
    info: RasterInfo
    zones: PreparedZones
    epoch: int

    @property
    def nodata(self) -> float | None:
        return self.spec.nodata if self.spec.nodata is not None else self.info.nodata


def class_epoch(year: int, epochs: list[int]) -> int | None:
    """Position of the land-cover epoch whose classes a value raster of `year` is summarised by: the same year,
    else the nearest earlier one (the land as last mapped); None when every epoch is later."""
    earlier = [k for k, y in enumerate(epochs) if y <= year]
    return earlier[-1] if earlier else None


def _value_input(spec: ValueRaster, config: RunConfig, zones: PreparedZones, problems: list[str]) -> ValueInput | None:
    years = [e.year for e in config.landcover]
    epoch = class_epoch(spec.year, years)
    if epoch is None:
        problems.append(f"{spec.path}: values {spec.name} of {spec.year} come before every land-cover epoch "
                        f"{years}; add an epoch of {spec.year} or earlier, or give the raster's true year")
    try:
        info = raster_info(spec.path)
        if not np.issubdtype(np.dtype(info.dtype), np.number):
            problems.append(f"{spec.path}: values {spec.name} must be numbers, but the raster is {info.dtype}")
            return None
        on_grid = prepare_zones(zones.source, id_field=config.zones.id_field, grid=info.grid, source=str(spec.path))
    except SinkzoneError as exc:
        problems.append(f"{exc} (values {spec.name})")
        return None
    if len(zones_off_grid(on_grid, info.grid)) == len(on_grid.ids):
        problems.append(f"{spec.path}: values {spec.name} miss every zone (extent {info.grid.bounds} in "
                        f"{info.grid.crs.name}); give a raster covering the zones")
        return None
    return None if epoch is None else ValueInput(spec=spec, info=info, zones=on_grid, epoch=epoch)


def check_values(config: RunConfig, zones: PreparedZones, problems: list[str]) -> tuple[ValueInput, ...]:
    """Every value raster's header; problems are collected, not raised."""
    found = [_value_input(spec, config, zones, problems) for spec in config.values]
    return tuple(v for v in found if v is not None)


def value_notes(values: tuple[ValueInput, ...], config: RunConfig) -> list[str]:
    """Which epoch's classes each value raster is summarised by when the years differ, and which are made up."""
    notes = []
    for v in values:
        epoch = config.landcover[v.epoch].year
        if epoch != v.spec.year:
            notes.append(f"values {v.spec.name} {v.spec.year}: no land-cover epoch of {v.spec.year}; its classes "
                         f"are those of {epoch}, the nearest earlier epoch")
        if v.spec.illustrative:
            notes.append(f"values {v.spec.name} {v.spec.year} ({v.spec.path}) are ILLUSTRATIVE, not a measurement: "
                         "every figure made from them is marked so")
    return notes


def range_problem(spec: ValueRaster, top: float, *, ndvi: bool) -> str | None:
    """NDVI lies in [-1, 1] and FVC in [0, 1]: a larger |value| (after scale and offset) is a scale factor
    missing, or a raster in percent."""
    if top <= 1.0:
        return None
    head = f"{spec.path}: values {spec.name} {spec.year} reach {top:g}"
    if ndvi:
        return (f"{head}, but NDVI lies between -1 and 1: the scale factor seems missing (MOD13Q1 stores NDVI "
                "x 10000: set scale: 0.0001)")
    return f"{head}, but FVC is a fraction from 0 to 1: a raster in percent needs scale: 0.01"


def deep_value_problems(config: RunConfig, values: tuple[ValueInput, ...]) -> list[str]:
    """`validate`: the vegetation cover's rasters read whole, their values checked against NDVI's or FVC's range."""
    cover = config.vegetation_cover
    if cover is None:
        return []
    problems = []
    for v in (v for v in values if v.spec.name == cover.source):
        top = largest_magnitude(v.spec.path, keep=partial(usable, nodata=v.nodata, valid=v.spec.valid))
        scaled = None if top is None else abs(top * v.spec.scale) + abs(v.spec.offset)
        found = None if scaled is None else range_problem(v.spec, scaled, ndvi=cover.ndvi is not None)
        if found is not None:
            problems.append(found)
    return problems
