"""Carbon stock per zone and epoch, its change between epochs, and a 90 % interval for both.

Every figure is built from *terms*: an exactly known quantity (an area in ha, a biomass sum in t d.m.,
a volume in m3) times a product of *factors* (a pool density, R, CF, WD, BEF), each factor with a
value and an optional low/high range. Three methods make terms:

- pools table (InVEST columns): class area x c_above / c_below / c_soil / c_dead (t C/ha);
- biomass raster: zone sum of above-ground biomass x CF (above) and x R x CF (below);
- stock volume (CCER-14-001-V01 form): V x WD x BEF x CF (above) and x R (below), so that
  tree carbon = V x WD x BEF x (1 + R) x CF.

Precedence for the live-biomass pools (above, below) of a zone and epoch: volume, for the zone's
forest class, when the zone has a volume record; else the biomass raster, for the whole zone, when
one is given for that epoch and covers the zone; else the pools table. Soil and dead organic matter
always come from the pools table. So a zone's forest can come from its inventory and the rest from
the table, and no area is counted twice.

Uncertainty is IPCC approach 1 (first-order error propagation): each factor's low/high is taken as
its 90 % bounds, factors are independent of each other, and a factor is the same (fully correlated)
in every zone and epoch where it is used, so a change between epochs only carries the uncertainty
of what changed. Asymmetric ranges are propagated side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.classmaps import ClassMap
from pipeline.core.errors import TableError
from pipeline.core.sums import ZoneValueTotals
from pipeline.core.units import M2_PER_HA
from pipeline.inputs.carbon_tables import POOLS, FactorTable
from pipeline.measure.kernels.zonal import NODATA_CODE, ZoneSums, lookup_codes

CO2_PER_C = 44.0 / 12.0
Z90 = 1.645  # 90 % normal quantile, the carbon tables' interval
LIVE_POOLS = ("c_above", "c_below")
POOL_NAMES = {"c_above": "above", "c_below": "below", "c_soil": "soil", "c_dead": "dead"}
METHOD_TABLE, METHOD_RASTER, METHOD_VOLUME = "pools_table", "biomass_raster", "stock_volume"
# the order a zone's terms are made in for each epoch (see pipeline.metrics.carbon), which sources follow
METHOD_ORDER = (METHOD_VOLUME, METHOD_RASTER, METHOD_TABLE)
# which part of an interval's variance comes from the mapped areas and which from the factors
VAR_SHARES = ("var_share_area", "var_share_factors")


# ---- areas ---------------------------------------------------------------------------------------


def class_key(table: FactorTable, class_map: ClassMap, name: str) -> str:
    """A class's row in a pools table keyed by class: its own name if listed, else its role (so the
    built-in tables, written per role, serve a map whose classes carry the bureau's own names)."""
    return name if name in table.frame.index else class_map.role(name)


def key_of_codes(table: FactorTable, class_map: ClassMap, codes: NDArray[np.int64]) -> NDArray[np.object_]:
    """The pools-table key of each raster code: its class (or role) row, or the code itself for a lucode table.

    Nodata codes get None: their carbon is unknown, and the class-area table reports them as nodata.
    """
    nodata = {*class_map.nodata_codes, NODATA_CODE}
    lookup: dict[int, object] = ({int(c): str(int(c)) for c in np.unique(codes)} if table.key == "lucode" else
                                 {code: class_key(table, class_map, name)
                                  for code, name in class_map.code_to_class().items()})
    return lookup_codes(codes, {c: k for c, k in lookup.items() if c not in nodata})


def key_areas_ha(totals: ZoneValueTotals, keys: NDArray[np.object_], *, n_zones: int,
                 unit_m2: float) -> pd.DataFrame:
    """Area in ha per (zone number, key) as a zones x keys frame; keys given per totals row."""
    valid = pd.notna(keys)
    frame = pd.DataFrame({"zone": totals.zone[valid], "key": keys[valid],
                          "area_ha": totals.units[valid] * unit_m2 / M2_PER_HA})
    wide = frame.pivot_table(index="zone", columns="key", values="area_ha", aggfunc="sum", fill_value=0.0)
    return wide.reindex(range(n_zones), fill_value=0.0).rename_axis(columns=None)


