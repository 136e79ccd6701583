"""Afforestation candidate land: a screening for CCER-14-001-V01 造林碳汇, not a certification.

Eligible cells are not forest or shrub in any epoch of the look-back window (the methodology asks for
land that has not met the forest definition for at least 3 years before the project starts), are
observed in every one of those epochs, and are not wetland, water, built-up or snow/ice in the latest
epoch (CCER-14-001-V01 applicability conditions a and d; docs/sources.md §4). A parcel is a 4-connected
patch of eligible cells of one land class (latest epoch), so a parcel's class is exact; mixed patches
are split by class, which can only drop land, never add it. Parcels are cut by zone boundaries and kept
when at least `min_parcel_m2` (400 m² by default, condition c). Land tenure and planning status
(conditions b, e, f) are not visible on a land-cover map and must be checked on the ground.

Per chunk: classify, build the eligibility mask, polygonize it in pixel space (integer vertices, so
parcels touching across chunk borders union exactly), cut the patches by the zones that reach into the
chunk, and drop pieces that are too small even at the chunk's largest cell area unless they touch an
inner chunk border. Then merge border pieces of one zone and class and compute exact areas (geodesic on
geographic grids).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio import features
from rasterio.errors import NotGeoreferencedWarning
from scipy import ndimage

from pipeline.core.classmaps import label
from pipeline.core.grid import Grid, zone_areas_m2
from pipeline.core.units import M2_PER_HA, MU_PER_HA
from pipeline.measure.kernels.zonal import NODATA_CODE, land_codes

# Parcels are traced in pixel space on purpose, where the first chunk's transform is the identity; a
# catch_warnings block would not do, as chunk tasks run in threads and it is not thread-safe.
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module="rasterio.features")

_AREA_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Screening:
    """What the screening checks: class numbers are positions in `classes`."""

    classes: tuple[str, ...]
    eligible: tuple[int, ...]
    never: tuple[int, ...]
    code_class: Mapping[int, int]
    min_parcel_m2: float
    min_cells: int = 1


@dataclass(frozen=True)
class Pieces:
    """Candidate patches of one or more chunks cut by the zones, in pixel space (column, row)."""

    geoms: NDArray[np.object_]
    klass: NDArray[np.int64]
    zone: NDArray[np.int64]
    on_edge: NDArray[np.bool_]


@dataclass(frozen=True)
class ChunkZones:
    """The zones that reach into one chunk: pixel-space geometries and their zone numbers."""

    geoms: NDArray[np.object_]
    index: NDArray[np.int64]


def make_screening(class_codes: Mapping[str, Sequence[int]], *, never: Sequence[str], excluded: Sequence[str],
                   min_parcel_m2: float, min_cells: int = 1) -> Screening:
    """Screening rules from a class map's {class: codes}."""
    classes = tuple(class_codes)
    code_class = {int(code): i for i, name in enumerate(classes) for code in class_codes[name]}
    eligible = tuple(i for i, c in enumerate(classes) if c not in (*never, *excluded))
    return Screening(classes=classes, eligible=eligible, never=tuple(i for i, c in enumerate(classes) if c in never),
                     code_class=code_class, min_parcel_m2=min_parcel_m2, min_cells=min_cells)


def mapping_unit_note(rules: Screening, *, cell_m2: float) -> str:
    """Plain words on the minimum mapping unit when the map's cell is coarser than the size rule ('' if not)."""
    if cell_m2 <= rules.min_parcel_m2:
        return ""
    return (f"the land-cover cell ({cell_m2:,.0f} m²) is larger than min_parcel_m2 ({rules.min_parcel_m2:,.0f} m²), "
            f"finer than the map can see: patches of fewer than {rules.min_cells} cells "
            f"(about {rules.min_cells * cell_m2:,.0f} m²) are left out as a minimum mapping unit "
            "(candidates.min_cells)")


