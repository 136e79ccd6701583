"""The Baotou demo reports all seven of its plan's 2025 indicators against their targets, illustrative inputs marked."""

from __future__ import annotations

import json

from conftest import DemoRun

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
