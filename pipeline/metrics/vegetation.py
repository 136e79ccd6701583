"""草原综合植被盖度 (comprehensive vegetation cover of grassland) as a remote-sensing proxy: table
`zone_vegetation_cover`, per zone and for the region, each year.

The official indicator is the area-weighted mean of peak-season plot cover over the grassland types; this
proxy is the area-weighted mean fractional vegetation cover (FVC) over the cells of classes playing grassland.
FVC comes from NDVI by the dimidiate pixel model, FVC = clip((NDVI - NDVI_soil) / (NDVI_veg - NDVI_soil), 0, 1),
with the end-members taken as quantiles (5 % and 95 % by default) of the NDVI over the whole region's grassland of
that year, never per zone; or it is read from an FVC raster. Area weights are the exact coverage of the
zone_values stage, so the type-weighted mean of the official formula equals this cell-weighted mean when each
type's cover is its cells' mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.config import Endmembers, VegetationCover
from pipeline.core.errors import InputError
from pipeline.core.names import VEGETATION
from pipeline.core.units import M2_PER_HA
from pipeline.core.weighted import weighted_quantiles
from pipeline.inputs.check import Inputs
from pipeline.inputs.value_rasters import ValueInput, range_problem
from pipeline.measure.graph import Computed, value_unit_m2
from pipeline.measure.kernels.values import ZoneClassValues, merge_values
from pipeline.metrics.base import StageResult

LABEL_ZH = "草原综合植被盖度（遥感代理）"
LABEL_EN = "Grassland vegetation cover (remote-sensing proxy)"
COVER_FIELD = "grassland_cover_pct"  # the zone layer's field: the latest year's cover
COLUMNS = ["level", "zone_id", "year", "grassland_observed_ha", "cover_pct", "source", "ndvi_soil", "ndvi_veg",
           "endmembers", "label_zh", "label_en", "illustrative"]


@dataclass(frozen=True)
class UsedEndmembers:
    """The NDVI of bare soil and of full cover one year's FVC was computed with, and how they were chosen."""

    soil: float
    veg: float
    method: str


def collapsed(found: ZoneClassValues) -> ZoneClassValues:
    """Every zone's rows as one zone (0), equal values added."""
    return merge_values(ZoneClassValues(zone=np.zeros_like(found.zone), code=found.code, value=found.value,
                                        units=found.units))


def endmembers(values: np.ndarray, units: np.ndarray, settings: Endmembers) -> UsedEndmembers:
    """Fixed end-members, or the weighted quantiles of the region's grassland NDVI."""
    if settings.soil is not None and settings.veg is not None:
        return UsedEndmembers(soil=settings.soil, veg=settings.veg, method="fixed")
    order = np.argsort(values, kind="stable")
    start = np.zeros(1, dtype=np.intp)
    soil, veg = (float(weighted_quantiles(values[order], units[order], start, q)[0])
                 for q in (settings.soil_quantile, settings.veg_quantile))
    return UsedEndmembers(soil=soil, veg=veg, method=f"region grassland NDVI quantiles {settings.soil_quantile:g} "
                                                     f"and {settings.veg_quantile:g}")


def dimidiate_fvc(ndvi: np.ndarray, used: UsedEndmembers) -> np.ndarray:
    """FVC = clip((NDVI - soil) / (veg - soil), 0, 1)."""
    return np.clip((ndvi - used.soil) / (used.veg - used.soil), 0.0, 1.0)


def check_range(v: ValueInput, scaled: np.ndarray, *, ndvi: bool) -> None:
    """Values beyond NDVI's or FVC's range stop the run (a scale factor missing, a raster in percent)."""
    found = range_problem(v.spec, float(np.max(np.abs(scaled))), ndvi=ndvi) if len(scaled) else None
    if found is not None:
        raise InputError(found)


def _mean_pct(found: ZoneClassValues, cover: np.ndarray, n_zones: int) -> tuple[np.ndarray, np.ndarray]:
    """Per zone: observed units and the unit-weighted mean cover in % (NaN where nothing is observed)."""
    units = np.bincount(found.zone, weights=found.units, minlength=n_zones)
    total = np.bincount(found.zone, weights=found.units * cover, minlength=n_zones)
    with np.errstate(invalid="ignore", divide="ignore"):
        return units, np.where(units > 0, 100.0 * total / units, math.nan)


