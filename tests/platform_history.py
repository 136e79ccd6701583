"""A small history store for the platform's tests: the store's own schema (tables and views made by its
migrations), filled with figures chosen by hand so that every expected value below is known without the code
under test, and with zone names no run of the demos has (a hostile one, quotes, ampersands).

Two runs over three zones near Baotou:
- run A (finished 2025-03-01, accepted): 2020 and 2023;
- run B (finished 2026-03-01, draft): 2023 again, reprocessed, with other figures.
zone_series serves the accepted run's figure, else the newest draft's; superseded runs serve nothing. So before any
review Z1's 2023 forest is run A's 120.5 ha; once B is accepted it is B's 125.25 ha (newer accepted run first).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, box

from pipeline.record.backend import Store
from pipeline.record.current import write_current_zones
from pipeline.record.store import open_store

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
RUN_A, RUN_B = "a" * 16, "b" * 16
# zone id -> (name, lower-left corner in degrees); each zone is a 0.01° square
ZONES = {"Z1": ("北山片区 Beishan", (109.80, 40.60)), "Z2": (HOSTILE_NAME, (109.82, 40.60)),
         "Z3": ("O'Brien & 南湖", (109.84, 40.60))}
# (run, zone, year) -> (forest ha, grassland ha, carbon t C)
FIGURES = {
    (RUN_A, "Z1", 2020): (110.0, 30.0, 5000.0), (RUN_A, "Z1", 2023): (120.5, 28.0, 5400.0),
    (RUN_A, "Z2", 2020): (50.0, 60.0, 2000.0), (RUN_A, "Z2", 2023): (49.0, 61.5, 1990.0),
    (RUN_A, "Z3", 2020): (10.0, 90.0, 700.0), (RUN_A, "Z3", 2023): (12.0, 88.0, 760.0),
    (RUN_B, "Z1", 2023): (125.25, 27.0, 5600.0), (RUN_B, "Z2", 2023): (48.0, 62.0, 1980.0),
    (RUN_B, "Z3", 2023): (12.5, 87.5, 770.0),
}
STATUS = {"Z1": "on track", "Z2": "behind", "Z3": "reached"}
# the zones moved over São Tomé, where the shipped ESA WorldCover rasters lie (the land-cover overlay's tests):
# Z1 on the coast at the capital (forest, built-up, water), Z2 and Z3 inland
SAO_TOME = {"Z1": (6.72, 0.34), "Z2": (6.70, 0.36), "Z3": (6.74, 0.30)}
Landcover = Mapping[int, Path]  # year -> the land-cover file the runs record for it (ESA WorldCover codes)



def _insert(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows by column name; the store's other columns stay empty."""
    columns = list(rows[0])
    marks = ", ".join(store.geom_placeholder if c == "geom" else "?" for c in columns)
    store.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                      [tuple(row[c] for c in columns) for row in rows])


def _zones(store: Store, corners: Mapping[str, tuple[float, float]]) -> None:
    rows = []
    for i, (zone_id, (name, _)) in enumerate(ZONES.items()):
        x, y = corners[zone_id]
        shape = MultiPolygon([box(x, y, x + 0.01, y + 0.01)])
        rows.append({"geom": store.geometry_value(shape.wkb, shape.bounds), "zone_set": "baotou",
                     "zone_id": zone_id, "version": 1, "geom_sha256": f"{i:064x}", "area_ha": 100.0,
                     "attributes": json.dumps({"name": name}, ensure_ascii=False), "first_run": RUN_A,
                     "last_run": RUN_B})
    _insert(store, "zone_versions", rows)


def _config(landcover: Landcover | None) -> str:
    """A run's config as far as the platform reads it: its class map and land-cover epochs."""
    if landcover is None:
        return "{}"
    return json.dumps({"classes": "esa_worldcover", "landcover": [{"year": y, "path": str(p), "nodata": None}
                                                                  for y, p in landcover.items()]})


