"""Carbon intervals with the area uncertainty of an accuracy assessment: IPCC approach 1 or approach 2.

The map area of class c in a zone is the quantity of every pools-table term of that class; the assessment gives
that area a standard error (zone_accuracy_area `se_ha`). A term's sensitivity to its class area is its carbon
over the class's map area, so the area part of a group's variance is Σ_c (Σ_terms∈c carbon_t / A_c × SE_c)² with
classes and years taken as independent (this ignores the negative covariance of adjusted areas that share a zone's
total, so it errs on the wide side). Biomass-raster and stock-volume terms do not use the map's class areas and
carry no area term. Factor ranges are 90 % bounds, so an area SE enters as 1.645 SE; sides add in quadrature.

Approach 2 draws every factor from a split normal (its value, with the low side's and the high side's 90 % bound
each at 1.645 SD) and every (zone, year, class) area from a normal with the assessment's SE, the same factor draw
in every zone and year (as in approach 1), and reads the 5th and 95th percentiles; zones are done in batches, each
one array operation over terms and draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.classmaps import ClassMap
from pipeline.core.config import Uncertainty
from pipeline.metrics.carbon_terms import CO2_PER_C, METHOD_TABLE, Z90, Evaluated

_BATCH_CELLS = 4_000_000  # terms × draws held at once in approach 2


def term_area_se(ev: Evaluated, area_se: pd.DataFrame | None, *, class_map: ClassMap,
                 zone_ids: NDArray[np.object_]) -> pd.DataFrame:
    """Per pools-table term of an assessed year: its class and d carbon / d area × SE (t C, one SE).

    Approach 1 adds these up per group and class (pipeline.metrics.carbon_terms.area_variance).
    """
    columns = ["term", "zone", "year", "pool", "method", "class", "sse"]
    if area_se is None or area_se.empty:
        return pd.DataFrame(columns=columns)
    terms = ev.terms[ev.terms["method"] == METHOD_TABLE]
    key = terms["factor_0"].astype(str).str.split(":").str[1]
    by_code = {str(code): name for code, name in class_map.code_to_class().items()}
    classes = key.map(lambda k: k if k in class_map.classes else by_code.get(k))
    frame = pd.DataFrame({"term": terms.index, "zone_id": zone_ids[terms["zone"].to_numpy(dtype=np.int64)].astype(str),
                          "zone": terms["zone"].to_numpy(), "year": terms["year"].to_numpy(),
                          "pool": terms["pool"].to_numpy(), "method": terms["method"].to_numpy(),
                          "class": classes.to_numpy(), "carbon_t": terms["carbon_t"].to_numpy()})
    frame = frame.merge(area_se[["zone_id", "year", "class", "map_area_ha", "se_ha"]],
                        on=["zone_id", "year", "class"], how="inner")
    per_ha = np.divide(frame["carbon_t"], frame["map_area_ha"], out=np.zeros(len(frame)),
                       where=frame["map_area_ha"].to_numpy() > 0)
    return frame.assign(sse=per_ha * frame["se_ha"].fillna(0.0).to_numpy())[columns]


# ---- approach 2 ----------------------------------------------------------------------------------


def factor_draws(factors: pd.DataFrame, *, draws: int, rng: np.random.Generator) -> Mapping[str, NDArray]:
    """One split-normal draw vector per factor id: value + z × (high - value or value - low) / 1.645."""
    z = rng.standard_normal((len(factors), draws))
    value = factors["value"].to_numpy(dtype=float)[:, None]
    up = (factors["high"].to_numpy(dtype=float)[:, None] - value) / Z90
    down = (value - factors["low"].to_numpy(dtype=float)[:, None]) / Z90
    drawn = value + np.where(z > 0, z * up, z * down)
    return dict(zip(factors["id"], drawn, strict=True))


def term_draws(ev: Evaluated, rows: NDArray[np.int64], factors: Mapping[str, NDArray], area: pd.DataFrame,
               rng: np.random.Generator, draws: int) -> NDArray[np.float64]:
    """Carbon of the given terms, one column per draw: quantity × area ratio × product of the drawn factors."""
    terms = ev.terms.iloc[rows]
    out = np.repeat(terms["quantity"].to_numpy(dtype=float)[:, None], draws, axis=1)
    names = pd.Index(list(factors))
    table = np.vstack([*(factors[f] for f in names), np.ones(draws)])  # an empty slot (-1) draws 1.0
    for column in (c for c in terms.columns if str(c).startswith("factor_")):
        out *= table[names.get_indexer(pd.Index(terms[column]))]
    mine = area[area["term"].isin(terms.index)]
    if len(mine):  # one area draw per (zone, year, class), shared by that class's terms (pools)
        ratio = rng.standard_normal((mine.groupby(["zone", "year", "class"]).ngroups, draws))
        group = mine.groupby(["zone", "year", "class"]).ngroup().to_numpy()
        at = pd.Index(terms.index).get_indexer(mine["term"])
        carbon = terms["carbon_t"].to_numpy(dtype=float)[at]
        relative = np.divide(mine["sse"].to_numpy(), carbon, out=np.zeros(len(mine)), where=carbon != 0)
        out[at] *= 1 + relative[:, None] * ratio[group]
    return out


def _percentiles(draws: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    low, high = np.percentile(draws.to_numpy(), [5, 95], axis=1)
    return draws.index.to_frame(index=False).set_axis(by, axis=1).assign(low=low, high=high)


def _batch_bounds(ev: Evaluated, rows: NDArray[np.int64], drawn: Mapping[str, NDArray], area: pd.DataFrame,
                  rng: np.random.Generator, draws: int, pairs: Sequence[tuple[int, int]]) -> list[pd.DataFrame]:
    """Per pool, per zone and year, and per change of one batch of zones: 5th and 95th percentiles (t C)."""
    carbon = pd.DataFrame(term_draws(ev, rows, drawn, area, rng, draws))
    keys = ev.terms.iloc[rows]
    pool_by, total_by = ["zone", "year", "pool", "method"], ["zone", "year"]
    pools = carbon.groupby([keys[k].to_numpy() for k in pool_by]).sum()
    totals = carbon.groupby([keys[k].to_numpy() for k in total_by]).sum()
    changes = []
    for y1, y2 in pairs:
        diff = _at(totals, y2).sub(_at(totals, y1), fill_value=0.0)
        changes.append(_percentiles(diff, ["zone"]).assign(year_from=y1, year_to=y2))
    return [_percentiles(pools, pool_by), _percentiles(totals, total_by).assign(pool="total"),
            pd.concat(changes, ignore_index=True) if changes else pd.DataFrame()]


def _at(totals: pd.DataFrame, year: int) -> pd.DataFrame:
    years = totals.index.get_level_values(1)
    return totals[years == year].droplevel(1) if (years == year).any() else totals.iloc[:0].droplevel(1)


def monte_carlo_bounds(ev: Evaluated, factors: pd.DataFrame, area: pd.DataFrame, settings: Uncertainty, *,
                       pairs: Sequence[tuple[int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Approach 2: 5th/95th percentiles (t CO2e) of every zone_carbon row (zone, year, pool) and of every change
    (zone, year_from, year_to); zones in batches of about `_BATCH_CELLS` term draws."""
    rng = np.random.default_rng(settings.seed)
    drawn = factor_draws(factors, draws=settings.iterations, rng=rng)
    zones = np.unique(ev.terms["zone"].to_numpy())
    per_zone = max(1, len(ev.terms) // max(len(zones), 1))
    batch = max(1, _BATCH_CELLS // (settings.iterations * per_zone))
    parts = [_batch_bounds(ev, np.flatnonzero(ev.terms["zone"].isin(zones[s:s + batch]).to_numpy()), drawn, area,
                           rng, settings.iterations, pairs) for s in range(0, len(zones), batch)]
    stock = pd.concat([p for part in parts for p in part[:2]], ignore_index=True)
    change = pd.concat([part[2] for part in parts], ignore_index=True)
    for frame in (stock, change):
        if len(frame):
            frame[["low", "high"]] *= CO2_PER_C
    return stock, change


def with_bounds(stock: pd.DataFrame, change: pd.DataFrame, bounds: tuple[pd.DataFrame, pd.DataFrame], *,
                zone_ids: NDArray[np.object_]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """zone_carbon and zone_change with their low/high replaced by the Monte Carlo percentiles."""
    pools, changes = (b.assign(zone_id=zone_ids[b["zone"].to_numpy(dtype=np.int64)].astype(str)) if len(b) else b
                      for b in bounds)
    total = (stock["pool"] == "total").to_numpy()
    bounds_of = []
    for keys, rows, is_total in ((["zone_id", "year", "pool", "method"], ~total, False),
                                 (["zone_id", "year"], total, True)):
        mine = pools[(pools["pool"] == "total") == is_total]
        found = mine.set_index(keys)[["low", "high"]].reindex(pd.MultiIndex.from_frame(stock.loc[rows, keys]))
        bounds_of.append(pd.DataFrame(found.to_numpy(), index=stock.index[rows], columns=["low", "high"]))
    both = pd.concat(bounds_of).reindex(stock.index)
    stock = stock.assign(co2e_low_t=np.maximum(both["low"].to_numpy(), 0.0), co2e_high_t=both["high"].to_numpy())
    if len(change):
        ckeys = ["zone_id", "year_from", "year_to"]
        ci = changes.set_index(ckeys).reindex(pd.MultiIndex.from_frame(change[ckeys]))
        years = (change["year_to"] - change["year_from"]).to_numpy()
        change = change.assign(co2e_change_low_t=ci["low"].to_numpy(), co2e_change_high_t=ci["high"].to_numpy(),
                               co2e_per_year_low_t=ci["low"].to_numpy() / years,
                               co2e_per_year_high_t=ci["high"].to_numpy() / years)
    return stock, change
