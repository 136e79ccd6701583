"""Carbon stage: zone_carbon (stock per pool with 90 % intervals) and zone_change, and carbon fields on zones.

For the live biomass of a zone and epoch the precedence is stock volume > biomass raster > pools table
(see pipeline.stages.carbon_terms); a biomass raster that misses a zone leaves it to the table, and the
notes say so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from legacy import carbon_terms as ct
from legacy import carbon_uncertainty as cu
from pipeline.graph import Computed
from pipeline.grid import zone_areas_m2
from pipeline.inputs.carbon import CARBON_ZONE_FIELDS, BiomassInput, CarbonInputs
from pipeline.inputs.check import Inputs
from pipeline.kernels.zonal import ZoneSums, ZoneValueTotals
from pipeline.names import CARBON, CHANGE
from pipeline.stages.base import StageResult
from pipeline.units import M2_PER_HA

_PARTIAL_COVER = 0.99


def epoch_pairs(years: Sequence[int]) -> list[tuple[int, int]]:
    ordered = sorted(years)
    return list(zip(ordered[:-1], ordered[1:], strict=True))


def _forest_classes(inputs: Inputs, carbon: CarbonInputs) -> tuple[str, ...]:
    return inputs.class_map.resolve([carbon.settings.forest_class], key="carbon.forest_class")


def _forest_ha(class_area: pd.DataFrame, *, year: int, forest: tuple[str, ...],
               zone_ids: NDArray[np.object_]) -> NDArray[np.float64]:
    rows = class_area[(class_area["year"] == year) & class_area["class"].isin(forest)]
    sums = rows.groupby("zone_id")["area_ha"].sum()
    return sums.reindex(zone_ids.astype(str), fill_value=0.0).to_numpy(dtype=float)


def _live_keys(inputs: Inputs, carbon: CarbonInputs) -> set[str]:
    """The pools-table keys whose live biomass a volume record replaces: the forest classes' keys or codes."""
    forest, pools = _forest_classes(inputs, carbon), carbon.pools
    assert pools is not None  # only asked when the pools table supplies the live biomass volume replaces
    if pools.key == "lucode":
        return {str(c) for name in forest for c in inputs.class_map.classes[name]}
    return {ct.class_key(pools, inputs.class_map, name) for name in forest}


def _biomass_cover(inputs: Inputs, b: BiomassInput, sums: ZoneSums, unit_m2: float,
                   notes: list[str]) -> pd.DataFrame:
    frame = ct.biomass_sums(sums, n_zones=len(inputs.zones.ids), unit_m2=unit_m2)
    share = frame["covered_ha"].to_numpy() / np.maximum(zone_areas_m2(b.zones.geoms, b.info.grid) / M2_PER_HA,
                                                           1e-12)
    ids = inputs.zones.ids.astype(str)
    missed = ids[share <= 0]
    partial = [f"{z} ({s:.1%})" for z, s in zip(ids, share, strict=True) if 0 < s < _PARTIAL_COVER]
    if len(missed):
        notes.append(f"{b.spec.path}: the biomass raster has no valid cell in zone(s) {', '.join(missed[:20])}; "
                     f"their live biomass for {b.spec.year} comes from the pools table instead")
    if partial:
        notes.append(f"{b.spec.path}: the biomass raster covers only part of zone(s) {', '.join(partial[:20])}; "
                     "their biomass is the sum over the covered part")
    return frame


def _epoch_terms(inputs: Inputs, carbon: CarbonInputs, class_area: pd.DataFrame, totals: ZoneValueTotals,
                 year: int, biomass: pd.DataFrame | None, *, source: str, unit_m2: float) -> pd.DataFrame:
    """All terms of one epoch, with the precedence volume > biomass raster > pools table for live biomass."""
    n = len(inputs.zones.ids)
    forest_ha = _forest_ha(class_area, year=year, forest=_forest_classes(inputs, carbon), zone_ids=inputs.zones.ids)
    records = carbon.volume[carbon.volume["year"] == year] if carbon.volume is not None else None
    volume_zones = np.zeros(n, dtype=bool)
    parts = []
    if records is not None and carbon.species is not None and len(records):
        volume_zones[records["zone"].to_numpy(dtype=np.int64)] = True
        parts.append(ct.volume_terms(records, carbon.species, year=year, forest_ha=forest_ha))
    raster_zones = np.zeros(n, dtype=bool) if biomass is None else (biomass["covered_ha"].to_numpy() > 0)
    raster_zones &= ~volume_zones
    if biomass is not None:
        parts.append(ct.biomass_terms(biomass, year=year, zones=raster_zones, source=source))
    if carbon.pools is not None:
        keys = ct.key_of_codes(carbon.pools, inputs.class_map, totals.value)
        areas = ct.key_areas_ha(totals, keys, n_zones=n, unit_m2=unit_m2)
        epoch = next(e for e in inputs.config.landcover if e.year == year)
        ct.check_keys_present(areas, carbon.pools, source=str(epoch.path))
        replaced = {int(z): _live_keys(inputs, carbon) for z in np.flatnonzero(volume_zones)}
        parts.append(ct.pool_terms(areas, carbon.pools, year=year, live_zones=~raster_zones, replaced=replaced))
    return pd.concat(parts, ignore_index=True)