def _runs(store: Store, landcover: Landcover | None) -> None:
    for run_id, finished, review in ((RUN_A, "2025-03-01T00:00:00Z", "accepted"),
                                     (RUN_B, "2026-03-01T00:00:00Z", "draft")):
        years = (2020, 2023) if run_id == RUN_A else (2023,)
        epochs = [{"run_id": run_id, "year": y, "product": "clcd" if landcover is None else "esa_worldcover",
                   "product_version": "v1", "path": f"/data/clcd_{y}.tif" if landcover is None else str(landcover[y]),
                   "sha256": f"{y:064x}"} for y in years]
        _insert(store, "runs", [{"run_id": run_id, "name": f"baotou {finished[:4]}", "finished_utc": finished,
                                 "code_version": "0.1.0", "config": _config(landcover), "inputs": json.dumps(epochs),
                                 "class_map": "{}", "review": review, "zone_set": "baotou",
                                 "ingested_utc": finished}])
        _insert(store, "run_epochs", epochs)


def _figures(store: Store, figures: dict[tuple[str, str, int], tuple[float, float, float]]) -> None:
    key = ("run_id", "zone_id", "zone_version", "year")
    for (run_id, zone_id, year), (forest, grass, carbon) in figures.items():
        _insert(store, "class_area", [dict(zip((*key, "class", "area_ha"), (run_id, zone_id, 1, year, c, a),
                                               strict=True)) for c, a in (("forest", forest), ("grassland", grass))])
        # two pools, half each, and the `total` pool a run writes beside them: zone_series' carbon_t is the total
        # (and co2e_t = 44/12 of it)
        _insert(store, "carbon", [dict(zip((*key, "pool", "carbon_t", "co2e_t"),
                                           (run_id, zone_id, 1, year, pool, part, part * 44 / 12), strict=True))
                                  for pool, part in (("agb", carbon / 2), ("soc", carbon / 2), ("total", carbon))])
    for run_id in (RUN_A, RUN_B):
        _insert(store, "progress", [
            {"run_id": run_id, "zone_id": z, "zone_version": 1, "year": 2023, "metric": "forest_ha", "unit": "ha",
             "latest_year": 2023, "latest_value": figures[(run_id, z, 2023)][0], "target_value": 130.0,
             "target_year": 2030, "pct_of_target": 100 * figures[(run_id, z, 2023)][0] / 130.0,
             "status": STATUS[z]} for z in ZONES])
        # forest coverage of the three zones (300 ha): run A 181.5 ha = 60.5 %, run B 185.75 ha = 61.9166.. %
        coverage = 100 * sum(figures[(run_id, z, 2023)][0] for z in ZONES) / 300
        _insert(store, "region_indicators", [
            {"run_id": run_id, "year": 2023, "region": "baotou", "indicator": "forest_coverage_pct",
             "label_zh": "森林覆盖率", "label_en": "Forest coverage", "unit": "%", "value": coverage,
             "target": 65.0, "target_year": 2030.0, "pct_of_target": 100 * coverage / 65.0, "meets_target": 0.0,
             "target_source": "plan"}])


def build(path: Path, *, figures: dict[tuple[str, str, int], tuple[float, float, float]] = FIGURES,
          landcover: Landcover | None = None) -> Path:
    """The GeoPackage store at `path`, made by the store's own migrations, holding the figures above (or others
    for the same runs, zones and years); with `landcover`, the runs read those files and the zones lie over
    São Tomé (SAO_TOME), else the runs name files that do not exist."""
    fill(str(path), figures=figures, landcover=landcover)
    return path


def fill(target: str, *, figures: dict[tuple[str, str, int], tuple[float, float, float]] = FIGURES,
         landcover: Landcover | None = None) -> None:
    """The store at `target` (a GeoPackage or a postgresql:// URL of its owner role) made and filled."""
    with open_store(target) as store, store.writing():
        _runs(store, landcover)
        _zones(store, {z: corner for z, (_, corner) in ZONES.items()} if landcover is None else SAO_TOME)
        _figures(store, figures)
        write_current_zones(store, zone_set="baotou")  # as an ingest writes it