def lookback_epochs(years: Sequence[int], *, lookback_years: int) -> tuple[list[int], bool]:
    """The epochs to check, and whether they reach back `lookback_years` before the latest epoch.

    The window starts at the latest epoch at or before (latest - lookback_years), so the whole
    look-back span is covered; without one, all epochs are used and the history is not fully checked.
    """
    ordered = sorted(years)
    start = ordered[-1] - lookback_years
    earlier = [y for y in ordered if y <= start]
    first = earlier[-1] if earlier else ordered[0]
    return [y for y in ordered if y >= first], bool(earlier) and len(ordered) > 1


def history_note(years: Sequence[int], *, checked: bool, lookback_years: int) -> str:
    """A plain-language note on how far the eligibility history was checked."""
    if len(years) == 1:
        return (f"one land-cover epoch only ({years[0]}): eligibility history could not be checked; "
                f"CCER-14-001-V01 needs land that was not forest for {lookback_years}+ years")
    listed = ", ".join(map(str, years))
    if not checked:
        return (f"epochs {listed} span {years[-1] - years[0]} year(s), less than the {lookback_years}-year "
                "look-back: eligibility history only partly checked")
    return f"not forest or shrub in epochs {listed} (look-back {lookback_years} years)"


def class_index(block: NDArray, *, nodata: float | None, code_class: Mapping[int, int]) -> NDArray[np.int64]:
    """Class number of every cell; nodata and unmapped codes become -1."""
    codes = land_codes(block, nodata=nodata)
    low = min(int(codes.min()), NODATA_CODE)
    lut = np.full(int(codes.max()) - low + 1, -1, dtype=np.int64)
    for code, klass in code_class.items():
        if 0 <= code - low < len(lut):
            lut[code - low] = klass
    return lut[codes - low]


def eligible_classes(blocks: Sequence[NDArray], nodata: Sequence[float | None], rules: Screening) -> NDArray[np.int32]:
    """Per cell: latest class number + 1 where eligible, 0 elsewhere. Blocks run oldest to latest."""
    ok = np.ones(blocks[-1].shape, dtype=bool)
    latest = np.zeros(blocks[-1].shape, dtype=np.int64)
    for block, nd in zip(blocks, nodata, strict=True):
        latest = class_index(block, nodata=nd, code_class=rules.code_class)
        ok &= (latest >= 0) & ~np.isin(latest, rules.never)
    ok &= np.isin(latest, rules.eligible)
    return np.where(ok, latest + 1, 0).astype(np.int32)


def drop_small_patches(values: NDArray[np.int32], *, min_cells: int, inner: tuple[bool, bool, bool, bool]
                       ) -> NDArray[np.int32]:
    """`values` with 0 in every 4-connected one-class patch of fewer than min_cells cells, except patches
    touching an inner chunk border (top, bottom, left, right), which may go on in the next chunk.

    Labelling is a few passes over the array; polygonizing only the patches that stay is where it pays.
    """
    if min_cells <= 1:
        return values
    out = values.copy()
    for klass in np.unique(values[values > 0]):
        labels, count = ndimage.label(values == klass)  # default structure: 4-connected
        size = np.bincount(labels.ravel(), minlength=count + 1)
        keep = size >= min_cells
        for touches, edge in zip(inner, (labels[0], labels[-1], labels[:, 0], labels[:, -1]), strict=True):
            if touches:
                keep[edge] = True
        keep[0] = True  # label 0 is the background: left as it is
        out[~keep[labels]] = 0
    return out


def zones_by_chunk(pixel_zones: NDArray[np.object_], windows: Sequence[tuple[int, int, int, int]]
                   ) -> list[ChunkZones]:
    """For each chunk window (row_off, col_off, height, width), the pixel-space zones that intersect it."""
    boxes = shapely.box(*np.array([(c0, r0, c0 + w, r0 + h) for r0, c0, h, w in windows], dtype=np.float64).T)
    chunk_i, zone_i = shapely.STRtree(pixel_zones).query(boxes, predicate="intersects")
    return [ChunkZones(geoms=pixel_zones[zone_i[chunk_i == k]], index=zone_i[chunk_i == k].astype(np.int64))
            for k in range(len(windows))]