def year_cover(v: ValueInput, found: ZoneClassValues, region: ZoneClassValues, *, settings: VegetationCover,
               codes: np.ndarray) -> tuple[pd.DataFrame, UsedEndmembers | None]:
    """Zone and region rows of one year: grassland cells only; units in the value raster's area unit."""
    grass, region_grass = found.pick(np.isin(found.code, codes)), region.pick(np.isin(region.code, codes))
    scale = (v.spec.scale, v.spec.offset)
    ndvi = settings.ndvi is not None
    check_range(v, region.value * scale[0] + scale[1], ndvi=ndvi)
    used = None
    if ndvi:
        used = endmembers(region_grass.value * scale[0] + scale[1], region_grass.units, settings.endmembers) \
            if len(region_grass.value) or settings.endmembers.soil is not None else None
        if used is not None and not used.soil < used.veg:
            raise InputError(f"{v.spec.path}: the region's grassland NDVI of {v.spec.year} gives end-members soil "
                             f"{used.soil:g} and veg {used.veg:g}; the model needs soil < veg: give fixed "
                             "vegetation_cover.endmembers {soil, veg}")

    def cover(rows: ZoneClassValues) -> np.ndarray:
        scaled = rows.value * scale[0] + scale[1]
        if not ndvi:
            return np.clip(scaled, 0.0, 1.0)
        return dimidiate_fvc(scaled, used) if used is not None else np.full(len(scaled), math.nan)

    n = len(v.zones.ids)
    units, pct = _mean_pct(grass, cover(grass), n)
    region_units, region_pct = _mean_pct(collapsed(region_grass), cover(collapsed(region_grass)), 1)
    frame = pd.DataFrame({"level": ["zone"] * n + ["region"],
                          "zone_id": [*v.zones.ids.astype(str), ""], "year": v.spec.year,
                          "grassland_units": np.r_[units, region_units], "cover_pct": np.r_[pct, region_pct]})
    return frame, used


def latest_zone_field(table: pd.DataFrame, *, value: str, field: str) -> pd.DataFrame:
    """One zone-layer field: each zone's `value` in the table's latest year, indexed by zone id."""
    zones = table[table["level"] == "zone"]
    latest = zones[zones["year"] == zones["year"].max()] if len(zones) else zones
    return pd.DataFrame({field: latest[value].to_numpy(dtype=float)}, index=latest["zone_id"].astype(str).to_numpy())


def tabulate(inputs: Inputs, computed: Computed) -> StageResult:
    """zone_vegetation_cover for every year of the named values raster; the end-members go to run.json."""
    settings = inputs.config.vegetation_cover
    if settings is None:
        return StageResult()
    grass = inputs.class_map.resolve(settings.classes, key="vegetation_cover.classes")
    codes = np.array([c for c, name in inputs.class_map.code_to_class().items() if name in grass], dtype=np.int64)
    frames, record, notes = [], {}, []
    for v in (v for v in inputs.values if v.spec.name == settings.source):
        key = (v.spec.name, v.spec.year)
        found = computed.values[key]
        region = computed.union_values.get(key, found)
        frame, used = year_cover(v, found, region, settings=settings, codes=codes)
        unit_ha = value_unit_m2(v, inputs.grid) / M2_PER_HA
        frame = frame.assign(grassland_observed_ha=frame.pop("grassland_units") * unit_ha,
                             zone_id=frame["zone_id"].where(frame["level"] == "zone", inputs.config.region.name),
                             source=f"{v.spec.name} ({v.spec.path})", illustrative=v.spec.illustrative,
                             ndvi_soil=used.soil if used else math.nan, ndvi_veg=used.veg if used else math.nan,
                             endmembers=used.method if used else "FVC raster", label_zh=LABEL_ZH, label_en=LABEL_EN)
        frames.append(frame[COLUMNS])
        if used is not None:
            record[str(v.spec.year)] = {"ndvi_soil": used.soil, "ndvi_veg": used.veg, "method": used.method}
        empty = frame.loc[frame["grassland_observed_ha"] <= 0, "zone_id"].tolist()
        if empty:
            notes.append(f"vegetation cover {v.spec.year}: no observed grassland cell (all nodata or no grassland) "
                         f"in {', '.join(map(str, empty[:10]))}: their cover is left empty")
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return StageResult(tables={VEGETATION: table}, notes=tuple(notes), zone_fields=latest_zone_field(
                           table, value="cover_pct", field=COVER_FIELD),
                       record={"vegetation_cover_endmembers": record} if record else {})
