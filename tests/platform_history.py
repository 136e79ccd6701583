"""A small history store for the platform's tests, in the shape issue 20 fixes (table and view names, columns),
with figures chosen by hand so that every expected value below is known without the code under test.

Two runs over three zones near Baotou:
- run A (finished 2025-03-01, accepted): 2020 and 2023;
- run B (finished 2026-03-01, draft): 2023 again, reprocessed, with other figures.
zone_series serves the accepted run's figure, else the newest draft's; superseded runs serve nothing. So before any
review Z1's 2023 forest is run A's 120.5 ha; once B is accepted it is B's 125.25 ha (newer accepted run first).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import geopandas as gpd
from shapely.geometry import MultiPolygon, box

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

_TABLES = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, finished_utc TEXT NOT NULL, code_version TEXT NOT NULL,
  config TEXT NOT NULL, inputs TEXT NOT NULL, class_map TEXT NOT NULL, review TEXT NOT NULL DEFAULT 'draft',
  reviewed_by TEXT, reviewed_utc TEXT, notes TEXT, zone_set TEXT NOT NULL);
CREATE TABLE run_epochs (run_id TEXT, year INTEGER, product TEXT, product_version TEXT, path TEXT, sha256 TEXT);
CREATE TABLE class_area (run_id TEXT, zone_id TEXT, zone_version INTEGER, year INTEGER, class TEXT, area_ha REAL);
CREATE TABLE carbon (run_id TEXT, zone_id TEXT, zone_version INTEGER, year INTEGER, pool TEXT, carbon_t REAL);
CREATE TABLE progress (run_id TEXT, zone_id TEXT, zone_version INTEGER, year INTEGER, metric TEXT, unit TEXT,
  latest_year INTEGER, latest_value REAL, target_value REAL, target_year INTEGER, pct_of_target REAL, status TEXT);
CREATE TABLE region_indicators (run_id TEXT, zone_id TEXT, zone_version INTEGER, year INTEGER, region TEXT,
  indicator TEXT, label_zh TEXT, label_en TEXT, unit TEXT, value REAL, target REAL, target_year REAL,
  pct_of_target REAL, meets_target REAL, target_source TEXT);
CREATE VIEW zone_figures AS
  SELECT run_id, zone_id, zone_version, year, class || '_ha' AS metric, area_ha AS value, 'ha' AS unit FROM class_area
  UNION ALL SELECT run_id, zone_id, zone_version, year, 'carbon_t', SUM(carbon_t), 't C' FROM carbon
  GROUP BY run_id, zone_id, zone_version, year;
CREATE VIEW zone_series AS SELECT zone_set, zone_id, zone_version, year, metric, value, unit, run_id, review, product,
  product_version FROM (SELECT r.zone_set, f.*, r.review, e.product, e.product_version, ROW_NUMBER() OVER (PARTITION BY
  r.zone_set, f.zone_id, f.year, f.metric ORDER BY CASE r.review WHEN 'accepted' THEN 0 ELSE 1 END,
  r.finished_utc DESC) AS pick FROM zone_figures f JOIN runs r ON r.run_id = f.run_id LEFT JOIN run_epochs e
  ON e.run_id = f.run_id AND e.year = f.year WHERE r.review <> 'superseded') WHERE pick = 1;
CREATE VIEW current_zones AS SELECT z.fid, z.geom, z.zone_set, z.zone_id, z.version AS zone_version, z.area_ha,
  z.attributes, w.year, w.run_id, w.review, w.forest_ha, w.grassland_ha, w.carbon_t,
  (SELECT p.status FROM progress p WHERE p.run_id = w.run_id AND p.zone_id = z.zone_id LIMIT 1) AS plan_status
  FROM zone_versions z LEFT JOIN (SELECT zone_id, year, MAX(run_id) AS run_id, MAX(review) AS review,
  MAX(CASE WHEN metric = 'forest_ha' THEN value END) AS forest_ha,
  MAX(CASE WHEN metric = 'grassland_ha' THEN value END) AS grassland_ha,
  MAX(CASE WHEN metric = 'carbon_t' THEN value END) AS carbon_t FROM zone_series s
  WHERE year = (SELECT MAX(year) FROM zone_series t WHERE t.zone_id = s.zone_id) GROUP BY zone_id, year) w
  ON w.zone_id = z.zone_id;
"""


