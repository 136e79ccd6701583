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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.classmaps import ClassMap
from pipeline.errors import TableError
from pipeline.inputs.carbon import POOLS, FactorTable
from pipeline.kernels.zonal import NODATA_CODE, ZoneSums, ZoneValueTotals
from pipeline.units import M2_PER_HA

CO2_PER_C = 44.0 / 12.0
LIVE_POOLS = ("c_above", "c_below")
POOL_NAMES = {"c_above": "above", "c_below": "below", "c_soil": "soil", "c_dead": "dead"}
METHOD_TABLE, METHOD_RASTER, METHOD_VOLUME = "pools_table", "biomass_raster", "stock_volume"
_TERM_COLUMNS = ["zone", "year", "pool", "method", "source", "quantity", "factors"]


# ---- areas ---------------------------------------------------------------------------------------


def class_key(table: FactorTable, class_map: ClassMap, name: str) -> str:
    """A class's row in a pools table keyed by class: its own name if listed, else its role (so the
    built-in tables, written per role, serve a map whose classes carry the bureau's own names)."""
    return name if name in table.frame.index else class_map.role(name)


def key_of_codes(table: FactorTable, class_map: ClassMap, codes: NDArray[np.int64]) -> NDArray[np.object_]:
    """The pools-table key of each raster code: its class (or role) row, or the code itself for a lucode table.

    Nodata codes get None: their carbon is unknown, and the class-area table reports them as nodata.
    """
    lookup: Mapping[int, str] = {code: class_key(table, class_map, name)
                                 for code, name in class_map.code_to_class().items()}
    nodata = {*class_map.nodata_codes, NODATA_CODE}
    if table.key == "lucode":
        return np.array([None if int(c) in nodata else str(int(c)) for c in codes], dtype=object)
    return np.array([None if int(c) in nodata else lookup.get(int(c)) for c in codes], dtype=object)


def key_areas_ha(totals: ZoneValueTotals, keys: NDArray[np.object_], *, n_zones: int,
                 unit_m2: float) -> pd.DataFrame:
    """Area in ha per (zone number, key) as a zones x keys frame; keys given per totals row."""
    valid = np.array([k is not None for k in keys], dtype=bool)
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


def _terms(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_TERM_COLUMNS)


def pool_terms(areas: pd.DataFrame, table: FactorTable, *, year: int, live_zones: NDArray[np.bool_],
               replaced: Mapping[int, set[str]]) -> pd.DataFrame:
    """Area x pool density for every zone, key and pool.

    `live_zones` marks zones whose live biomass comes from the table; `replaced` lists, per zone,
    the keys whose live biomass another method supplies (the forest class of a volume zone).
    """
    rows: list[dict[str, object]] = []
    zone_numbers: list[int] = areas.index.astype(int).tolist()
    for zone, (_, row) in zip(zone_numbers, areas.iterrows(), strict=True):
        for key, area in row[row > 0].items():
            source = str(table.frame.at[key, "source"])
            for pool in POOLS:
                live = pool in LIVE_POOLS
                if live and (not live_zones[zone] or key in replaced.get(zone, set())):
                    continue
                rows.append({"zone": zone, "year": year, "pool": POOL_NAMES[pool], "method": METHOD_TABLE,
                             "source": source, "quantity": float(area), "factors": (f"pools:{key}:{pool}",)})
    return _terms(rows)


def biomass_sums(sums: ZoneSums, *, n_zones: int, unit_m2: float) -> pd.DataFrame:
    """Biomass (t d.m.) and covered area (ha) per zone number from the zone sums of a t d.m./ha raster."""
    biomass = np.zeros(n_zones)
    covered = np.zeros(n_zones)
    biomass[sums.zone] = sums.total * unit_m2 / M2_PER_HA
    covered[sums.zone] = sums.units * unit_m2 / M2_PER_HA
    return pd.DataFrame({"biomass_t": biomass, "covered_ha": covered})


def biomass_terms(biomass: pd.DataFrame, *, year: int, zones: NDArray[np.bool_], source: str) -> pd.DataFrame:
    """Above = B x CF, below = B x R x CF for the zones marked, B the zone's above-ground biomass."""
    rows: list[dict[str, object]] = []
    biomass_t = biomass["biomass_t"].to_numpy(dtype=float)
    for zone in np.flatnonzero(zones):
        b = float(biomass_t[zone])
        rows.append({"zone": int(zone), "year": year, "pool": "above", "method": METHOD_RASTER, "source": source,
                     "quantity": b, "factors": ("biomass:cf",)})
        rows.append({"zone": int(zone), "year": year, "pool": "below", "method": METHOD_RASTER, "source": source,
                     "quantity": b, "factors": ("biomass:r", "biomass:cf")})
    return _terms(rows)


