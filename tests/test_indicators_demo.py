"""The Baotou demo reports all seven of its plan's 2025 indicators against their targets, illustrative inputs marked."""

from __future__ import annotations

import json

import geopandas as gpd
import pyproj
import pytest
import shapely
from conftest import ROOT, DemoRun

TARGETED = {("forest_coverage_pct", ""), ("wetland_area_wan_mu", ""), ("grassland_vegetation_cover_pct", ""),
            ("wetland_protection_pct", ""), ("forest_growing_stock_m3", ""), ("sink_zone_area_wan_mu", "total"),
            ("sink_zone_area_wan_mu", "forest"), ("sink_zone_area_wan_mu", "grassland"),
            ("sink_zone_area_wan_mu", "wetland")}


def test_baotou_reports_every_target_and_marks_illustrative_inputs(demo_run: DemoRun) -> None:
    result = demo_run("baotou_modis")
    region = result.tables["region_indicators"]
    targeted = region[region["target"].notna()]
    assert set(zip(targeted["indicator"], targeted["sink_type"], strict=True)) == TARGETED
    assert set(targeted["target_year"]) == {2025}
    made_up = set(targeted.loc[targeted["illustrative"], "indicator"])
    assert made_up == {"grassland_vegetation_cover_pct", "wetland_protection_pct", "forest_growing_stock_m3",
                       "sink_zone_area_wan_mu"}
    # the illustrative volumes sum to 3.5 million m³ (data/baotou/ILLUSTRATIVE_volume.csv)
    assert targeted.set_index("indicator").loc["forest_growing_stock_m3", "value"] == 3_500_000
    record = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    used = record["vegetation_cover_endmembers"]["2019"]
    assert used["ndvi_soil"] < used["ndvi_veg"]
    assert any("ILLUSTRATIVE" in note for note in record["notes"])
    cover = result.tables["zone_vegetation_cover"]
    assert set(cover["label_en"]) == {"Grassland vegetation cover (remote-sensing proxy)"}


def test_baotou_protection_rate_comes_from_the_illustrative_wetland_layer(demo_run: DemoRun) -> None:
    """MCD12C1 maps no wetland in Baotou, so the rate's wetland is the ILLUSTRATIVE survey-style polygons. The
    expected rate is measured independently of sinkzone's own area code: geodesic polygon areas on WGS 84 by
    pyproj.Geod (geodesic edges, not the straight lon/lat edges sinkzone measures: over these 0.05-0.5 degree
    polygons the two differ by well under 0.1 % of the rate)."""
    result = demo_run("baotou_modis")
    data = ROOT / "data" / "baotou"
    wetland = shapely.union_all(gpd.read_file(data / "ILLUSTRATIVE_wetlands.gpkg", layer="wetlands").geometry)
    reserves = shapely.union_all(gpd.read_file(data / "ILLUSTRATIVE_protected_areas.gpkg", layer="protected").geometry)
    city = shapely.union_all(gpd.read_file(ROOT / "zones" / "baotou_districts.gpkg", layer="districts")
                             .to_crs("EPSG:4326").geometry)
    geod = pyproj.Geod(ellps="WGS84")
    wet_m2 = abs(geod.geometry_area_perimeter(wetland & city)[0])
    protected_m2 = abs(geod.geometry_area_perimeter(wetland & reserves & city)[0])
    table = result.tables["zone_wetland_protection"]
    region = table[table["level"] == "region"].iloc[0]
    assert region["wetland_ha"] == pytest.approx(wet_m2 / 10_000, rel=1e-3)
    assert region["protection_pct"] == pytest.approx(100 * protected_m2 / wet_m2, rel=1e-3)
    assert set(table["wetland_source"]) == {"wetland layer"}
    assert set(table["year"]) == {2019}
    indicators = result.tables["region_indicators"].set_index("indicator")
    assert indicators.loc["wetland_protection_pct", "wetland_source"] == "wetland layer"
    assert indicators.loc["wetland_protection_pct", "illustrative"]
    record = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert record["wetland_protection"] == {"wetland_source": "wetland layer"}