def _zone_layer(path: Path) -> None:
    rows = [{"zone_set": "baotou", "zone_id": zone_id, "version": 1, "geom_sha256": f"{i:064x}",
             "area_ha": 100.0, "attributes": json.dumps({"name": name}, ensure_ascii=False),
             "first_run": RUN_A, "last_run": RUN_B,
             "geometry": MultiPolygon([box(x, y, x + 0.01, y + 0.01)])}
            for i, (zone_id, (name, (x, y))) in enumerate(ZONES.items())]
    gpd.GeoDataFrame(rows, crs="EPSG:4326").to_file(path, layer="zone_versions", driver="GPKG")


def _runs(db: sqlite3.Connection) -> None:
    for run_id, finished, review in ((RUN_A, "2025-03-01T00:00:00+00:00", "accepted"),
                                     (RUN_B, "2026-03-01T00:00:00+00:00", "draft")):
        inputs = [{"year": y, "product": "clcd", "version": "v1", "path": f"/data/clcd_{y}.tif", "sha256": "0" * 64}
                  for y in ((2020, 2023) if run_id == RUN_A else (2023,))]
        db.execute("INSERT INTO runs VALUES (?, ?, ?, '0.1.0', '{}', ?, '{}', ?, NULL, NULL, NULL, 'baotou')",
                   (run_id, f"baotou {finished[:4]}", finished, json.dumps(inputs), review))
        db.executemany("INSERT INTO run_epochs VALUES (?, ?, 'clcd', 'v1', ?, ?)",
                       [(run_id, i["year"], i["path"], i["sha256"]) for i in inputs])


def _figures(db: sqlite3.Connection) -> None:
    for (run_id, zone_id, year), (forest, grass, carbon) in FIGURES.items():
        db.executemany("INSERT INTO class_area VALUES (?, ?, 1, ?, ?, ?)",
                       [(run_id, zone_id, year, "forest", forest), (run_id, zone_id, year, "grassland", grass)])
        # two pools, half each, so zone_series sums them back to the carbon figure
        db.executemany("INSERT INTO carbon VALUES (?, ?, 1, ?, ?, ?)",
                       [(run_id, zone_id, year, pool, carbon / 2) for pool in ("agb", "soc")])
    for run_id in (RUN_A, RUN_B):
        db.executemany("INSERT INTO progress VALUES (?, ?, 1, 2023, 'forest_ha', 'ha', 2023, ?, 130.0, 2030, ?, ?)",
                       [(run_id, z, FIGURES[(run_id, z, 2023)][0], 100 * FIGURES[(run_id, z, 2023)][0] / 130.0,
                         STATUS[z]) for z in ZONES])
        # forest coverage of the three zones (300 ha): run A 181.5 ha = 60.5 %, run B 185.75 ha = 61.9166.. %
        forest = sum(FIGURES[(run_id, z, 2023)][0] for z in ZONES)
        db.execute("INSERT INTO region_indicators VALUES (?, NULL, NULL, 2023, 'baotou', 'forest_coverage_pct', "
                   "'森林覆盖率', 'Forest coverage', '%', ?, 65.0, 2030, ?, 0, 'plan')",
                   (run_id, 100 * forest / 300, 100 * (100 * forest / 300) / 65.0))


def build(path: Path) -> Path:
    """The store at `path` (a GeoPackage QGIS can open), returned."""
    _zone_layer(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(_TABLES)
        _runs(db)
        _figures(db)
    return path
