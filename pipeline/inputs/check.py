"""Everything a run reads and checks before any compute, with every problem reported at once.

`check_inputs` reads raster headers, the class map, the zones, the carbon inputs, the plan sheet and the
accuracy sample points, with `deep` (as `validate` runs it) decodes every raster block once, and either
returns the checked `Inputs` or raises ValidationFailed listing every problem; repairs and warnings come back as notes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from pipeline.core.classmaps import NODATA_CLASS, ROLES, ClassMap
from pipeline.core.config import RunConfig
from pipeline.core.errors import SinkzoneError, ValidationFailed
from pipeline.core.grid import Grid
from pipeline.files.lock import check_writable
from pipeline.files.publish import output_folder_problem
from pipeline.files.rasters import RasterInfo
from pipeline.inputs.carbon_tables import CARBON_ZONE_FIELDS, CarbonInputs, check_carbon
from pipeline.inputs.carbon_tables import input_paths as carbon_paths
from pipeline.inputs.landcover import (
    deep_checks,
    epoch_file_notes,
    layout_notes,
    nodata_clashes,
    read_rasters,
    version_notes,
)
from pipeline.inputs.plan_sheets import PROGRESS_FIELDS, read_plans
from pipeline.inputs.protected_areas import ProtectedInput, read_protected
from pipeline.inputs.run_config import load_class_map
from pipeline.inputs.sample_points import AccuracyInputs, read_accuracy
from pipeline.inputs.value_rasters import ValueInput, check_values, deep_value_problems, value_notes
from pipeline.inputs.zones import (
    PreparedZones,
    overlap_notes,
    partial_notes,
    read_checked_zones,
    renamed_notes,
    zone_overlaps,
)


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
    overlaps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["zone_a", "zone_b", "area_ha"]))
    values: tuple[ValueInput, ...] = ()
    protected: ProtectedInput | None = None

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
    if class_map is not None and len(infos) == len(config.landcover):
        problems.extend(nodata_clashes(config, infos, class_map))
    zones = None
    if infos and len(infos) == len(config.landcover):
        zones = read_checked_zones(config, infos[0].grid, problems)
    _try(lambda: check_writable(config.output.dir), problems)
    refused = output_folder_problem(config.output.dir, inputs=input_files(config))
    if refused is not None:
        problems.append(refused)
    code_notes = deep_checks(config, infos, class_map, problems) if deep else []
    if class_map is not None:
        problems += class_reference_problems(config, class_map)
    carbon = check_carbon(config, zones, problems) if zones is not None else None
    values = check_values(config, zones, problems) if zones is not None else ()
    if deep:
        problems += deep_value_problems(config, values)
    protected = read_protected(config, zones, infos[0].grid, problems) if zones is not None else None
    plans: pd.DataFrame | None = None
    plan_notes: list[str] = []
    if zones is not None and class_map is not None:
        plans = read_plans(config, zones, class_map, taken=zone_field_names(config, class_map), problems=problems,
                           notes=plan_notes)
    accuracy = read_accuracy(config, zones, infos, class_map, problems) if zones and class_map else None
    if zones is not None:
        problems.extend(_report_field_problems(config, zones.source.columns))
    if problems or class_map is None or zones is None:
        raise ValidationFailed(problems or ["inputs could not be read"])
    overlaps = zone_overlaps(zones, infos[0].grid)
    notes = [*roleless_notes(class_map), *zones.repairs, *partial_notes(zones, infos[0].grid),
             *overlap_notes(overlaps), *code_notes, *version_notes(config), *epoch_file_notes(config),
             *layout_notes(infos), *(carbon.notes if carbon else ()), *plan_notes,
             *renamed_notes(zones, zone_field_names(config, class_map, plans)),
             *(accuracy.notes if accuracy else ()), *value_notes(values, config),
             *(protected.notes if protected else ())]
    return Inputs(config=config, class_map=class_map, rasters=tuple(infos), zones=zones, notes=tuple(notes),
                  carbon=carbon, plans=plans, accuracy=accuracy, overlaps=overlaps, values=values,
                  protected=protected)


def roleless_notes(class_map: ClassMap) -> list[str]:
    """Classes with names of their own but no role count as `other`: forest coverage, plans, candidates
    and carbon pass them by, so the person is told how to give them a role."""
    if not class_map.roleless:
        return []
    names = ", ".join(map(repr, class_map.roleless[:10]))
    return [f"class map {class_map.name!r}: {names} have no role and count as other (not forest, grassland, "
            f"wetland ...); if one is, write it as `{class_map.roleless[0]}: {{codes: [...], role: forest}}` "
            f"(roles: {', '.join(ROLES)})"]


def zone_field_names(config: RunConfig, class_map: ClassMap, plans: pd.DataFrame | None = None) -> list[str]:
    """The fields the stages add to the zone layer, known before compute (source fields must make way)."""
    names = ["zone_id", "area_ha", "area_mu", *(f"{c}_ha" for c in (*class_map.class_names, NODATA_CLASS))]
    if config.carbon is not None:
        names += CARBON_ZONE_FIELDS
    # the plan indicators' fields (metrics.vegetation.COVER_FIELD, metrics.protection.PROTECTION_FIELD)
    names += [name for name, asked in (("grassland_cover_pct", config.vegetation_cover),
                                       ("wetland_protection_pct", config.protected_areas)) if asked is not None]
    if plans is not None:
        names += [*(c for c in plans.columns if c not in ("zone_id", "baseline_year")), *PROGRESS_FIELDS]
    return names


def class_reference_problems(config: RunConfig, class_map: ClassMap) -> list[str]:
    """Every class name or role the config names must be a class of the map or a role."""
    refs: list[tuple[str, tuple[str, ...]]] = []
    if config.candidates is not None:
        refs += [("candidates.never_classes", config.candidates.never_classes),
                 ("candidates.excluded_classes", config.candidates.excluded_classes)]
    if config.carbon is not None:
        refs.append(("carbon.forest_class", (config.carbon.forest_class,)))
    if config.vegetation_cover is not None:
        refs.append(("vegetation_cover.classes", config.vegetation_cover.classes))
    problems: list[str] = []
    for key, names in refs:
        for name in names:
            _try(partial(class_map.resolve, [name], key=key), problems)
    return problems


def input_files(config: RunConfig) -> list[Path]:
    """Every file a run's configuration names (land cover as given, so a tile pattern stays a pattern)."""
    paths = [e.path for e in config.landcover] + [config.zones.path]
    if config.classes.endswith((".yaml", ".yml")):
        paths.append(Path(config.classes))
    if config.plans is not None:
        paths.append(config.plans.path)
    if config.accuracy is not None:
        paths.append(config.accuracy.samples)
    protected = [config.protected_areas.path] if config.protected_areas else []
    return paths + carbon_paths(config) + [v.path for v in config.values] + protected


def _report_field_problems(config: RunConfig, fields: Sequence[str]) -> list[str]:
    group = config.report.group_field if config.report is not None else None
    if group is None or group in fields:
        return []
    listed = ", ".join(str(f) for f in fields if f != "geometry")
    return [f"{config.zones.path}: report.group_field: no field {group!r}; the layer has: {listed}"]


def _try(step: Callable[[], object], problems: list[str]) -> None:
    try:
        step()
    except SinkzoneError as exc:
        problems.append(str(exc))