def check_keys_present(areas: pd.DataFrame, table: FactorTable, *, source: str) -> None:
    """Raise, listing each class (or code) and its area, when the raster holds keys the table lacks."""
    found = areas.sum(axis=0)
    missing = found[(found > 0) & ~found.index.isin(table.frame.index)]
    if len(missing):
        listed = ", ".join(f"{k} ({ha:,.2f} ha)" for k, ha in missing.sort_index().items())
        raise TableError(f"{source}: {table.key} values in the zones but missing from the carbon pools table "
                         f"{table.name}: {listed}. Add a row for each")


# ---- terms ---------------------------------------------------------------------------------------
# A term frame has one row per term: zone, year, pool, method, source, quantity, and factor_0..factor_k,
# the ids of the factors it is multiplied by (None past its last one). Built column-wise, never row by row.


def _terms(columns: Mapping[str, object], factors: Sequence[NDArray[np.object_]]) -> pd.DataFrame:
    return pd.DataFrame({**columns, **{f"factor_{k}": f for k, f in enumerate(factors)}})


def pool_terms(areas: pd.DataFrame, table: FactorTable, *, year: int, live_zones: NDArray[np.bool_],
               replaced: Mapping[int, set[str]]) -> pd.DataFrame:
    """Area x pool density for every zone, key and pool (terms ordered by zone, key, pool).

    `live_zones` marks zones whose live biomass comes from the table; `replaced` lists, per zone,
    the keys whose live biomass another method supplies (the forest class of a volume zone).
    """
    keys = areas.columns.astype(str).to_numpy()
    zones = areas.index.to_numpy(dtype=np.int64)
    area = areas.to_numpy(dtype=float)
    swapped = np.zeros(area.shape, dtype=bool)
    for zone, names in replaced.items():
        swapped[zones == zone] |= np.isin(keys, list(names))
    live = (live_zones[zones][:, None] & ~swapped)[:, :, None] & np.isin(POOLS, LIVE_POOLS)[None, None, :]
    wanted = (area > 0)[:, :, None] & (live | ~np.isin(POOLS, LIVE_POOLS)[None, None, :])
    z, k, p = np.nonzero(wanted)  # C order: zone, then key, then pool, as the sources are listed
    factor_ids = np.array([[f"pools:{key}:{pool}" for pool in POOLS] for key in keys], dtype=object)
    sources = table.frame["source"].reindex(keys).astype(str).to_numpy(dtype=object)
    return _terms({"zone": zones[z], "year": year, "pool": np.array(list(POOL_NAMES.values()), dtype=object)[p],
                   "method": METHOD_TABLE, "source": pd.Categorical(sources[k]), "quantity": area[z, k]},
                  [factor_ids[k, p]])


def biomass_sums(sums: ZoneSums, *, n_zones: int, unit_m2: float) -> pd.DataFrame:
    """Biomass (t d.m.) and covered area (ha) per zone number from the zone sums of a t d.m./ha raster."""
    biomass = np.zeros(n_zones)
    covered = np.zeros(n_zones)
    biomass[sums.zone] = sums.total * unit_m2 / M2_PER_HA
    covered[sums.zone] = sums.units * unit_m2 / M2_PER_HA
    return pd.DataFrame({"biomass_t": biomass, "covered_ha": covered})


def _above_below(zone: NDArray[np.int64], quantity: NDArray[np.float64], *, year: int, method: str,
                 source: NDArray[np.object_] | str, above: list[NDArray[np.object_]],
                 below: list[NDArray[np.object_]]) -> pd.DataFrame:
    """An above and a below term per item, interleaved (above, below, above, below, ...)."""
    width = len(below)
    padded = [*above, *([np.full(len(zone), None, dtype=object)] * (width - len(above)))]
    return _terms({"zone": np.repeat(zone, 2), "year": year, "pool": np.tile(["above", "below"], len(zone)),
                   "method": method, "source": np.repeat(source, 2) if not isinstance(source, str) else source,
                   "quantity": np.repeat(quantity, 2)},
                  [np.column_stack([a, b]).ravel() for a, b in zip(padded, below, strict=True)])


def biomass_terms(biomass: pd.DataFrame, *, year: int, zones: NDArray[np.bool_], source: str) -> pd.DataFrame:
    """Above = B x CF, below = B x R x CF for the zones marked, B the zone's above-ground biomass."""
    marked = np.flatnonzero(zones).astype(np.int64)
    n = len(marked)
    return _above_below(marked, biomass["biomass_t"].to_numpy(dtype=float)[marked], year=year,
                        method=METHOD_RASTER, source=source, above=[np.full(n, "biomass:cf", dtype=object)],
                        below=[np.full(n, "biomass:r", dtype=object), np.full(n, "biomass:cf", dtype=object)])


