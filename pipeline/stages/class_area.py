"""Class area per zone and epoch, from (zone, code) area totals and a class map.

Every zone gets a row for every class, the class `nodata` included: the part of the zone covered by
nodata cells or lying off the raster. So the classes of a zone add up to the zone's own area.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.classmaps import NODATA_CLASS, ClassMap
from pipeline.errors import ClassMapError
from pipeline.stages.zonal import NODATA_CODE, ZoneValueTotals

M2_PER_HA = 10_000.0
MU_PER_HA = 15.0


def _class_of_codes(values: NDArray[np.int64], class_map: ClassMap) -> NDArray[np.object_]:
    lookup = class_map.code_to_class()
    lookup.update(dict.fromkeys(class_map.nodata_codes, NODATA_CLASS))
    lookup[NODATA_CODE] = NODATA_CLASS
    return np.array([lookup.get(int(v)) for v in values], dtype=object)


def unmapped_codes(totals: ZoneValueTotals, class_map: ClassMap, *, unit_m2: float) -> dict[int, float]:
    """Codes found inside the zones that the class map does not name, with their area in ha."""
    classes = _class_of_codes(totals.value, class_map)
    missing = np.array([c is None for c in classes], dtype=bool)
    codes, at = np.unique(totals.value[missing], return_inverse=True)
    areas = np.bincount(at, weights=totals.units[missing] * unit_m2 / M2_PER_HA, minlength=len(codes))
    return {int(c): float(a) for c, a in zip(codes, areas, strict=True)}


def check_codes_mapped(totals: ZoneValueTotals, class_map: ClassMap, *, unit_m2: float, source: str,
                       hint: Callable[[list[int]], str] | None = None) -> None:
    """Raise, listing each code and its area, when the raster holds codes the class map lacks.

    `hint` may add advice for the listed codes (such as declaring an undeclared nodata value).
    """
    missing = unmapped_codes(totals, class_map, unit_m2=unit_m2)
    if missing:
        listed = ", ".join(f"{code} ({ha:,.2f} ha)" for code, ha in sorted(missing.items()))
        advice = hint(sorted(missing)) if hint is not None else ""
        raise ClassMapError(f"{source}: codes inside the zones but not in class map {class_map.name!r}: "
                            f"{listed}. Add them to a class (or to `nodata`) in a class map YAML.{advice}")


def class_area_table(totals: ZoneValueTotals, *, class_map: ClassMap, zone_ids: NDArray[np.object_],
                     zone_area_m2: NDArray[np.float64], unit_m2: float, year: int) -> pd.DataFrame:
    """Long table: one row per zone and class (nodata last) with area in ha and mu and share of zone."""
    names = [*class_map.class_names, NODATA_CLASS]
    class_index = {name: i for i, name in enumerate(names)}
    classes = _class_of_codes(totals.value, class_map)
    col = np.array([class_index[c] for c in classes], dtype=np.int64)
    grid = np.zeros((len(zone_ids), len(names)))
    np.add.at(grid, (totals.zone, col), totals.units * unit_m2)
    valid = grid[:, :-1].sum(axis=1)
    grid[:, -1] = np.maximum(zone_area_m2 - valid, 0.0)
    zone_total = grid.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(zone_total > 0, grid / zone_total, 0.0)
    area_ha = grid / M2_PER_HA
    return pd.DataFrame({
        "zone_id": np.repeat(zone_ids, len(names)),
        "year": year,
        "class": np.tile(names, len(zone_ids)),
        "area_ha": area_ha.ravel(),
        "area_mu": area_ha.ravel() * MU_PER_HA,
        "share": share.ravel(),
    })


def wide_class_area(long: pd.DataFrame, *, year: int) -> pd.DataFrame:
    """`<class>_ha` columns per zone for one epoch, in the class order of the long table."""
    one = long[long["year"] == year]
    order = list(dict.fromkeys(one["class"]))
    wide = one.pivot(index="zone_id", columns="class", values="area_ha")[order]
    wide.columns = [f"{c}_ha" for c in wide.columns]
    return wide
