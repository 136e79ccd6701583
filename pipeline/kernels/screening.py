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
parcels touching across chunk borders union exactly), and drop patches that are too small even at the
chunk's largest cell area unless they touch an inner chunk border. Then merge border patches, cut by
zones and compute exact areas (geodesic on geographic grids).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio import features
from rasterio.errors import NotGeoreferencedWarning
from scipy import ndimage

from pipeline.classmaps import label
from pipeline.grid import Grid, zone_areas_m2
from pipeline.kernels.zonal import NODATA_CODE, land_codes
from pipeline.units import M2_PER_HA, MU_PER_HA

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
    """Candidate patches of one or more chunks, in pixel space (column, row)."""

    geoms: NDArray[np.object_]
    klass: NDArray[np.int64]
    on_edge: NDArray[np.bool_]


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


def chunk_pieces(blocks: Sequence[NDArray], nodata: Sequence[float | None], rules: Screening, *,
                 row_off: int, col_off: int, grid_shape: tuple[int, int], max_cell_m2: float) -> Pieces:
    """Candidate patches of one chunk in grid pixel space; too-small inner patches are dropped here."""
    eligible = eligible_classes(blocks, nodata, rules)
    height, width = eligible.shape
    inner = (row_off > 0, row_off + height < grid_shape[0], col_off > 0, col_off + width < grid_shape[1])
    # too small by cell count, or too small in m² even at the chunk's largest cell
    fewest = max(rules.min_cells, int(np.ceil(rules.min_parcel_m2 * (1 - _AREA_TOLERANCE) / max_cell_m2)))
    values = drop_small_patches(eligible, min_cells=fewest, inner=inner)
    found = list(features.shapes(values, mask=values > 0, connectivity=4,
                                 transform=Affine.translation(col_off, row_off)))
    geoms = np.array([shapely.geometry.shape(g) for g, _ in found], dtype=object)
    klass = np.array([int(v) - 1 for _, v in found], dtype=np.int64)
    if not len(geoms):
        return Pieces(geoms=geoms, klass=klass, on_edge=np.zeros(0, dtype=bool))
    x0, y0, x1, y1 = shapely.bounds(geoms).T
    on_edge = (((x0 == col_off) & (col_off > 0)) | ((x1 == col_off + width) & (col_off + width < grid_shape[1]))
               | ((y0 == row_off) & (row_off > 0)) | ((y1 == row_off + height) & (row_off + height < grid_shape[0])))
    keep = on_edge | ((shapely.area(geoms) * max_cell_m2 >= rules.min_parcel_m2 * (1 - _AREA_TOLERANCE))
                      & (shapely.area(geoms) >= rules.min_cells))
    return Pieces(geoms=geoms[keep], klass=klass[keep], on_edge=on_edge[keep])


def merge_pieces(*parts: Pieces) -> Pieces:
    """Union patches of one class that touch across chunk borders into whole parcels."""
    geoms = np.concatenate([p.geoms for p in parts]) if parts else np.zeros(0, dtype=object)
    klass = np.concatenate([p.klass for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    edge = np.concatenate([p.on_edge for p in parts]) if parts else np.zeros(0, dtype=bool)
    out_geoms, out_class = [geoms[~edge]], [klass[~edge]]
    for k in np.unique(klass[edge]):
        merged = shapely.get_parts(shapely.union_all(geoms[edge & (klass == k)]))
        out_geoms.append(merged)
        out_class.append(np.full(len(merged), k, dtype=np.int64))
    geoms_all = np.concatenate(out_geoms) if out_geoms else geoms
    return Pieces(geoms=geoms_all, klass=np.concatenate(out_class), on_edge=np.zeros(len(geoms_all), dtype=bool))


def from_pixel_space(geoms: NDArray[np.object_], grid: Grid) -> NDArray[np.object_]:
    """Pixel-space geometries back into the grid's CRS."""
    t = grid.transform

    def apply(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f])

    return np.asarray(shapely.transform(geoms, apply), dtype=object)


def clip_to_zones(geoms: NDArray[np.object_], klass: NDArray[np.int64], zone_geoms: NDArray[np.object_]
                  ) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.int64]]:
    """Cut parcels by zones: (polygon parts, class, zone number); a parcel across a border is split."""
    if not len(geoms):
        return geoms, klass, np.zeros(0, dtype=np.int64)
    parcel_i, zone_i = shapely.STRtree(geoms).query(zone_geoms, predicate="intersects")[::-1]
    cut = shapely.intersection(geoms[parcel_i], zone_geoms[zone_i])
    parts, at = shapely.get_parts(cut, return_index=True)
    polygonal = shapely.get_type_id(parts) == 3
    return parts[polygonal], klass[parcel_i[at[polygonal]]], zone_i[at[polygonal]]


def candidate_table(pieces: Pieces, rules: Screening, *, grid: Grid, zone_geoms: NDArray[np.object_],
                    zone_ids: NDArray[np.object_], years: Sequence[int], checked: bool,
                    lookback_years: int, unit_note: str = "") -> tuple[NDArray[np.object_], pd.DataFrame]:
    """Parcels of at least min_parcel_m2 per zone: geometries (grid CRS) and their attributes."""
    whole = shapely.area(pieces.geoms) >= rules.min_cells  # pixel space: area in cells
    world = from_pixel_space(pieces.geoms[whole], grid)
    geoms, klass, zone = clip_to_zones(world, pieces.klass[whole], zone_geoms)
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