def volume_m3(records: pd.DataFrame, *, forest_ha: NDArray[np.float64]) -> NDArray[np.float64]:
    """Stock volume in m3 of each record: `volume_m3`, or `volume_m3_ha` x the zone's forest area (ha)."""
    if "volume_m3" in records.columns:
        return records["volume_m3"].to_numpy(dtype=float)
    return records["volume_m3_ha"].to_numpy(dtype=float) * forest_ha[records["zone"].to_numpy(dtype=np.int64)]


def volume_terms(records: pd.DataFrame, species: FactorTable, *, year: int,
                 forest_ha: NDArray[np.float64]) -> pd.DataFrame:
    """CCER-14-001-V01 tree carbon: above = V x WD x BEF x CF, below = V x WD x BEF x R x CF."""
    sp = records["species"].astype(str).to_numpy(dtype=object)
    ids = {f: np.array([f"species:{s}:{f}" for s in sp], dtype=object) for f in ("wd", "bef", "cf", "r")}
    base = [ids["wd"], ids["bef"], ids["cf"]]
    return _above_below(records["zone"].to_numpy(dtype=np.int64), volume_m3(records, forest_ha=forest_ha),
                        year=year, method=METHOD_VOLUME,
                        source=species.frame["source"].astype(str).reindex(sp).to_numpy(dtype=object),
                        above=base, below=[*base, ids["r"]])


# ---- evaluation and intervals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluated:
    """Terms with their carbon (t C) and, per (term, factor), the sensitivity d carbon / d factor.

    Factors are numbered by their row in the factor frame (column `factor` of `sensitivity`).
    """

    terms: pd.DataFrame
    sensitivity: pd.DataFrame


def _factor_numbers(terms: pd.DataFrame, factors: pd.DataFrame) -> NDArray[np.int64]:
    """Per term and factor slot, the factor's row in `factors`; -1 for an empty slot."""
    index = pd.Index(factors["id"])
    columns = [c for c in terms.columns if str(c).startswith("factor_")]
    numbers = np.column_stack([index.get_indexer(terms[c]) for c in columns]) if columns else \
        np.zeros((len(terms), 0), dtype=np.int64)
    given = np.column_stack([terms[c].notna().to_numpy() for c in columns]) if columns else numbers.astype(bool)
    if (given & (numbers < 0)).any():
        unknown = sorted({str(v) for c in columns for v in terms[c][terms[c].notna()] if v not in index})
        raise TableError(f"carbon factors missing from the factor tables: {', '.join(unknown[:10])}")
    return numbers.astype(np.int64)


def evaluate(terms: pd.DataFrame, factors: pd.DataFrame) -> Evaluated:
    """Carbon of each term = quantity x product of its factor values; and each factor's sensitivity."""
    terms = terms.reset_index(drop=True)
    numbers = _factor_numbers(terms, factors)
    # an empty slot (-1) picks the trailing 1.0
    values = np.append(factors["value"].to_numpy(dtype=float), 1.0)[numbers]
    quantity = terms["quantity"].to_numpy(dtype=float)
    parts = [pd.DataFrame({"term": np.flatnonzero(numbers[:, k] >= 0), "factor": numbers[numbers[:, k] >= 0, k],
                           "sens": (quantity * np.delete(values, k, axis=1).prod(axis=1))[numbers[:, k] >= 0]})
             for k in range(numbers.shape[1])]
    sensitivity = pd.concat(parts, ignore_index=True) if parts else \
        pd.DataFrame({"term": np.zeros(0, np.int64), "factor": np.zeros(0, np.int64), "sens": np.zeros(0)})
    return Evaluated(terms=terms.assign(carbon_t=quantity * values.prod(axis=1)), sensitivity=sensitivity)


