"""The zone layer: read, ids checked, geometries repaired, reprojected to the raster's CRS.

Every repair is returned as a message so the runner can log and record it. The categorical raster
is never resampled: the zones move to the raster's CRS instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from pipeline.core.config import RunConfig
from pipeline.core.errors import SinkzoneError, ZoneError
from pipeline.core.grid import Grid, off_raster_m2, wrap_lonlat_zones, zone_areas_m2
from pipeline.core.units import M2_PER_HA
from pipeline.files.vectors import read_zones


@dataclass(frozen=True)
class PreparedZones:
    """Zones ready for coverage: ids, polygonal geometry in the grid's CRS, and the source layer."""

    ids: NDArray[np.object_]
    geoms: NDArray[np.object_]
    source: gpd.GeoDataFrame
    repairs: tuple[str, ...]


_POLYGON, _MULTIPOLYGON = 3, 6


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (make_valid and CAD exports give collections with lines or points)."""
    parts = shapely.get_parts(geom)
    polygons = parts[np.isin(shapely.get_type_id(parts), [_POLYGON, _MULTIPOLYGON])]
    return shapely.union_all(polygons) if len(polygons) else shapely.Polygon()


def as_multipolygons(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Every zone as a MultiPolygon, so the layer has one geometry type QGIS can draw.

    One vectorized call (a Python loop over 40,000 parcels costs a noticeable share of a run's serial time).
    """
    out = np.array(geoms, dtype=object)
    single = shapely.get_type_id(out) == _POLYGON
    out[single] = shapely.multipolygons(out[single], indices=np.arange(int(single.sum())))
    return out


def _missing_field(frame: gpd.GeoDataFrame, field: str, *, source: str, key: str) -> ZoneError:
    fields = ", ".join(str(c) for c in frame.columns if c != frame.geometry.name)
    return ZoneError(f"{source}: no field {field!r}; the layer has: {fields}. Set {key} to one of them")


def normalised_ids(values: pd.Series, *, id_field: str, source: str) -> tuple[pd.Series, list[str]]:
    """Ids as text the way a plan sheet writes them: whole numbers stored as decimals (a Double field's
    150202.0) become 150202, surrounding spaces go; each change is noted."""
    notes = []
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and bool((finite == np.floor(finite)).all()):
            values = values.astype("Int64")
            notes.append(f"{source}: {id_field!r} holds whole numbers stored as decimals (e.g. "
                         f"{finite.iloc[0]!r}); used as whole numbers (e.g. {int(finite.iloc[0])})")
    text = values.astype("string")
    stripped = text.str.strip()
    changed = (stripped != text).fillna(False)
    if changed.any():
        notes.append(f"{source}: stripped spaces around {int(changed.sum())} {id_field!r} value(s): "
                     f"{[str(v) for v in text[changed]][:10]}")
    return stripped.where(stripped != "", pd.NA), notes


def check_ids(frame: gpd.GeoDataFrame, *, id_field: str, source: str) -> tuple[pd.Series, list[str]]:
    """The zone ids as text (see normalised_ids), with the notes; missing or duplicate ids are errors."""
    if id_field not in frame.columns:
        raise _missing_field(frame, id_field, source=source, key="zones.id_field")
    ids, notes = normalised_ids(frame[id_field], id_field=id_field, source=source)
    if ids.isna().any():
        rows = [int(i) for i in np.flatnonzero(ids.isna().to_numpy())][:10]
        raise ZoneError(f"{source}: {int(ids.isna().sum())} zone(s) have no {id_field!r} (feature rows "
                        f"{rows}); fill in their ids or delete those features")
    dupes = ids[ids.duplicated(keep=False)]
    if len(dupes):
        at = {str(v): [int(i) for i in np.flatnonzero((ids == v).to_numpy())] for v in dupes.unique()[:10]}
        listed = "; ".join(f"{v!r} at feature rows {r}" for v, r in at.items())
        raise ZoneError(f"{source}: duplicate {id_field!r} values: {listed}. Give every zone its own id")
    return ids, notes


def _keep_polygonal(frame: gpd.GeoDataFrame, *, id_field: str, repairs: list[str]) -> gpd.GeoDataFrame:
    """Collections keep only their polygons (stray lines and points carry no area and break the layer type)."""
    kinds = shapely.get_type_id(frame.geometry.to_numpy())
    mixed = ~np.isin(kinds, [_POLYGON, _MULTIPOLYGON])
    if mixed.any():
        repairs.append(f"kept only the polygons of {int(mixed.sum())} zone(s) whose geometry also held lines or "
                       f"points: {list(map(str, frame[id_field][mixed]))[:10]}")
        frame.loc[mixed, frame.geometry.name] = [_polygonal(g) for g in frame.geometry[mixed]]
    return frame


def prepare_zones(frame: gpd.GeoDataFrame, *, id_field: str, grid: Grid, source: str) -> PreparedZones:
    """Check ids, repair or drop bad geometries, reproject to the grid's CRS; list every repair."""
    ids, repairs = check_ids(frame, id_field=id_field, source=source)
    geoms = frame.geometry.to_numpy()
    unusable = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if unusable.any():
        repairs.append(f"dropped {int(unusable.sum())} zone(s) with empty or null geometry: "
                       f"{list(map(str, ids[unusable]))[:10]}")
    frame = _keep_polygonal(frame.loc[~unusable].copy(), id_field=id_field, repairs=repairs)
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
    frame = frame.set_geometry(as_multipolygons(frame.geometry.to_numpy()), crs=frame.crs)
    zone_ids = ids.loc[frame.index].to_numpy(dtype=object)
    # zones crossing the antimeridian are cut at it, so straight lon/lat edges do not run round the globe
    geoms = wrap_lonlat_zones(frame.to_crs(grid.crs).geometry.to_numpy(), zone_ids, grid)
    return PreparedZones(ids=zone_ids, geoms=geoms, source=frame, repairs=tuple(repairs))