def volume_m3(records: pd.DataFrame, *, forest_ha: NDArray[np.float64]) -> NDArray[np.float64]:
    """Stock volume in m3 of each record: `volume_m3`, or `volume_m3_ha` x the zone's forest area (ha)."""
    if "volume_m3" in records.columns:
        return records["volume_m3"].to_numpy(dtype=float)
    return records["volume_m3_ha"].to_numpy(dtype=float) * forest_ha[records["zone"].to_numpy(dtype=np.int64)]


def volume_terms(records: pd.DataFrame, species: FactorTable, *, year: int,
                 forest_ha: NDArray[np.float64]) -> pd.DataFrame:
    """CCER-14-001-V01 tree carbon: above = V x WD x BEF x CF, below = V x WD x BEF x R x CF."""
    volumes = volume_m3(records, forest_ha=forest_ha)
    rows: list[dict[str, object]] = []
    for (_, rec), v in zip(records.iterrows(), volumes, strict=True):
        sp = str(rec["species"])
        source = str(species.frame.at[sp, "source"])
        base = (f"species:{sp}:wd", f"species:{sp}:bef", f"species:{sp}:cf")
        rows.append({"zone": int(rec["zone"]), "year": year, "pool": "above", "method": METHOD_VOLUME,
                     "source": source, "quantity": float(v), "factors": base})
        rows.append({"zone": int(rec["zone"]), "year": year, "pool": "below", "method": METHOD_VOLUME,
                     "source": source, "quantity": float(v), "factors": (*base, f"species:{sp}:r")})
    return _terms(rows)


# ---- evaluation and intervals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluated:
    """Terms with their carbon (t C) and, per (term, factor), the sensitivity d carbon / d factor."""

    terms: pd.DataFrame
    sensitivity: pd.DataFrame


def evaluate(terms: pd.DataFrame, factors: pd.DataFrame) -> Evaluated:
    """Carbon of each term = quantity x product of its factor values; and each factor's sensitivity."""
    terms = terms.reset_index(drop=True)
    width = max((len(f) for f in terms["factors"]), default=0)
    ids = np.array([list(f) + [""] * (width - len(f)) for f in terms["factors"]], dtype=object).reshape(-1, width)
    lookup = factors.set_index("id")["value"].to_dict()
    values = np.array([[lookup[i] if i else 1.0 for i in row] for row in ids], dtype=float).reshape(-1, width)
    quantity = terms["quantity"].to_numpy(dtype=float)
    carbon = quantity * values.prod(axis=1)
    parts = [pd.DataFrame({"term": np.arange(len(terms)), "factor": ids[:, k],
                           "sens": quantity * np.delete(values, k, axis=1).prod(axis=1)})
             for k in range(width)]
    sensitivity = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["term", "factor", "sens"])
    sensitivity = sensitivity[sensitivity["factor"] != ""]
    return Evaluated(terms=terms.assign(carbon_t=carbon), sensitivity=sensitivity)


def half_widths(sens: pd.DataFrame, factors: pd.DataFrame, *, by: list[str]) -> pd.DataFrame:
    """Lower and upper 90 % half-widths per group from summed sensitivities (column `sens`) per factor.

    A factor moving toward its high end raises the result where the sensitivity is positive and lowers
    it where negative, so each side picks the matching end of the range; sides add in quadrature.
    """
    f = factors.set_index("id")
    summed = sens.groupby([*by, "factor"], as_index=False)["sens"].sum()
    up_range = summed["factor"].map(f["high"] - f["value"]).to_numpy()
    down_range = summed["factor"].map(f["value"] - f["low"]).to_numpy()
    s = summed["sens"].to_numpy()
    summed["up2"] = np.where(s > 0, s * up_range, -s * down_range) ** 2
    summed["down2"] = np.where(s > 0, s * down_range, -s * up_range) ** 2
    out = summed.groupby(by, as_index=False)[["up2", "down2"]].sum()
    return out.assign(up=np.sqrt(out.pop("up2")), down=np.sqrt(out.pop("down2")))


Widths = Callable[[pd.DataFrame, list[str], tuple[int, ...] | None], pd.DataFrame]
"""(summed sensitivities, group keys, the years of a change or None) -> up, down, var_share_area, var_share_factors
per group; `factor_widths` when there is no area term."""


