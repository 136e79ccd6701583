"""Carbon stage: zone_carbon (stock per pool with 90 % intervals) and zone_change, and carbon fields on zones.

For the live biomass of a zone and epoch the precedence is stock volume > biomass raster > pools table
(see pipeline.metrics.carbon_terms); a biomass raster that misses a zone leaves it to the table, and the
notes say so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.grid import zone_areas_m2
from pipeline.core.names import CARBON, CHANGE, SOURCES
from pipeline.core.precision import conservative, relative_half_width
from pipeline.core.sums import ZoneValueTotals
from pipeline.core.units import M2_PER_HA
from pipeline.inputs.carbon_tables import CARBON_ZONE_FIELDS, BiomassInput, CarbonInputs
from pipeline.inputs.check import Inputs
from pipeline.measure.graph import Computed
from pipeline.measure.kernels.zonal import ZoneSums
from pipeline.metrics import carbon_terms as ct
from pipeline.metrics import carbon_uncertainty as cu
from pipeline.metrics.base import StageResult

_PARTIAL_COVER = 0.99


def epoch_pairs(years: Sequence[int]) -> list[tuple[int, int]]:
    ordered = sorted(years)
    return list(zip(ordered[:-1], ordered[1:], strict=True))


def forest_classes(inputs: Inputs, carbon: CarbonInputs) -> tuple[str, ...]:
    return inputs.class_map.resolve([carbon.settings.forest_class], key="carbon.forest_class")


def forest_area_ha(forest_rows: pd.DataFrame, *, year: int, zone_ids: NDArray[np.object_]) -> NDArray[np.float64]:
    """Each zone's area (ha) of the forest classes in one epoch, from their class-area rows."""
    sums = forest_rows[forest_rows["year"] == year].groupby("zone_id")["area_ha"].sum()
    return sums.reindex(zone_ids.astype(str), fill_value=0.0).to_numpy(dtype=float)


def _live_keys(inputs: Inputs, carbon: CarbonInputs) -> set[str]:
    """The pools-table keys whose live biomass a volume record replaces: the forest classes' keys or codes."""
    forest, pools = forest_classes(inputs, carbon), carbon.pools
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


def _epoch_terms(inputs: Inputs, carbon: CarbonInputs, forest_rows: pd.DataFrame, totals: ZoneValueTotals,
                 year: int, biomass: pd.DataFrame | None, *, source: str, unit_m2: float) -> pd.DataFrame:
    """All terms of one epoch, with the precedence volume > biomass raster > pools table for live biomass."""
    n = len(inputs.zones.ids)
    forest_ha = forest_area_ha(forest_rows, year=year, zone_ids=inputs.zones.ids)
    records = carbon.volume[carbon.volume["year"] == year] if carbon.volume is not None else None
    volume_zones = np.zeros(n, dtype=bool)
    parts = []
    if records is not None and carbon.species is not None and len(records):
        volume_zones[records["zone"].to_numpy(dtype=np.int64)] = True
        # a record of zero volume names no species (a clear-felled 小班): its zone's live biomass is zero
        measured = records[records["species"] != ""]
        if len(measured):
            parts.append(ct.volume_terms(measured, carbon.species, year=year, forest_ha=forest_ha))
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


def _year_terms(inputs: Inputs, carbon: CarbonInputs, computed: Computed, class_area: pd.DataFrame,
                notes: list[str]) -> Iterator[tuple[int, pd.DataFrame]]:
    """Each epoch's terms in turn: one epoch at a time keeps 40,000 zones x 20 epochs in memory."""
    by_year = {b.spec.year: b for b in carbon.biomass}
    forest_rows = class_area[class_area["class"].isin(forest_classes(inputs, carbon))]
    for year in sorted(computed.totals):
        biomass = None
        if year in computed.biomass:
            biomass = _biomass_cover(inputs, by_year[year], computed.biomass[year], computed.biomass_unit_m2[year],
                                     notes)
        source = f"{by_year[year].spec.path} (R, CF from config)" if year in by_year else ""
        yield year, _epoch_terms(inputs, carbon, forest_rows, computed.totals[year], year, biomass, source=source,
                                 unit_m2=computed.unit_m2)


