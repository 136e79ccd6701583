"""What the `sinkzone history` commands ask of a store: runs, one run, coverage, the difference of two runs, review
states and the served series. Each answer is a plain table; the command line formats it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from pipeline.core.errors import StoreError
from pipeline.record.backend import Store, utc_now
from pipeline.record.current import write_current_zones
from pipeline.record.schema import FIGURES, served_first

_ORDER = {"accepted": 0, "draft": 1, "superseded": 2}


def runs(store: Store) -> pd.DataFrame:
    """Every stored run, newest first, with its epochs and review state."""
    found = store.query("SELECT r.run_id, r.name, r.finished_utc, r.review, r.reviewed_by, r.reviewed_utc, "
                        "r.code_version, r.zone_set, r.notes FROM runs r ORDER BY r.finished_utc DESC, r.run_id")
    epochs = store.query("SELECT run_id, year FROM run_epochs ORDER BY year")
    years = epochs.groupby("run_id")["year"].apply(lambda y: ",".join(map(str, y)))
    listed = found.assign(years=found["run_id"].map(years))
    return listed.astype(object).where(listed.notna(), None)


def run_id(store: Store, given: str) -> str:
    """The stored run a full id or a unique prefix of one names."""
    found = store.query("SELECT run_id FROM runs WHERE run_id LIKE ?", (given.replace("%", "") + "%",))["run_id"]
    if len(found) != 1:
        shown = "no stored run" if found.empty else f"{len(found)} stored runs"
        raise StoreError(f"{store.target}: {shown} with the id {given!r}; `sinkzone history runs` lists them")
    return str(found.iloc[0])


def show(store: Store, given: str) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """One run: its record, its epochs, and how many rows of each figure table it holds."""
    rid = run_id(store, given)
    record = store.query("SELECT * FROM runs WHERE run_id = ?", (rid,)).iloc[0]
    epochs = store.query("SELECT year, product, product_version, path, sha256 FROM run_epochs WHERE run_id = ? "
                         "ORDER BY year", (rid,))
    counts = pd.DataFrame({"table": [f.name for f in FIGURES], "rows": [
        int(store.query(f"SELECT COUNT(*) AS n FROM {f.name} WHERE run_id = ?", (rid,))["n"].iloc[0])
        for f in FIGURES]})
    return record, epochs, counts


def coverage(store: Store) -> pd.DataFrame:
    """Zones x years: 'accepted' when an accepted run measured the zone that year, else 'draft', else 'missing'."""
    measured = store.query("SELECT r.zone_set, c.zone_id, c.year, r.review FROM class_area c JOIN runs r ON "
                           "r.run_id = c.run_id WHERE c.zone_id IS NOT NULL GROUP BY r.zone_set, c.zone_id, c.year, "
                           "r.review")
    zones = store.query("SELECT DISTINCT zone_set, zone_id FROM zone_versions ORDER BY zone_set, zone_id")
    years = sorted(int(y) for y in store.query("SELECT DISTINCT year FROM run_epochs")["year"])
    best = (measured.assign(rank=measured["review"].map(_ORDER)).query("rank < 2")
            .groupby(["zone_set", "zone_id", "year"])["rank"].min())
    table = zones.copy()
    for year in years:
        ranks = [best.get((s, z, year)) for s, z in zip(zones["zone_set"], zones["zone_id"], strict=True)]
        table[str(year)] = ["missing" if r is None else ("accepted" if r == 0 else "draft") for r in ranks]
    return table


@dataclass(frozen=True)
class Diff:
    figures: pd.DataFrame  # zone, year, metric, value in each run, change; largest change first
    inputs: pd.DataFrame  # the epochs whose file, product or version differ


def diff(store: Store, first: str, second: str) -> Diff:
    a, b = run_id(store, first), run_id(store, second)
    query = "SELECT zone_id, year, metric, unit, value FROM zone_figures WHERE run_id = ?"
    left, right = store.query(query, (a,)), store.query(query, (b,))
    joined = left.merge(right, on=["zone_id", "year", "metric", "unit"], how="outer", suffixes=("_a", "_b"))
    joined = joined.assign(change=joined["value_b"] - joined["value_a"])
    order = joined["change"].abs().fillna(float("inf")).sort_values(ascending=False, kind="stable").index
    epochs = "SELECT year, product, product_version, sha256 FROM run_epochs WHERE run_id = ?"
    inputs = store.query(epochs, (a,)).merge(store.query(epochs, (b,)), on="year", how="outer", suffixes=("_a", "_b"))
    differ = pd.Series(False, index=inputs.index)
    for column in ("product", "product_version", "sha256"):
        differ |= inputs[f"{column}_a"].astype(str) != inputs[f"{column}_b"].astype(str)
    return Diff(figures=joined.loc[order].reset_index(drop=True), inputs=inputs[differ].reset_index(drop=True))


def review(store: Store, given: str, *, state: str, by: str, note: str | None = None) -> str:
    """Mark a run accepted or superseded, with who and when; figures are never changed."""
    rid = run_id(store, given)
    with store.writing():
        store.execute("UPDATE runs SET review = ?, reviewed_by = ?, reviewed_utc = ?, notes = COALESCE(?, notes) "
                      "WHERE run_id = ?", (state, by, utc_now(), note, rid))
        zone_set = str(store.query("SELECT zone_set FROM runs WHERE run_id = ?", (rid,))["zone_set"].iloc[0])
        write_current_zones(store, zone_set=zone_set)
    return rid


def series(store: Store, *, zone: str | None = None, years: tuple[int, int] | None = None) -> pd.DataFrame:
    """zone_series, for one zone and a span of years when given."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if zone is not None:
        where.append("zone_id = ?")
        params.append(zone)
    if years is not None:
        where.append("year BETWEEN ? AND ?")
        params += list(years)
    return store.query(f"SELECT * FROM zone_series WHERE {' AND '.join(where)} ORDER BY zone_set, zone_id, metric, "
                       "year", params)