def factor_widths(factors: pd.DataFrame) -> Widths:
    """Half-widths from the factors alone: all of the variance is the factors'."""
    def widths(sens: pd.DataFrame, by: list[str], years: tuple[int, ...] | None) -> pd.DataFrame:
        out = half_widths(sens, factors, by=by)
        return out.assign(var_share_area=0.0, var_share_factors=np.where((out["up"] + out["down"]) > 0, 1.0, 0.0))
    return widths


def _joined(values: pd.Series) -> str:
    return "; ".join(dict.fromkeys(str(v) for v in values if str(v)))


def _sources(terms: pd.DataFrame, keys: list[str]) -> pd.Series:
    """The sources of the terms that hold carbon (zero-stock classes add nothing worth citing)."""
    held = terms[terms["carbon_t"] != 0]
    return held.groupby(keys)["source"].agg(_joined)


def stock_table(ev: Evaluated, widths: Widths, *, zone_ids: NDArray[np.object_]) -> pd.DataFrame:
    """zone_carbon rows: per zone, year, pool and method, then a `total` row per zone and year."""
    terms = ev.terms
    sens = ev.sensitivity.merge(terms[["zone", "year", "pool", "method"]], left_on="term", right_index=True)
    keys = ["zone", "year", "pool", "method"]
    per_pool = terms.groupby(keys, as_index=False).agg(carbon_t=("carbon_t", "sum"))
    per_pool = per_pool.merge(_sources(terms, keys).reset_index(), on=keys, how="left")
    per_pool = per_pool.merge(widths(sens, keys, None), on=keys, how="left")
    total = terms.groupby(["zone", "year"], as_index=False).agg(carbon_t=("carbon_t", "sum"),
                                                                method=("method", _joined))
    total = total.merge(_sources(terms, ["zone", "year"]).reset_index(), on=["zone", "year"], how="left")
    total = total.merge(widths(sens, ["zone", "year"], None), on=["zone", "year"], how="left")
    both = pd.concat([per_pool, total.assign(pool="total")], ignore_index=True).fillna(
        {"up": 0.0, "down": 0.0, "source": "", "var_share_area": 0.0, "var_share_factors": 0.0})
    order = {p: i for i, p in enumerate([*POOL_NAMES.values(), "total"])}
    both = both.sort_values(["zone", "year", "pool"], key=lambda c: c.map(order) if c.name == "pool" else c)
    co2e = both["carbon_t"] * CO2_PER_C
    # First-order bounds can dip below zero for very wide ranges; a stock cannot.
    return pd.DataFrame({
        "zone_id": zone_ids[both["zone"].to_numpy(dtype=np.int64)].astype(str), "year": both["year"].to_numpy(),
        "pool": both["pool"].to_numpy(), "carbon_t": both["carbon_t"].to_numpy(), "co2e_t": co2e.to_numpy(),
        "co2e_low_t": np.maximum((co2e - both["down"] * CO2_PER_C).to_numpy(), 0.0),
        "co2e_high_t": (co2e + both["up"] * CO2_PER_C).to_numpy(),
        "method": both["method"].to_numpy(), "source": both["source"].to_numpy(),
        "var_share_area": both["var_share_area"].to_numpy(), "var_share_factors": both["var_share_factors"].to_numpy(),
    })


def change_table(ev: Evaluated, widths: Widths, *, zone_ids: NDArray[np.object_],
                 pairs: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """zone_change rows: stock difference and yearly rate (t CO2e) per zone and epoch pair, with interval."""
    carbon = ev.terms.groupby(["zone", "year"])["carbon_t"].sum()
    merged = ev.sensitivity.merge(ev.terms[["zone", "year"]], left_on="term", right_index=True)
    sens = merged.groupby(["zone", "year", "factor"])["sens"].sum()
    frames = []
    for y1, y2 in pairs:
        diff = _at_year(sens, y2).sub(_at_year(sens, y1), fill_value=0.0).rename("sens").reset_index()
        width = widths(diff, ["zone"], (y1, y2)).set_index("zone")
        stock = _at_year(carbon, y2).sub(_at_year(carbon, y1), fill_value=0.0).reindex(range(len(zone_ids)),
                                                                                     fill_value=0.0)
        width = width.reindex(stock.index, fill_value=0.0)
        change = stock.to_numpy() * CO2_PER_C
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


def _at_year(series: pd.Series, year: int) -> pd.Series:
    if year not in series.index.get_level_values("year"):
        return series.iloc[:0].droplevel("year")
    return series.xs(year, level="year")