def tabulate(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame,
             area_se: pd.DataFrame | None = None) -> StageResult:
    """zone_carbon and the carbon_sources it cites, zone_change (with two or more epochs), carbon fields for
    the zones, and the carbon notes. `area_se` (zone_accuracy_area) adds the map's area uncertainty."""
    carbon = inputs.carbon
    if carbon is None:
        return StageResult()
    notes: list[str] = []
    ids = inputs.zones.ids
    monte_carlo = carbon.settings.uncertainty.method == "monte_carlo"
    stocks: list[pd.DataFrame] = []
    epochs: dict[int, ct.ZoneCarbon] = {}
    kept: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    for year, terms in _year_terms(inputs, carbon, computed, class_area, notes):
        ev = ct.evaluate(terms, carbon.factors)
        area = cu.term_area_se(ev, area_se, class_map=inputs.class_map, zone_ids=ids)
        stocks.append(ct.stock_table(ev, carbon.factors, zone_ids=ids, area=area))
        epochs[year] = ct.zone_carbon(ev, n_zones=len(ids), area=area)
        if monte_carlo:  # approach 2 draws every term of every year together
            kept.append((ev.terms, area))
    stock = ct.joined(stocks)
    pairs = epoch_pairs(list(computed.totals))
    change = ct.change_table(epochs, carbon.factors, zone_ids=ids, pairs=pairs)
    if monte_carlo:
        every, area = _all_years(kept)
        bounds = cu.monte_carlo_bounds(every, carbon.factors, area, carbon.settings.uncertainty, pairs=pairs)
        stock, change = cu.with_bounds(stock, change, bounds, zone_ids=ids)
    if area_se is None:  # without an accuracy assessment every interval is the factors' alone: no shares to tell
        stock, change = (frame.drop(columns=list(ct.VAR_SHARES), errors="ignore") for frame in (stock, change))
    stock, sources = ct.cite(stock)
    stock, change = with_precision(stock, change)
    notes.extend(_unknown_area_se(area_se))
    notes.extend(_method_mix_notes(stock, pairs, ids))
    tables = {CARBON: stock, SOURCES: sources, **({CHANGE: change} if pairs else {})}
    return StageResult(tables=tables, zone_fields=_zone_fields(ids, stock, change, latest=max(computed.totals)),
                       notes=tuple(notes))


def with_precision(stock: pd.DataFrame, change: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each stock and change figure's U (relative half-width of its 90 % interval, %) and the conservative
    figure of the carbon-market precision rule (core/precision.py)."""
    stock = stock.assign(u90_pct=100.0 * relative_half_width(stock["co2e_t"], stock["co2e_low_t"],
                                                              stock["co2e_high_t"]),
                         conservative_co2e_t=conservative(stock["co2e_t"], stock["co2e_low_t"], stock["co2e_high_t"]))
    if change.empty:
        return stock, change
    figure = (change["co2e_change_t"], change["co2e_change_low_t"], change["co2e_change_high_t"])
    return stock, change.assign(u90_pct=100.0 * relative_half_width(*figure),
                                conservative_co2e_change_t=conservative(*figure))


def _all_years(kept: list[tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[ct.Evaluated, pd.DataFrame]:
    """Every year's evaluated terms as one, with the area terms renumbered to match."""
    offsets = np.cumsum([0, *(len(terms) for terms, _ in kept[:-1])])
    terms = pd.concat([t for t, _ in kept], ignore_index=True)
    area = pd.concat([a.assign(term=a["term"].to_numpy(dtype=np.int64) + off)
                      for (_, a), off in zip(kept, offsets, strict=True)], ignore_index=True)
    empty = pd.DataFrame({"term": np.zeros(0, np.int64), "factor": np.zeros(0, np.int64), "sens": np.zeros(0)})
    return ct.Evaluated(terms=terms, sensitivity=empty), area


def _unknown_area_se(area_se: pd.DataFrame | None) -> list[str]:
    """Zones whose adjusted areas have no standard error (region rates of a Stehman design)."""
    if area_se is None:
        return []
    missing = area_se[area_se["se_ha"].isna() & (area_se["map_area_ha"] > 0)]["zone_id"].unique()
    if not len(missing):
        return []
    return [f"carbon intervals of zone(s) {', '.join(map(str, missing[:20]))} leave out the area uncertainty: "
            "their adjusted areas use the region's error rates of a Stehman design, which give no standard error"]


def _method_mix_notes(stock: pd.DataFrame, pairs: Sequence[tuple[int, int]], ids: NDArray[np.object_]) -> list[str]:
    years = sorted({y for pair in pairs for y in pair})
    totals = stock[stock["pool"] == "total"]
    joined = totals.pivot(index="zone_id", columns="year", values="method")
    joined = joined.reindex(index=ids.astype(str), columns=years).fillna("")
    mixed = []
    for y1, y2 in pairs:
        differ = (joined[y1] != joined[y2]).to_numpy()
        mixed += [f"{ids[z]} {y1}->{y2}" for z in np.flatnonzero(differ)[:20]]
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
