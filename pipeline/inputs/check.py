"""Everything a run reads and checks before any compute, with every problem reported at once.

`check_inputs` reads raster headers, the class map, the zones, the carbon inputs, the plan sheet and the
accuracy sample points, with `deep` (as `validate` runs it) decodes every raster block once, and either
returns the checked `Inputs` or raises ValidationFailed listing every problem; repairs and warnings come back as notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from pipeline.classmaps import ClassMap
from pipeline.config import RunConfig, load_class_map
from pipeline.errors import SinkzoneError, ValidationFailed
from pipeline.grid import Grid
from pipeline.inputs.accuracy import AccuracyInputs, read_accuracy
from pipeline.inputs.carbon import CarbonInputs, check_carbon
from pipeline.inputs.landcover import deep_checks, layout_notes, read_rasters, version_notes
from pipeline.inputs.plans import read_plans
from pipeline.inputs.zones import PreparedZones, partial_notes, read_checked_zones
from pipeline.io.lock import check_writable
from pipeline.io.rasters import RasterInfo


@dataclass(frozen=True)
class Inputs:
    """Everything read and checked before any compute."""

    config: RunConfig
    class_map: ClassMap
    rasters: tuple[RasterInfo, ...]
    zones: PreparedZones
    notes: tuple[str, ...] = ()
    carbon: CarbonInputs | None = None
    plans: pd.DataFrame | None = None
    accuracy: AccuracyInputs | None = None

    @property
    def grid(self) -> Grid:
        return self.rasters[0].grid


def check_inputs(config: RunConfig, *, deep: bool = True) -> Inputs:
    """Read every header and the zones, collect every problem, and raise them all at once."""
    problems: list[str] = []
    infos = read_rasters(config, problems)
    class_map = None
    try:
        class_map = load_class_map(config.classes)
    except SinkzoneError as exc:
        problems.append(str(exc))
    zones = None
    if infos and len(infos) == len(config.landcover):
        zones = read_checked_zones(config, infos[0].grid, problems)
    _try(lambda: check_writable(config.output.dir), problems)
    code_notes = deep_checks(config, infos, class_map, problems) if deep else []
    carbon = check_carbon(config, zones, problems) if zones is not None else None
    plans = read_plans(config, zones, problems) if zones is not None else None
    accuracy = read_accuracy(config, zones, infos, class_map, problems) if zones and class_map else None
    if problems or class_map is None or zones is None:
        raise ValidationFailed(problems or ["inputs could not be read"])
    notes = [*zones.repairs, *partial_notes(zones, infos[0].grid), *code_notes, *version_notes(config),
             *layout_notes(infos), *(carbon.notes if carbon else ()),
             *(accuracy.notes if accuracy else ())]
    return Inputs(config=config, class_map=class_map, rasters=tuple(infos), zones=zones, notes=tuple(notes),
                  carbon=carbon, plans=plans, accuracy=accuracy)


def _try(step: Callable[[], object], problems: list[str]) -> None:
    try:
        step()
    except SinkzoneError as exc:
        problems.append(str(exc))
