"""The zone layer: read, ids checked, geometries repaired, reprojected to the raster's CRS.

Every repair is returned as a message so the runner can log and record it. The categorical raster
is never resampled: the zones move to the raster's CRS instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from pipeline.config import RunConfig
from pipeline.errors import SinkzoneError, ZoneError
from pipeline.grid import Grid, wrap_lonlat_zones, zone_areas_m2
from pipeline.io.vectors import read_zones
from pipeline.units import M2_PER_HA


@dataclass(frozen=True)
class PreparedZones:
    """Zones ready for coverage: ids, polygonal geometry in the grid's CRS, and the source layer."""

    ids: NDArray[np.object_]
    geoms: NDArray[np.object_]
    source: gpd.GeoDataFrame
    repairs: tuple[str, ...]


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (make_valid may return collections with lines or points)."""
    parts = shapely.get_parts(geom)
    polygons = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(polygons) if len(polygons) else shapely.Polygon()


def check_ids(frame: gpd.GeoDataFrame, *, id_field: str, source: str) -> None:
    """The id field exists, has no missing values and no duplicates."""
    if id_field not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise ZoneError(f"{source}: no field {id_field!r}; the layer has: {fields}")
    ids = frame[id_field]
    if ids.isna().any():
        rows = [int(i) for i in np.flatnonzero(ids.isna().to_numpy())][:10]
        raise ZoneError(f"{source}: {int(ids.isna().sum())} zone(s) have no {id_field!r} (feature rows "
                        f"{rows}); fill in their ids or delete those features")
    dupes = ids[ids.duplicated(keep=False)]
    if len(dupes):
        at = {str(v): [int(i) for i in np.flatnonzero((ids == v).to_numpy())] for v in dupes.unique()[:10]}
        listed = "; ".join(f"{v!r} at feature rows {r}" for v, r in at.items())
        raise ZoneError(f"{source}: duplicate {id_field!r} values: {listed}. Give every zone its own id")


def prepare_zones(frame: gpd.GeoDataFrame, *, id_field: str, grid: Grid, source: str) -> PreparedZones:
    """Check ids, repair or drop bad geometries, reproject to the grid's CRS; list every repair."""
    check_ids(frame, id_field=id_field, source=source)
    repairs: list[str] = []
    geoms = frame.geometry.to_numpy()
    unusable = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if unusable.any():
        repairs.append(f"dropped {int(unusable.sum())} zone(s) with empty or null geometry: "
                       f"{list(map(str, frame[id_field][unusable]))[:10]}")
    frame = frame.loc[~unusable].copy()
    invalid = ~shapely.is_valid(frame.geometry.to_numpy())
    if invalid.any():
        repairs.append(f"repaired {int(invalid.sum())} invalid geometry(ies) with make_valid: "
                       f"{list(map(str, frame[id_field][invalid]))[:10]}")
        frame.loc[invalid, frame.geometry.name] = [_polygonal(shapely.make_valid(g))
                                                   for g in frame.geometry[invalid]]
    frame = _drop_arealess(frame, id_field=id_field, repairs=repairs)
    if not pyproj.CRS(frame.crs).equals(grid.crs, ignore_axis_order=True):
        repairs.append(f"reprojected zones from {pyproj.CRS(frame.crs).name!r} to the raster's {grid.crs.name!r}")
    if frame.empty:
        raise ZoneError(f"{source}: no zone with a usable geometry")
    ids = frame[id_field].to_numpy(dtype=object)
    # zones crossing the antimeridian are cut at it, so straight lon/lat edges do not run round the globe
    geoms = wrap_lonlat_zones(frame.to_crs(grid.crs).geometry.to_numpy(), ids, grid)
    return PreparedZones(ids=ids, geoms=geoms, source=frame, repairs=tuple(repairs))


def _drop_arealess(frame: gpd.GeoDataFrame, *, id_field: str, repairs: list[str]) -> gpd.GeoDataFrame:
    """Drop zones left with no area: points, lines, or polygons that collapsed when repaired."""
    geoms = frame.geometry.to_numpy()
    arealess = shapely.is_empty(geoms) | (shapely.area(geoms) <= 0)
    if arealess.any():
        repairs.append(f"dropped {int(arealess.sum())} zone(s) with no area (points, lines or collapsed "
                       f"polygons): {list(map(str, frame[id_field][arealess]))[:10]}")
    return frame.loc[~arealess]


def zones_partly_off_grid(zones: PreparedZones, grid: Grid) -> list[tuple[str, float]]:
    """Ids of zones that stick out of the raster, with the share of their area outside it."""
    extent = shapely.box(*grid.bounds)
    area = shapely.area(zones.geoms)
    inside = shapely.area(shapely.intersection(zones.geoms, extent))
    share = np.divide(area - inside, area, out=np.zeros_like(area), where=area > 0)
    partial = (share > 1e-9) & (inside > 0)
    return [(str(z), float(s)) for z, s in zip(zones.ids[partial], share[partial], strict=True)]


def zones_off_grid(zones: PreparedZones, grid: Grid) -> list[str]:
    """Ids of zones that do not overlap the raster at all."""
    extent = shapely.box(*grid.bounds)
    misses = ~shapely.intersects(zones.geoms, extent)
    return [str(z) for z in zones.ids[misses]]


def read_checked_zones(config: RunConfig, grid: Grid, problems: list[str]) -> PreparedZones | None:
    """The zone layer read, prepared for the grid and checked to overlap it; problems are collected."""
    source = str(config.zones.path)
    try:
        frame = read_zones(config.zones.path, layer=config.zones.layer)
        zones = prepare_zones(frame, id_field=config.zones.id_field, grid=grid, source=source)
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    missed = zones_off_grid(zones, grid)
    if missed:
        problems.append(f"{source}: {len(missed)} zone(s) lie entirely off the raster extent: {missed[:10]}; "
                        "check that the zones and the raster cover the same place (and their CRS)")
    return zones


def partial_notes(zones: PreparedZones, grid: Grid) -> list[str]:
    sticking_out = zones_partly_off_grid(zones, grid)
    if not sticking_out:
        return []
    listed = ", ".join(f"{z} ({share:.1%} outside)" for z, share in sticking_out[:10])
    return [f"{len(sticking_out)} zone(s) extend beyond the raster; the part outside counts as class nodata: "
            f"{listed}"]


def zone_overlaps(zones: PreparedZones, grid: Grid) -> pd.DataFrame:
    """Pairs of zones whose interiors overlap, with the overlap's area (ha) by the grid's own edge model.

    Zones that only touch along an edge share no area and are not listed.
    """
    geoms = zones.geoms
    first, second = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = first < second
    first, second = first[pair], second[pair]
    shared = shapely.intersection(geoms[first], geoms[second]) if len(first) else np.zeros(0, dtype=object)
    area_ha = zone_areas_m2(np.asarray(shared, dtype=object), grid) / M2_PER_HA if len(first) else np.zeros(0)
    ids = zones.ids.astype(str)
    found = area_ha > 0
    return pd.DataFrame({"zone_a": ids[first[found]], "zone_b": ids[second[found]], "area_ha": area_ha[found]})


def overlap_notes(overlaps: pd.DataFrame) -> list[str]:
    if overlaps.empty:
        return []
    listed = "; ".join(f"{a} and {b} ({ha:,.2f} ha)" for a, b, ha in overlaps.head(10).itertuples(index=False))
    return [f"{len(overlaps)} pair(s) of zones overlap: {listed}. Each zone's own figures count its whole area; "
            "region indicators count the overlapping land once"]