def _all_terms(inputs: Inputs, carbon: CarbonInputs, computed: Computed, class_area: pd.DataFrame,
               notes: list[str]) -> pd.DataFrame:
    by_year = {b.spec.year: b for b in carbon.biomass}
    terms = []
    for year in sorted(computed.totals):
        biomass = None
        if year in computed.biomass:
            biomass = _biomass_cover(inputs, by_year[year], computed.biomass[year], computed.biomass_unit_m2[year],
                                     notes)
        source = f"{by_year[year].spec.path} (R, CF from config)" if year in by_year else ""
        terms.append(_epoch_terms(inputs, carbon, class_area, computed.totals[year], year, biomass, source=source,
                                  unit_m2=computed.unit_m2))
    return pd.concat(terms, ignore_index=True)


def tabulate(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame,
             area_se: pd.DataFrame | None = None) -> StageResult:
    """zone_carbon, zone_change (with two or more epochs), carbon fields for the zones, and the carbon notes."""
    carbon = inputs.carbon
    if carbon is None:
        return StageResult()
    notes: list[str] = []
    ev = ct.evaluate(_all_terms(inputs, carbon, computed, class_area, notes), carbon.factors)
    ids = inputs.zones.ids
    pairs = epoch_pairs(list(computed.totals))
    area = cu.term_area_se(ev, area_se, class_map=inputs.class_map, zone_ids=ids)
    widths = cu.area_widths(carbon.factors, area) if len(area) else ct.factor_widths(carbon.factors)
    stock = ct.stock_table(ev, widths, zone_ids=ids)
    change = ct.change_table(ev, widths, zone_ids=ids, pairs=pairs)
    settings = carbon.settings.uncertainty
    if settings.method == "monte_carlo":
        bounds = cu.monte_carlo_bounds(ev, carbon.factors, area, settings, pairs=pairs)
        stock, change = cu.with_bounds(stock, change, bounds, zone_ids=ids)
    notes.extend(_unknown_area_se(area_se))
    notes.extend(_method_mix_notes(ev.terms, pairs, ids))
    tables = {CARBON: stock, **({CHANGE: change} if pairs else {})}
    return StageResult(tables=tables, zone_fields=_zone_fields(ids, stock, change, latest=max(computed.totals)),
                       notes=tuple(notes))


def _unknown_area_se(area_se: pd.DataFrame | None) -> list[str]:
    """Zones whose adjusted areas have no standard error (region rates of a Stehman design)."""
    if area_se is None:
        return []
    missing = area_se[area_se["se_ha"].isna() & (area_se["map_area_ha"] > 0)]["zone_id"].unique()
    if not len(missing):
        return []
    return [f"carbon intervals of zone(s) {', '.join(map(str, missing[:20]))} leave out the area uncertainty: "
            "their adjusted areas use the region's error rates of a Stehman design, which give no standard error"]


def _method_mix_notes(terms: pd.DataFrame, pairs: Sequence[tuple[int, int]], ids: NDArray[np.object_]) -> list[str]:
    methods = terms.groupby(["zone", "year"])["method"].agg(lambda m: ",".join(sorted(set(m))))
    mixed = [f"{ids[z]} {y1}->{y2}" for y1, y2 in pairs for z in range(len(ids))
             if methods.get((z, y1)) != methods.get((z, y2))]
    if not mixed:
        return []
    return [f"carbon change mixes estimation methods between epochs for {', '.join(mixed[:20])}; "
            "part of that change is method, not land"]


def _zone_fields(ids: NDArray[np.object_], stock: pd.DataFrame, change: pd.DataFrame, *,
                 latest: int) -> pd.DataFrame:
    total = stock[(stock["pool"] == "total") & (stock["year"] == latest)].set_index("zone_id")
    zone_ids = pd.Series(ids.astype(str), index=ids.astype(str))
    rate = change[change["year_to"] == latest].set_index("zone_id")["co2e_per_year_t"] if len(change) else None
    values = (zone_ids.map(total["carbon_t"]).fillna(0.0).to_numpy(),
              zone_ids.map(total["co2e_t"]).fillna(0.0).to_numpy(),
              zone_ids.map(rate).to_numpy(dtype=float) if rate is not None else np.nan)
    return pd.DataFrame(dict(zip(CARBON_ZONE_FIELDS, values, strict=True)), index=zone_ids.index)