def _big_enough(geoms: NDArray[np.object_], on_edge: NDArray[np.bool_], rules: Screening, *,
                max_cell_m2: float) -> NDArray[np.bool_]:
    """Pieces that may still make a parcel: on an inner chunk border (they may go on in the next chunk), or
    at least min_cells cells and min_parcel_m2 even at the chunk's largest cell."""
    cells = shapely.area(geoms)
    return on_edge | ((cells * max_cell_m2 >= rules.min_parcel_m2 * (1 - _AREA_TOLERANCE))
                      & (cells >= rules.min_cells * (1 - _AREA_TOLERANCE)))


def _on_inner_border(geoms: NDArray[np.object_], *, row_off: int, col_off: int, shape: tuple[int, int],
                     grid_shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Pieces touching an inner chunk border. Pieces cut by a zone get vertices where the zone's edges cross
    the border, computed in floating point: a small tolerance keeps them on it."""
    height, width = shape
    x0, y0, x1, y1 = shapely.bounds(geoms).T
    near = 1e-6
    return (((x0 <= col_off + near) & (col_off > 0))
            | ((x1 >= col_off + width - near) & (col_off + width < grid_shape[1]))
            | ((y0 <= row_off + near) & (row_off > 0))
            | ((y1 >= row_off + height - near) & (row_off + height < grid_shape[0])))


def cut_by_zones(geoms: NDArray[np.object_], klass: NDArray[np.int64], zones: ChunkZones
                 ) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.int64]]:
    """Cut patches by zones: (polygon parts, class, zone number); a patch across a zone border is split."""
    if not len(geoms) or not len(zones.geoms):
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # no predicate: a huge patch costs as much to test as to cut, and empty cuts drop out below
    zone_i, patch_i = shapely.STRtree(geoms).query(zones.geoms)
    cut = shapely.intersection(geoms[patch_i], zones.geoms[zone_i])
    parts, at = shapely.get_parts(cut, return_index=True)
    polygonal = shapely.get_type_id(parts) == 3
    return parts[polygonal], klass[patch_i[at[polygonal]]], zones.index[zone_i[at[polygonal]]]


def near_zones(zones: ChunkZones, *, row_off: int, col_off: int, shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Cells a zone reaches into: only these can hold a parcel, and leaving the rest out before tracing
    breaks the huge patches of a common class into small ones near the zones."""
    if not len(zones.geoms):
        return np.zeros(shape, dtype=bool)
    touched = features.rasterize(zones.geoms, out_shape=shape, transform=Affine.translation(col_off, row_off),
                                 all_touched=True, dtype=np.uint8) > 0
    # GDAL's all_touched may miss a cell that an edge only grazes; one more ring of cells costs little
    return ndimage.binary_dilation(touched, structure=np.ones((3, 3), dtype=bool))


def chunk_pieces(blocks: Sequence[NDArray], nodata: Sequence[float | None], rules: Screening, zones: ChunkZones, *,
                 row_off: int, col_off: int, grid_shape: tuple[int, int], max_cell_m2: float) -> Pieces:
    """Candidate patches of one chunk in grid pixel space, cut by the zones that reach into the chunk.

    Cutting here, per chunk, keeps every intersection small: merged first, the patches of a common class
    became a few huge ragged polygons across the raster, each met by thousands of zones. Too-small
    patches and pieces away from inner borders are dropped here.
    """
    eligible = eligible_classes(blocks, nodata, rules)
    shape = eligible.shape
    inner = (row_off > 0, row_off + shape[0] < grid_shape[0], col_off > 0, col_off + shape[1] < grid_shape[1])
    # too small by cell count, or too small in m² even at the chunk's largest cell
    fewest = max(rules.min_cells, int(np.ceil(rules.min_parcel_m2 * (1 - _AREA_TOLERANCE) / max_cell_m2)))
    values = drop_small_patches(eligible, min_cells=fewest, inner=inner)
    # a patch cut to the cells near the zones keeps all of its land inside them: parcels do not change
    found = list(features.shapes(values, mask=(values > 0) & near_zones(zones, row_off=row_off, col_off=col_off,
                                                                          shape=shape),
                                 connectivity=4, transform=Affine.translation(col_off, row_off)))
    patches = np.array([shapely.geometry.shape(g) for g, _ in found], dtype=object)
    patch_class = np.array([int(v) - 1 for _, v in found], dtype=np.int64)
    border = partial(_on_inner_border, row_off=row_off, col_off=col_off, shape=shape, grid_shape=grid_shape)
    keep = _big_enough(patches, border(patches), rules, max_cell_m2=max_cell_m2)
    geoms, klass, zone = cut_by_zones(patches[keep], patch_class[keep], zones)
    on_edge = border(geoms)
    keep = _big_enough(geoms, on_edge, rules, max_cell_m2=max_cell_m2)
    return Pieces(geoms=geoms[keep], klass=klass[keep], zone=zone[keep], on_edge=on_edge[keep])


def merge_pieces(*parts: Pieces) -> Pieces:
    """Union pieces of one zone and class that touch across chunk borders into whole parcels."""
    geoms = np.concatenate([p.geoms for p in parts]) if parts else np.zeros(0, dtype=object)
    klass = np.concatenate([p.klass for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    zone = np.concatenate([p.zone for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    edge = np.concatenate([p.on_edge for p in parts]) if parts else np.zeros(0, dtype=bool)
    _, group, count = np.unique(np.column_stack([zone, klass]), axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    # a piece alone in its (zone, class) at the borders has nothing to merge with
    alone = ~edge | (np.bincount(group[edge], minlength=len(count))[group] == 1)
    out_geoms, out_class, out_zone = [geoms[alone]], [klass[alone]], [zone[alone]]
    joined = np.flatnonzero(~alone)
    joined = joined[np.argsort(group[joined], kind="stable")]
    for members in np.split(joined, np.flatnonzero(np.diff(group[joined])) + 1) if len(joined) else ():
        merged = shapely.get_parts(shapely.union_all(geoms[members]))
        out_geoms.append(merged)
        out_class.append(np.full(len(merged), klass[members[0]], dtype=np.int64))
        out_zone.append(np.full(len(merged), zone[members[0]], dtype=np.int64))
    geoms_all = np.concatenate(out_geoms)
    return Pieces(geoms=geoms_all, klass=np.concatenate(out_class), zone=np.concatenate(out_zone),
                  on_edge=np.zeros(len(geoms_all), dtype=bool))


def from_pixel_space(geoms: NDArray[np.object_], grid: Grid) -> NDArray[np.object_]:
    """Pixel-space geometries back into the grid's CRS."""
    t = grid.transform

    def apply(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f])

    return np.asarray(shapely.transform(geoms, apply), dtype=object)


def candidate_table(pieces: Pieces, rules: Screening, *, grid: Grid, zone_ids: NDArray[np.object_],
                    years: Sequence[int], checked: bool, lookback_years: int, unit_note: str = ""
                    ) -> tuple[NDArray[np.object_], pd.DataFrame]:
    """Parcels of at least min_parcel_m2 per zone: geometries (grid CRS) and their attributes."""
    geoms, klass, zone = from_pixel_space(pieces.geoms, grid), pieces.klass, pieces.zone
    area_m2 = zone_areas_m2(geoms, grid) if len(geoms) else np.zeros(0)
    cells = shapely.area(geoms) / abs(grid.transform.a * grid.transform.e - grid.transform.b * grid.transform.d)
    keep = (area_m2 >= rules.min_parcel_m2 * (1 - _AREA_TOLERANCE)) & (cells >= rules.min_cells * (1 - _AREA_TOLERANCE))
    names = np.array(rules.classes, dtype=object)[klass[keep]]
    frame = pd.DataFrame({
        "zone_id": zone_ids[zone[keep]].astype(str),
        "land_class": names,
        "label_zh": [label(c)[0] for c in names],
        "area_ha": area_m2[keep] / M2_PER_HA,
        "area_mu": area_m2[keep] / M2_PER_HA * MU_PER_HA,
        "epochs_checked": ",".join(map(str, years)),
        "history_checked": checked,
        "note": "; ".join(n for n in (history_note(years, checked=checked, lookback_years=lookback_years), unit_note)
                          if n),
    })
    order = np.lexsort((-frame["area_ha"].to_numpy(), frame["zone_id"].to_numpy()))
    return geoms[keep][order], frame.iloc[order].reset_index(drop=True)