def zone_shapes(store: Store, *, zone: str | None = None) -> gpd.GeoDataFrame:
    """Each zone's latest version with its geometry (WGS 84), as current_zones holds it."""
    wkb = store.wkb_sql.format("geom")
    found = store.query(f"SELECT zone_set, zone_id, zone_version, area_ha, {wkb} AS wkb FROM current_zones"
                        + (" WHERE zone_id = ?" if zone is not None else ""), (zone,) if zone is not None else ())
    geoms = shapely.from_wkb([bytes(w) for w in found["wkb"]])
    return gpd.GeoDataFrame(found.drop(columns="wkb"), geometry=geoms, crs="EPSG:4326")


def served_class_areas(store: Store, classes: tuple[str, ...]) -> pd.DataFrame:
    """zone_series' `<class>_ha` rows for these classes, every zone and year: zone_id, metric, year, value, unit,
    run_id. Read from class_area alone, ranked as zone_series ranks, because the view works out every metric of every
    run before a filter on the metric applies (minutes at 40,000 zones x 20 epochs)."""
    marks = ", ".join("?" for _ in classes)
    ranked = ("SELECT c.zone_id, c.class || '_ha' AS metric, c.year, c.area_ha AS value, 'ha' AS unit, c.run_id, "
              f"ROW_NUMBER() OVER (PARTITION BY r.zone_set, c.zone_id, c.year, c.class ORDER BY {served_first('r')}) "
              "AS pick FROM class_area c JOIN runs r ON r.run_id = c.run_id WHERE r.review <> 'superseded' AND "
              f"c.zone_id IS NOT NULL AND c.area_ha IS NOT NULL AND c.class IN ({marks})")
    return store.query(f"SELECT zone_id, metric, year, value, unit, run_id FROM ({ranked}) t WHERE pick = 1 "
                       "ORDER BY zone_id, metric, year", classes)