def half_widths(group: NDArray[np.int64], factor: NDArray[np.int64], sens: NDArray[np.float64],
                factors: pd.DataFrame, *, n_groups: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper 90 % half-widths per group (numbered 0..n_groups-1) from the sensitivities of
    (group, factor) items; several items of one group and factor add up first.

    `factor` numbers rows of `factors`. A factor moving toward its high end raises the result where the
    sensitivity is positive and lowers it where negative, so each side picks the matching end of the
    range; sides add in quadrature.
    """
    n_factors = max(len(factors), 1)
    pair, at = pd.factorize(group * n_factors + factor)
    s = np.bincount(pair, weights=sens, minlength=len(at))
    g, f = np.divmod(np.asarray(at, dtype=np.int64), n_factors)
    value = factors["value"].to_numpy(dtype=float)
    up_range = (factors["high"].to_numpy(dtype=float) - value)[f]
    down_range = (value - factors["low"].to_numpy(dtype=float))[f]
    up2 = np.where(s > 0, s * up_range, -s * down_range) ** 2
    down2 = np.where(s > 0, s * down_range, -s * up_range) ** 2
    return (np.sqrt(np.bincount(g, weights=down2, minlength=n_groups)),
            np.sqrt(np.bincount(g, weights=up2, minlength=n_groups)))


def _groups(frame: pd.DataFrame, keys: list[str]) -> tuple[NDArray[np.int64], pd.DataFrame]:
    """Each row's group number under `keys`, and the keys of each group (row g holds group g)."""
    number = frame.groupby(keys, sort=False, observed=True).ngroup().to_numpy(dtype=np.int64)
    first = np.unique(number, return_index=True)[1]
    return number.astype(np.int64), frame[keys].iloc[first].reset_index(drop=True)


def _set_numbers(group: NDArray[np.int64], member: NDArray[np.int64], *, n_groups: int,
                 n_members: int) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The distinct member sets of the groups as packed bit rows, and each group's set number."""
    present = np.zeros((n_groups, max(n_members, 1)), dtype=bool)
    present[group, member] = True
    packed = np.packbits(present, axis=1, bitorder="little")
    if packed.shape[1] <= 8:  # one 64-bit word a set: a plain sort
        words = np.pad(packed, ((0, 0), (0, 8 - packed.shape[1]))).view(np.uint64).ravel()
        unique, number = np.unique(words, return_inverse=True)
        return unique.view(np.uint8).reshape(-1, 8), number.ravel().astype(np.int64)
    unique_rows, number = np.unique(packed, axis=0, return_inverse=True)
    return unique_rows, number.ravel().astype(np.int64)


def _members(packed: NDArray[np.uint8], n_members: int) -> list[int]:
    return np.flatnonzero(np.unpackbits(packed, bitorder="little")[:n_members]).tolist()


def _source_order(held: pd.DataFrame) -> tuple[NDArray[np.int64], pd.Index]:
    """Each term's source as a number, numbered in the order sources are cited (see source_ids)."""
    source, texts = pd.factorize(held["source"])
    factor, ids = pd.factorize(held["factor_0"])
    pairs, first = np.unique(factor.astype(np.int64) * max(len(texts), 1) + source, return_index=True)
    rank = held["method"].iloc[first].map({m: i for i, m in enumerate(METHOD_ORDER)}).to_numpy()
    order = np.lexsort((np.asarray(ids, dtype=object)[pairs // max(len(texts), 1)].astype(str), rank))
    names = pd.Index(pd.unique(np.asarray(texts, dtype=object)[(pairs % max(len(texts), 1))[order]]))
    return names.get_indexer(np.asarray(texts, dtype=object)[source]).astype(np.int64), names


def source_texts(terms: pd.DataFrame, groupings: Mapping[str, list[str]]) -> dict[str, pd.DataFrame]:
    """Per grouping (name -> key columns), the citation text of each group that cites one (keys, `source`).

    A group cites the sources of its terms that hold carbon (zero-stock classes add nothing worth
    citing), joined by '; ' in one fixed order: by method (volume, raster, table), then by the first
    factor's id (the class or species).
    """
    held = terms[(terms["carbon_t"] != 0) & terms["source"].notna() & (terms["source"] != "")]
    member, names = _source_order(held)
    found: dict[str, pd.DataFrame] = {}
    for name, keys in groupings.items():
        group, index = _groups(held, keys)
        masks, number = _set_numbers(group, member, n_groups=len(index), n_members=len(names))
        texts = np.array(["; ".join(names[_members(m, len(names))]) for m in masks], dtype=object)
        # categorical: a citation can run to 800 characters, and a string column would copy it into every row
        found[name] = index.assign(source=pd.Categorical(texts[number]))
    return found


def joined(stocks: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The epochs' zone_carbon rows as one table, `source` kept categorical over every epoch's citations."""
    texts = pd.unique(np.concatenate([s["source"].cat.categories.to_numpy(dtype=object) for s in stocks]))
    return pd.concat([s.assign(source=s["source"].cat.set_categories(texts)) for s in stocks], ignore_index=True)


def cite(stock: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """zone_carbon with `source_id` in place of its (categorical) citation, and carbon_sources (source_id,
    source): each distinct text stored once, numbered from 1 in the order first cited."""
    number, texts = pd.factorize(stock["source"])
    ids = pd.Series(number + 1, index=stock.index).where(number >= 0).astype("Int64")
    table = stock.drop(columns="source").assign(source_id=ids)
    return table, pd.DataFrame({"source_id": np.arange(1, len(texts) + 1), "source": np.asarray(texts, dtype=object)})


def area_variance(group: NDArray[np.int64], klass: NDArray[np.object_], sse: NDArray[np.float64], *,
                  n_groups: int) -> NDArray[np.float64]:
    """The area part of each group's 90 % half-width, squared: Σ over classes of (1.645 × Σ sse)², from the
    area terms' d carbon / d area × SE (`sse`, one row per term or per summed term); classes independent."""
    pair, at = pd.factorize(pd.MultiIndex.from_arrays([group, klass]))
    summed = np.bincount(pair, weights=sse, minlength=len(at))
    owner = np.asarray(at.get_level_values(0), dtype=np.int64)
    return np.bincount(owner, weights=(Z90 * summed) ** 2, minlength=n_groups).astype(np.float64)


def combined(down: NDArray[np.float64], up: NDArray[np.float64], area2: NDArray[np.float64]) -> pd.DataFrame:
    """Factor half-widths widened by the area term, and the shares of the variance of each part."""
    total = (up ** 2 + down ** 2) / 2 + area2
    share = np.divide(area2, total, out=np.zeros(len(total)), where=total > 0)
    return pd.DataFrame({"down": np.sqrt(down ** 2 + area2), "up": np.sqrt(up ** 2 + area2),
                         "var_share_area": share, "var_share_factors": np.where(total > 0, 1 - share, 0.0)})


def _with_widths(ev: Evaluated, factors: pd.DataFrame, keys: list[str], area: pd.DataFrame | None) -> pd.DataFrame:
    """Carbon per group of `keys` with its half-widths `down` and `up` (t C) and variance shares; `area` holds
    the area terms (`term`, `class`, `sse`) of an accuracy assessment, or None."""
    group, groups = _groups(ev.terms, keys)
    term = ev.sensitivity["term"].to_numpy(dtype=np.int64)
    down, up = half_widths(group[term], ev.sensitivity["factor"].to_numpy(dtype=np.int64),
                           ev.sensitivity["sens"].to_numpy(dtype=float), factors, n_groups=len(groups))
    area2 = np.zeros(len(groups)) if area is None or area.empty else area_variance(
        group[area["term"].to_numpy(dtype=np.int64)], area["class"].to_numpy(dtype=object),
        area["sse"].to_numpy(dtype=float), n_groups=len(groups))
    carbon = np.bincount(group, weights=ev.terms["carbon_t"].to_numpy(dtype=float), minlength=len(groups))
    return pd.concat([groups.assign(carbon_t=carbon), combined(down, up, area2)], axis=1)


def stock_table(ev: Evaluated, factors: pd.DataFrame, *, zone_ids: NDArray[np.object_],
                area: pd.DataFrame | None = None) -> pd.DataFrame:
    """zone_carbon rows (per zone, year, pool and method, then a `total` row per zone and year), each with
    the text of its sources (see `cite`).

    A pool row holding no carbon and no uncertainty (such as dead wood at 0 t/ha) is left out.
    """
    terms = ev.terms
    keys = ["zone", "year", "pool", "method"]
    per_pool = _with_widths(ev, factors, keys, area)
    per_pool = per_pool[(per_pool["carbon_t"] != 0) | (per_pool["up"] != 0) | (per_pool["down"] != 0)]
    total = _with_widths(ev, factors, ["zone", "year"], area).merge(method_sets(terms), on=["zone", "year"])
    texts = source_texts(terms, {"pool": keys, "total": ["zone", "year"]})
    per_pool = per_pool.merge(texts["pool"], on=keys, how="left")
    total = total.merge(texts["total"], on=["zone", "year"], how="left")
    both = pd.concat([per_pool, total.assign(pool="total")], ignore_index=True)
    order = {p: i for i, p in enumerate([*POOL_NAMES.values(), "total"])}
    both = both.assign(_pool=both["pool"].map(order)).sort_values(["zone", "year", "_pool"], kind="stable")
    co2e = both["carbon_t"] * CO2_PER_C
    # First-order bounds can dip below zero for very wide ranges; a stock cannot.
    return pd.DataFrame({
        "zone_id": zone_ids[both["zone"].to_numpy(dtype=np.int64)].astype(str), "year": both["year"].to_numpy(),
        "pool": both["pool"].to_numpy(), "carbon_t": both["carbon_t"].to_numpy(), "co2e_t": co2e.to_numpy(),
        "co2e_low_t": np.maximum((co2e - both["down"] * CO2_PER_C).to_numpy(), 0.0),
        "co2e_high_t": (co2e + both["up"] * CO2_PER_C).to_numpy(),
        "method": both["method"].to_numpy(), "source": pd.Categorical(both["source"]),
        "var_share_area": both["var_share_area"].to_numpy(), "var_share_factors": both["var_share_factors"].to_numpy(),
    })


def method_sets(terms: pd.DataFrame) -> pd.DataFrame:
    """Per zone and year, its methods joined by '; ' (volume, raster, table: the order terms are made in)."""
    group, index = _groups(terms, ["zone", "year"])
    rank = terms["method"].map({m: i for i, m in enumerate(METHOD_ORDER)}).to_numpy(dtype=np.int64)
    masks, number = _set_numbers(group, rank.astype(np.int64), n_groups=len(index), n_members=len(METHOD_ORDER))
    names = np.array(["; ".join(METHOD_ORDER[i] for i in _members(m, len(METHOD_ORDER))) for m in masks], dtype=object)
    return index.assign(method=names[number])


@dataclass(frozen=True)
class ZoneCarbon:
    """One epoch's carbon per zone (t C) and its sensitivities summed per zone and factor: what a change
    between epochs needs, kept once the epoch's terms are gone."""

    carbon: NDArray[np.float64]
    sensitivity: pd.DataFrame
    area: pd.DataFrame  # area terms summed per zone and class: zone, class, sse


def zone_carbon(ev: Evaluated, *, n_zones: int, area: pd.DataFrame | None = None) -> ZoneCarbon:
    zone = ev.terms["zone"].to_numpy(dtype=np.int64)
    sens = ev.sensitivity.assign(zone=zone[ev.sensitivity["term"].to_numpy(dtype=np.int64)])
    areas = pd.DataFrame({"zone": np.zeros(0, np.int64), "class": np.zeros(0, object), "sse": np.zeros(0)})
    if area is not None and not area.empty:
        areas = area.groupby(["zone", "class"])["sse"].sum().reset_index()
    return ZoneCarbon(carbon=np.bincount(zone, weights=ev.terms["carbon_t"].to_numpy(dtype=float),
                                         minlength=n_zones).astype(np.float64),
                      sensitivity=sens.groupby(["zone", "factor"])["sens"].sum().reset_index(), area=areas)


def change_table(epochs: Mapping[int, ZoneCarbon], factors: pd.DataFrame, *, zone_ids: NDArray[np.object_],
                 pairs: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """zone_change rows: stock difference and yearly rate (t CO2e) per zone and epoch pair, with interval.

    A factor's sensitivity in the later epoch minus that in the earlier one is what the change carries.
    """
    n = len(zone_ids)
    frames = []
    for y1, y2 in pairs:
        diff = pd.concat([epochs[y2].sensitivity, epochs[y1].sensitivity.assign(sens=-epochs[y1].sensitivity["sens"])])
        down, up = half_widths(diff["zone"].to_numpy(dtype=np.int64), diff["factor"].to_numpy(dtype=np.int64),
                               diff["sens"].to_numpy(dtype=float), factors, n_groups=n)
        # each year's area terms are independent of the other's: both add to the change's variance
        area2 = sum((area_variance(e.area["zone"].to_numpy(dtype=np.int64), e.area["class"].to_numpy(dtype=object),
                                   e.area["sse"].to_numpy(dtype=float), n_groups=n)
                     for e in (epochs[y1], epochs[y2]) if len(e.area)), np.zeros(n))
        width = combined(down, up, area2)
        change = (epochs[y2].carbon - epochs[y1].carbon) * CO2_PER_C
        down, up = width["down"].to_numpy() * CO2_PER_C, width["up"].to_numpy() * CO2_PER_C
        years = y2 - y1
        frames.append(pd.DataFrame({
            "zone_id": zone_ids.astype(str), "year_from": y1, "year_to": y2,
            "co2e_change_t": change, "co2e_change_low_t": change - down, "co2e_change_high_t": change + up,
            "co2e_per_year_t": change / years, "co2e_per_year_low_t": (change - down) / years,
            "co2e_per_year_high_t": (change + up) / years,
            "var_share_area": width["var_share_area"].to_numpy(),
            "var_share_factors": width["var_share_factors"].to_numpy(),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
