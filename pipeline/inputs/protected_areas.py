"""The protected-area layer of 湿地保护率, read through the zone layer's reader and checked before any compute:
its polygons joined into one (an overlap counts once), in the land cover's CRS, cut by each zone and by the
zones' union.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from pipeline.core.config import RunConfig
from pipeline.core.errors import SinkzoneError, ZoneError
from pipeline.core.grid import Grid
from pipeline.files.vectors import read_layer
from pipeline.inputs.zones import PreparedZones

_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass(frozen=True)
class ProtectedInput:
    """Each zone's protected part, and the protected part of the zones' union (the region's)."""

    parts: NDArray[np.object_]
    region: shapely.Geometry
    notes: tuple[str, ...]


def protected_union(path: str, geoms: NDArray[np.object_]) -> shapely.Geometry:
    """The union of a layer's polygons (repaired); a layer without polygons is refused."""
    parts = shapely.get_parts(shapely.make_valid(geoms[~shapely.is_missing(geoms)]))
    polygons = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    if not len(polygons):
        kinds = sorted({type(part).__name__ for part in parts}) or ["none"]
        raise ZoneError(f"{path}: the protected-area layer holds no polygons (geometries: {', '.join(kinds)}; "
                        "points or lines have no area): give the reserves' and parks' boundary polygons")
    return shapely.union_all(polygons)


def read_protected(config: RunConfig, zones: PreparedZones, grid: Grid, problems: list[str]) -> ProtectedInput | None:
    """The layer read and cut by the zones; problems are collected, not raised."""
    spec = config.protected_areas
    if spec is None:
        return None
    try:
        frame, notes = read_layer(spec.path, layer=spec.layer, encoding=spec.encoding, what="protected-area layer",
                                  error=ZoneError, encoding_flag="protected_areas.encoding")
        if not pyproj.CRS(frame.crs).equals(grid.crs, ignore_axis_order=True):
            frame = frame.to_crs(grid.crs)
        union = protected_union(str(spec.path), frame.geometry.to_numpy())
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    parts = np.asarray(shapely.intersection(zones.geoms, union), dtype=object)
    region = shapely.intersection(shapely.union_all(zones.geoms), union)
    if spec.illustrative:
        notes.append(f"protected areas {spec.path} are ILLUSTRATIVE, not real boundaries: every protection rate "
                     "made from them is marked so")
    if shapely.is_empty(region):
        notes.append(f"protected areas {spec.path}: no protected polygon reaches any zone; every protection rate "
                     "is 0")
    return ProtectedInput(parts=parts, region=region, notes=tuple(notes))
