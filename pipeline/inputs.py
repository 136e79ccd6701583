"""Everything a run reads and checks before any compute, with every problem reported at once.

`check_inputs` reads raster headers, the class map, the zones, the carbon inputs and the plan sheet,
with `deep` (as `validate` runs it) decodes every raster block once, and either returns the checked
`Inputs` or raises ValidationFailed listing every problem; repairs and warnings come back as notes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import io, planning, runner_carbon
from pipeline.classmaps import ClassMap
from pipeline.config import Epoch, RunConfig, load_class_map
from pipeline.errors import SinkzoneError, ValidationFailed
from pipeline.grid import Grid
from pipeline.layout import slow_layout_note
from pipeline.zones import PreparedZones, prepare_zones, zones_off_grid, zones_partly_off_grid


@dataclass(frozen=True)
class Inputs:
    """Everything read and checked before any compute."""

    config: RunConfig
    class_map: ClassMap
    rasters: tuple[io.RasterInfo, ...]
    zones: PreparedZones
    notes: tuple[str, ...] = ()
    carbon: runner_carbon.CarbonInputs | None = None
    plans: pd.DataFrame | None = None

    @property
    def grid(self) -> Grid:
        return self.rasters[0].grid


def epoch_nodata(epoch: Epoch, info: io.RasterInfo) -> float | None:
    return epoch.nodata if epoch.nodata is not None else info.nodata


def _check_raster(epoch: Epoch, info: io.RasterInfo, first: io.RasterInfo | None) -> list[str]:
    problems = []
    if not np.issubdtype(np.dtype(info.dtype), np.integer):
        problems.append(f"{epoch.path}: land cover must hold integer class codes, but the raster is "
                        f"{info.dtype}; "
                        "give the classified land-cover map (if its values are whole numbers, convert it: "
                        "gdal_translate -ot Int16)")
    if first is not None and info.grid != first.grid:
        problems.append(f"{epoch.path}: its grid differs from {first.path} (CRS, extent or cell size); "
                        "all epochs must share one grid, so warp them (nearest neighbour) to one grid first")
    return problems


def _read_rasters(config: RunConfig, problems: list[str]) -> list[io.RasterInfo]:
    infos: list[io.RasterInfo] = []
    for epoch in config.landcover:
        try:
            info = io.raster_info(epoch.path)
        except SinkzoneError as exc:
            problems.append(str(exc))
            continue
        problems.extend(_check_raster(epoch, info, infos[0] if infos else None))
        infos.append(info)
    return infos


def _version_notes(config: RunConfig) -> list[str]:
    tags = {(e.product, e.version) for e in config.landcover if e.version is not None}
    if len(tags) > 1:
        listed = ", ".join(f"{e.year}: {e.product} {e.version}" for e in config.landcover)
        return [f"epochs come from different product versions ({listed}); part of their difference is a "
                "change of method, not of land"]
    return []


def check_inputs(config: RunConfig, *, deep: bool = True) -> Inputs:
    """Read every header and the zones, collect every problem, and raise them all at once."""
    problems: list[str] = []
    infos = _read_rasters(config, problems)
    class_map = None
    try:
        class_map = load_class_map(config.classes)
    except SinkzoneError as exc:
        problems.append(str(exc))
    zones = None
    if infos and len(infos) == len(config.landcover):
        zones = _read_zones(config, infos[0].grid, problems)
    _try(lambda: io.check_writable(config.output.dir), problems)
    code_notes = _deep_checks(config, infos, class_map, problems) if deep else []
    carbon = runner_carbon.check_carbon(config, zones, problems) if zones is not None else None
    plans = planning.read_plans(config, zones, problems) if zones is not None else None
    if problems or class_map is None or zones is None:
        raise ValidationFailed(problems or ["inputs could not be read"])
    notes = [*zones.repairs, *_partial_notes(zones, infos[0].grid), *code_notes, *_version_notes(config),
             *_layout_notes(infos), *(carbon.notes if carbon else ())]
    return Inputs(config=config, class_map=class_map, rasters=tuple(infos), zones=zones, notes=tuple(notes),
                  carbon=carbon, plans=plans)


def _deep_checks(config: RunConfig, infos: Sequence[io.RasterInfo], class_map: ClassMap | None,
                 problems: list[str]) -> list[str]:
    """Decode every block of every readable raster; note the codes the class map lacks."""
    notes = []
    for info in infos:
        try:
            counts = io.check_readable(info.path)
        except SinkzoneError as exc:
            problems.append(str(exc))
            continue
        epoch = next(e for e in config.landcover if e.path == info.path)
        if class_map is not None:
            notes.extend(_unmapped_note(epoch, info, counts, class_map))
    return notes


def _unmapped_note(epoch: Epoch, info: io.RasterInfo, counts: dict[int, int],
                   class_map: ClassMap) -> list[str]:
    known = set(class_map.code_to_class()) | set(class_map.nodata_codes)
    nodata = epoch_nodata(epoch, info)
    missing = {c: n for c, n in counts.items() if c not in known and c != nodata}
    if not missing:
        return []
    listed = ", ".join(f"{c} ({n:,} cells)" for c, n in sorted(missing.items())[:20])
    return [f"{epoch.path}: codes not in class map {class_map.name!r}: {listed}; the run stops if any of "
            f"them lies inside a zone.{nodata_hint(sorted(missing), declared=nodata is not None)}"]


def nodata_hint(codes: Sequence[int], *, declared: bool) -> str:
    """Advice when unmapped codes look like undeclared fill around the data."""
    fill = [c for c in codes if c in _FILL_LIKE]
    if declared or not fill:
        return ""
    return (f" The raster declares no nodata: if {fill[0]} is fill around the data, set `nodata: {fill[0]}` "
            "for this epoch in the config")


_FILL_LIKE = frozenset({0, 255, 65535, -9999, -32768, -128, 127, 32767})


def _partial_notes(zones: PreparedZones, grid: Grid) -> list[str]:
    sticking_out = zones_partly_off_grid(zones, grid)
    if not sticking_out:
        return []
    listed = ", ".join(f"{z} ({share:.1%} outside)" for z, share in sticking_out[:10])
    return [f"{len(sticking_out)} zone(s) extend beyond the raster; the part outside counts as class nodata: "
            f"{listed}"]


def _try(step: Callable[[], object], problems: list[str]) -> None:
    try:
        step()
    except SinkzoneError as exc:
        problems.append(str(exc))


def _read_zones(config: RunConfig, grid: Grid, problems: list[str]) -> PreparedZones | None:
    source = str(config.zones.path)
    try:
        frame = io.read_zones(config.zones.path, layer=config.zones.layer)
        zones = prepare_zones(frame, id_field=config.zones.id_field, grid=grid, source=source)
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    missed = zones_off_grid(zones, grid)
    if missed:
        problems.append(f"{source}: {len(missed)} zone(s) lie entirely off the raster extent: {missed[:10]}; "
                        "check that the zones and the raster cover the same place (and their CRS)")
    return zones


def _layout_notes(infos: Sequence[io.RasterInfo]) -> list[str]:
    notes = (slow_layout_note(str(info.path), info.block_shape, info.grid.shape) for info in infos)
    return [note for note in notes if note is not None]


# ---- the graph ---------------------------------------------------------------------------------