def renamed_fields(columns: Collection[str], taken: Collection[str]) -> dict[str, str]:
    """Source fields named like a field sinkzone computes, regardless of case (GeoPackage field names
    ignore case), each with a free `<name>_source` name: every source field is kept."""
    used = {str(t).lower() for t in (*taken, *columns)}
    renames = {}
    for column in columns:
        if str(column).lower() in {str(t).lower() for t in taken}:
            new, n = f"{column}_source", 2
            while new.lower() in used:
                new, n = f"{column}_source{n}", n + 1
            used.add(new.lower())
            renames[column] = new
    return renames


def renamed_notes(zones: PreparedZones, taken: Collection[str]) -> list[str]:
    """The note, before any compute, on the source fields the zone layer will keep under another name."""
    source = zones.source
    renames = renamed_fields([c for c in source.columns if c != source.geometry.name], taken)
    if not renames:
        return []
    listed = ", ".join(f"{old} -> {new}" for old, new in renames.items())
    return [f"zone layer fields named like fields sinkzone computes are kept renamed: {listed}"]


def _drop_arealess(frame: gpd.GeoDataFrame, *, id_field: str, repairs: list[str]) -> gpd.GeoDataFrame:
    """Drop zones left with no area: points, lines, or polygons that collapsed when repaired."""
    geoms = frame.geometry.to_numpy()
    arealess = shapely.is_empty(geoms) | (shapely.area(geoms) <= 0)
    if arealess.any():
        repairs.append(f"dropped {int(arealess.sum())} zone(s) with no area (points, lines or collapsed "
                       f"polygons): {list(map(str, frame[id_field][arealess]))[:10]}")
    return frame.loc[~arealess]


def zones_partly_off_grid(zones: PreparedZones, grid: Grid) -> list[tuple[str, float]]:
    """Ids of zones that stick out of the raster, with the share of their area outside it: the part class
    areas count as nodata (`off_raster_m2`, the grid's edge model)."""
    area = zone_areas_m2(zones.geoms, grid)
    outside = off_raster_m2(zones.geoms, grid)
    share = np.divide(outside, area, out=np.zeros_like(area), where=area > 0)
    partial = (share > 1e-9) & (outside < area)
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
        frame, notes = read_zones(config.zones.path, layer=config.zones.layer, encoding=config.zones.encoding)
        name_field = config.zones.name_field
        if name_field is not None and name_field not in frame.columns:
            raise _missing_field(frame, name_field, source=source, key="zones.name_field")
        zones = prepare_zones(frame, id_field=config.zones.id_field, grid=grid, source=source)
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    zones = replace(zones, repairs=(*notes, *zones.repairs))
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
    # neighbours of a partition (a 小班 layer) only touch: a cheap relate drops them before any overlay
    shared_area = _pairwise(lambda a, b: shapely.relate_pattern(a, b, "2********"), geoms[first], geoms[second])
    first, second = first[shared_area], second[shared_area]
    shared = _pairwise(shapely.intersection, geoms[first], geoms[second]) if len(first) else np.zeros(0, dtype=object)
    area_ha = zone_areas_m2(np.asarray(shared, dtype=object), grid) / M2_PER_HA if len(first) else np.zeros(0)
    ids = zones.ids.astype(str)
    found = area_ha > 0
    return pd.DataFrame({"zone_a": ids[first[found]], "zone_b": ids[second[found]], "area_ha": area_ha[found]})


def _pairwise(op: Callable[[NDArray[np.object_], NDArray[np.object_]], NDArray[Any]], a: NDArray[np.object_],
              b: NDArray[np.object_]) -> NDArray[Any]:
    """op over pairs of geometries, the pairs split over one thread per core.

    Shapely releases the GIL, and this runs before any compute, while the cores are idle (the overlay of
    districts with the parcels inside them is most of a cluster run's serial time). Each pair's result is
    its own, so the split changes nothing.
    """
    parts = min(os.cpu_count() or 1, max(len(a) // 64, 1))
    if parts == 1:
        return op(a, b)
    # every parts-th pair to a thread: pairs come grouped by zone, and one large zone's pairs cost the most
    with ThreadPoolExecutor(parts) as pool:
        done = list(pool.map(op, [a[k::parts] for k in range(parts)], [b[k::parts] for k in range(parts)]))
    out = np.empty(len(a), dtype=done[0].dtype)
    for k, part in enumerate(done):
        out[k::parts] = part
    return out


def overlap_notes(overlaps: pd.DataFrame) -> list[str]:
    if overlaps.empty:
        return []
    listed = "; ".join(f"{a} and {b} ({ha:,.2f} ha)" for a, b, ha in overlaps.head(10).itertuples(index=False))
    return [f"{len(overlaps)} pair(s) of zones overlap: {listed}. Each zone's own figures count its whole area; "
            "region indicators count the overlapping land once"]
