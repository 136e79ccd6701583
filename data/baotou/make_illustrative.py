"""Write the ILLUSTRATIVE inputs of the Baotou demo (configs/baotou_modis.yaml): made-up stand-ins for data a
bureau holds and this repository does not. Nothing here is a measurement; every output made from them says so.

- ILLUSTRATIVE_ndvi_2019.tif: an NDVI field in the MOD13Q1 encoding (int16, NDVI x 10000, nodata -3000) on
  0.005 degree cells over the MCD12C1 map: greener to the south (Yellow River valley) than to the north (desert
  steppe), by land-cover class, with a smooth ripple. Stands in for a MOD13Q1 annual maximum composite.
- ILLUSTRATIVE_protected_areas.gpkg: two overlapping boxes along the Yellow River south of the city, named after
  the 黄河国家湿地公园 and the 南海湿地 but NOT their boundaries.
- ILLUSTRATIVE_wetlands.gpkg: four wetland polygons (river flats along the Yellow River south of the city, the
  南海湿地 lake, a reservoir in the north), standing in for a survey's wetland 图斑 (湿地资源调查, 三调 湿地),
  which MCD12C1's 0.05 degree cells do not show. NOT the wetlands' extent.
- ILLUSTRATIVE_volume.csv: forest stock volume (m³) per district for 2019, by species, summing to 3.5 million m³.

Deterministic: run `python data/baotou/make_illustrative.py` from the repository root to write them again.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine

HERE = Path(__file__).resolve().parent
LAND_COVER = HERE / "MCD12C1_2019_IGBP_baotou.tif"
FINE = 10  # NDVI cells per land-cover cell along each side: 0.05 / 10 = 0.005 degrees
# NDVI added by IGBP class: cropland (12, 14) greener, built (13) and barren (16) browner than grassland
CLASS_OFFSET = {12: 0.12, 14: 0.08, 13: -0.15, 16: -0.18}
DISTRICT_VOLUME_M3 = {"150202": 60_000, "150203": 150_000, "150204": 120_000, "150205": 310_000,
                      "150206": 40_000, "150207": 420_000, "150221": 780_000, "150222": 1_020_000,
                      "150223": 600_000}


def ndvi() -> None:
    with rasterio.open(LAND_COVER) as src:
        classes, transform, crs = src.read(1), src.transform, src.crs
    fine = np.repeat(np.repeat(classes, FINE, axis=0), FINE, axis=1)
    grid = transform * Affine.scale(1 / FINE)
    cols, rows = np.meshgrid(np.arange(fine.shape[1]) + 0.5, np.arange(fine.shape[0]) + 0.5)
    lon, lat = grid * (cols, rows)
    value = 0.62 - 0.13 * (lat - 40.0) + 0.04 * np.sin(lon * 7.0) * np.cos(lat * 9.0)
    value += np.vectorize(lambda c: CLASS_OFFSET.get(int(c), 0.0))(fine)
    raw = np.rint(np.clip(value, -0.2, 0.9) * 10_000).astype(np.int16)
    raw[fine == 255] = -3000
    profile = {"driver": "GTiff", "height": raw.shape[0], "width": raw.shape[1], "count": 1, "dtype": "int16",
               "crs": crs, "transform": grid, "nodata": -3000, "compress": "deflate", "predictor": 2,
               "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(HERE / "ILLUSTRATIVE_ndvi_2019.tif", "w", **profile) as dst:
        dst.write(raw, 1)
        dst.update_tags(ILLUSTRATIVE="made-up NDVI for the sinkzone demo, not a measurement",
                        scale_factor="0.0001")


def protected_areas() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["黄河湿地（示例，非真实边界）", "南海湿地（示例，非真实边界）"],
         "kind": ["wetland park", "nature reserve"], "illustrative": [True, True]},
        geometry=[shapely.box(109.70, 40.48, 110.60, 40.62), shapely.box(109.95, 40.50, 110.15, 40.58)],
        crs="EPSG:4326")
    frame.to_file(HERE / "ILLUSTRATIVE_protected_areas.gpkg", layer="protected", driver="GPKG")


def wetlands() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["黄河滩涂（示例）", "南海湿地（示例）", "黄河滩涂东段（示例）", "水库湿地（示例）"],
         "kind": ["内陆滩涂", "湖泊水面 and 沼泽草地", "内陆滩涂", "水库水面"], "illustrative": [True] * 4},
        geometry=[shapely.Polygon([(109.55, 40.50), (110.00, 40.52), (110.00, 40.56), (109.55, 40.55)]),
                  shapely.box(109.98, 40.52, 110.10, 40.57),
                  shapely.Polygon([(110.40, 40.47), (110.95, 40.45), (110.95, 40.50), (110.40, 40.53)]),
                  shapely.box(110.05, 41.00, 110.12, 41.05)],
        crs="EPSG:4326")
    frame.to_file(HERE / "ILLUSTRATIVE_wetlands.gpkg", layer="wetlands", driver="GPKG")


def volume() -> None:
    rows = [{"zone_id": zone, "species": species, "volume_m3": round(total * share), "year": 2019}
            for zone, total in DISTRICT_VOLUME_M3.items()
            for species, share in (("populus", 0.7), ("pinus_tabuliformis", 0.3))]
    pd.DataFrame(rows).to_csv(HERE / "ILLUSTRATIVE_volume.csv", index=False)


if __name__ == "__main__":
    ndvi()
    protected_areas()
    wetlands()
    volume()
