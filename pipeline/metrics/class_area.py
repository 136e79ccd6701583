"""Class area per zone and epoch, from (zone, code) area totals and a class map.

Every zone gets a row for every class it holds, the class `nodata` included: the part of the zone covered
by nodata cells or lying off the raster. So the classes of a zone add up to the zone's own area (to the
rounding of coverage, about 1e-5 m² a zone).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.classmaps import NODATA_CLASS, ClassMap
from pipeline.core.errors import ClassMapError
from pipeline.core.grid import off_raster_m2, zone_areas_m2
from pipeline.core.names import CLASS_AREA
from pipeline.core.sums import ZoneValueTotals
from pipeline.core.units import M2_PER_HA, MU_PER_HA
from pipeline.inputs.check import Inputs
from pipeline.inputs.landcover import epoch_nodata, nodata_hint
from pipeline.measure.graph import Computed
from pipeline.measure.kernels.zonal import NODATA_CODE, lookup_codes
from pipeline.metrics.base import StageResult


def class_of_codes(values: NDArray[np.int64], class_map: ClassMap) -> NDArray[np.object_]:
    lookup: dict[int, object] = {**class_map.code_to_class(), **dict.fromkeys(class_map.nodata_codes, NODATA_CLASS)}
    lookup[NODATA_CODE] = NODATA_CLASS
    return lookup_codes(values, lookup)


def unmapped_codes(totals: ZoneValueTotals, class_map: ClassMap, *, unit_m2: float) -> dict[int, float]:
    """Codes found inside the zones that the class map does not name, with their area in ha."""
    classes = class_of_codes(totals.value, class_map)
    missing = pd.isna(classes)
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
                     off_raster_m2: NDArray[np.float64], unit_m2: float, year: int) -> pd.DataFrame:
    """Long table: one row per zone and class present (nodata last) with area in ha and mu and share of zone.

    Classes a zone does not hold get no row (at 40,000 parcels and 20 epochs, zero rows would be most of
    the table); their area is 0. `off_raster_m2` is each zone's part outside the raster, counted as nodata.
    """
    names = [*class_map.class_names, NODATA_CLASS]
    col = pd.Index(names).get_indexer(pd.Index(class_of_codes(totals.value, class_map)))
    grid = np.zeros((len(zone_ids), len(names)))
    np.add.at(grid, (totals.zone, col), totals.units * unit_m2)
    grid[:, -1] += off_raster_m2
    zone_total = grid.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(zone_total > 0, grid / zone_total, 0.0)
    zone, klass = np.nonzero(grid > 0)
    area_ha = grid[zone, klass] / M2_PER_HA
    return pd.DataFrame({"zone_id": zone_ids[zone], "year": year, "class": np.array(names, dtype=object)[klass],
                         "area_ha": area_ha, "area_mu": area_ha * MU_PER_HA, "share": share[zone, klass]})


def wide_class_area(long: pd.DataFrame, *, year: int, classes: list[str]) -> pd.DataFrame:
    """`<class>_ha` columns per zone for one epoch, one for each of `classes` (0 where a zone has none)."""
    one = long[long["year"] == year]
    wide = one.pivot(index="zone_id", columns="class", values="area_ha").reindex(columns=classes, fill_value=0.0)
    wide = wide.fillna(0.0)
    wide.columns = [f"{c}_ha" for c in wide.columns]
    return wide


def union_areas_ha(totals: ZoneValueTotals, *, class_map: ClassMap, unit_m2: float, year: int) -> pd.Series:
    """Map class areas (ha) inside the union of the zones, nodata left out, in class-map order."""
    one = ZoneValueTotals(zone=np.zeros_like(totals.zone), value=totals.value, units=totals.units)
    table = class_area_table(one, class_map=class_map, zone_ids=np.array(["union"], dtype=object),
                             off_raster_m2=np.zeros(1), unit_m2=unit_m2, year=year)
    return table[table["class"] != NODATA_CLASS].set_index("class")["area_ha"]


def tabulate(inputs: Inputs, computed: Computed) -> StageResult:
    """Table zone_class_area, and each zone's area and latest class areas as zone-layer fields.

    Codes the class map lacks inside a zone stop the run, listed with their area.
    """
    totals, unit_m2 = computed.totals, computed.unit_m2
    for epoch, info in zip(inputs.config.landcover, inputs.rasters, strict=True):
        hint = partial(nodata_hint, declared=epoch_nodata(epoch, info) is not None)
        check_codes_mapped(totals[epoch.year], inputs.class_map, unit_m2=unit_m2, source=str(epoch.path), hint=hint)
    ids = inputs.zones.ids.astype(str)
    areas = zone_areas_m2(inputs.zones.geoms, inputs.grid)
    off = off_raster_m2(inputs.zones.geoms, inputs.grid)
    long = pd.concat([class_area_table(totals[year], class_map=inputs.class_map, zone_ids=ids, off_raster_m2=off,
                                       unit_m2=unit_m2, year=year) for year in sorted(totals)], ignore_index=True)
    wide = wide_class_area(long, year=max(totals), classes=[*inputs.class_map.class_names, NODATA_CLASS])
    fields = pd.DataFrame({"area_ha": areas / M2_PER_HA, "area_mu": areas / M2_PER_HA * MU_PER_HA}, index=ids)
    fields = pd.concat([fields, wide.set_axis(wide.index.astype(str)).reindex(ids)], axis=1)
    return StageResult(tables={CLASS_AREA: long}, zone_fields=fields)
