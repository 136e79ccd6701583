"""The protected-area layer of 湿地保护率, read through the zone layer's reader and checked before any compute:
its polygons joined into one (an overlap counts once), in the land cover's CRS, cut by each zone and by the
zones' union. With a survey wetland layer, its polygons are joined the same way and the wetland and protected
wetland areas of each zone and of the region are measured exactly from the polygons (ellipsoidal on a
geographic land-cover grid, planar on a projected one, as every zone area).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from pipeline.core.config import RunConfig, WetlandLayer
from pipeline.core.errors import SinkzoneError, ZoneError
from pipeline.core.grid import Grid, zone_areas_m2
from pipeline.files.vectors import read_layer
from pipeline.inputs.zones import PreparedZones

_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass(frozen=True)
class SurveyWetland:
    """From a survey wetland layer: wetland and protected wetland (m²) of each zone, the region's last."""

    wetland_m2: NDArray[np.float64]
    protected_m2: NDArray[np.float64]


@dataclass(frozen=True)
class ProtectedInput:
    """Each zone's protected part, and the protected part of the zones' union (the region's)."""

    parts: NDArray[np.object_]
    region: shapely.Geometry
    notes: tuple[str, ...]
    survey: SurveyWetland | None = None


def protected_union(path: str, geoms: NDArray[np.object_], *, what: str = "protected-area layer",
                    give: str = "the reserves' and parks' boundary polygons") -> shapely.Geometry:
    """The union of a layer's polygons (repaired); a layer without polygons is refused."""
    parts = shapely.get_parts(shapely.make_valid(geoms[~shapely.is_missing(geoms)]))
    polygons = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    if not len(polygons):
        kinds = sorted({type(part).__name__ for part in parts}) or ["none"]
        raise ZoneError(f"{path}: the {what} holds no polygons (geometries: {', '.join(kinds)}; "
                        f"points or lines have no area): give {give}")
    return shapely.union_all(polygons)


def _polygon_union(path: Path, *, layer: str | None, encoding: str | None, grid: Grid, what: str, flag: str,
                   give: str) -> tuple[shapely.Geometry, list[str]]:
    """A polygon layer read, put in the grid's CRS and joined into one."""
    frame, notes = read_layer(path, layer=layer, encoding=encoding, what=what, error=ZoneError, encoding_flag=flag)
    if not pyproj.CRS(frame.crs).equals(grid.crs, ignore_axis_order=True):
        frame = frame.to_crs(grid.crs)
    return protected_union(str(path), frame.geometry.to_numpy(), what=what, give=give), notes


def _survey_wetland(spec: WetlandLayer, grid: Grid) -> tuple[shapely.Geometry, list[str]]:
    union, notes = _polygon_union(spec.path, layer=spec.layer, encoding=spec.encoding, grid=grid,
                                  what="wetland layer", flag="protected_areas.wetlands.encoding",
                                  give="the survey's wetland polygons (湿地资源调查 or 三调 湿地 图斑)")
    if spec.illustrative:
        notes.append(f"wetlands {spec.path} are ILLUSTRATIVE, not surveyed wetlands: every protection rate made "
                     "from them is marked so")
    return union, notes


def read_protected(config: RunConfig, zones: PreparedZones, grid: Grid, problems: list[str]) -> ProtectedInput | None:
    """The layer read and cut by the zones; problems are collected, not raised."""
    spec = config.protected_areas
    if spec is None:
        return None
    try:
        union, notes = _polygon_union(spec.path, layer=spec.layer, encoding=spec.encoding, grid=grid,
                                      what="protected-area layer", flag="protected_areas.encoding",
                                      give="the reserves' and parks' boundary polygons")
    except SinkzoneError as exc:
        problems.append(str(exc))
        union, notes = None, []
    try:
        wetland = _survey_wetland(spec.wetlands, grid) if spec.wetlands else None
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    if union is None:
        return None
    parts = np.asarray(shapely.intersection(zones.geoms, union), dtype=object)
    region = shapely.intersection(shapely.union_all(zones.geoms), union)
    if spec.illustrative:
        notes.append(f"protected areas {spec.path} are ILLUSTRATIVE, not real boundaries: every protection rate "
                     "made from them is marked so")
    if shapely.is_empty(region):
        notes.append(f"protected areas {spec.path}: no protected polygon reaches any zone; every protection rate "
                     "is 0")
    if wetland is None:
        return ProtectedInput(parts=parts, region=region, notes=tuple(notes))
    surveyed, survey_notes = wetland
    whole = np.append(zones.geoms, np.array([shapely.union_all(zones.geoms)], dtype=object))
    inside = np.append(parts, np.array([region], dtype=object))
    survey = SurveyWetland(wetland_m2=zone_areas_m2(shapely.intersection(whole, surveyed), grid),
                           protected_m2=zone_areas_m2(shapely.intersection(inside, surveyed), grid))
    return ProtectedInput(parts=parts, region=region, notes=(*notes, *survey_notes), survey=survey)
