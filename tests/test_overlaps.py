"""Overlapping zones: each zone keeps its whole area, region figures count the overlapping land once."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine
from builders import write_raster, write_zones

from pipeline.core.config import RunConfig
from pipeline.core.grid import Grid
from pipeline.inputs.zones import prepare_zones, zone_overlaps
from pipeline.run import runner

# A 10 m x 10 m raster of 1 m cells in UTM 49N: forest (WorldCover 10) in the west half, grassland (30) east.
ORIGIN_X, ORIGIN_Y = 500_000.0, 4_500_010.0
CRS = "EPSG:32649"
TRANSFORM = Affine(1.0, 0.0, ORIGIN_X, 0.0, -1.0, ORIGIN_Y)


def _box(x0: float, x1: float) -> shapely.Polygon:
    """A strip of the raster from x0 to x1 metres east of its west edge, full height."""
    return shapely.box(ORIGIN_X + x0, ORIGIN_Y - 10, ORIGIN_X + x1, ORIGIN_Y)


def _case(tmp_path: Path, boxes: dict[str, tuple[float, float]]) -> RunConfig:
    values = np.where(np.arange(10)[None, :] < 5, 10, 30).repeat(10, axis=0).astype(np.uint8)
    raster = write_raster(tmp_path / "lc.tif", values, transform=TRANSFORM, crs=CRS)
    frame = gpd.GeoDataFrame({"zid": list(boxes)}, geometry=[_box(*b) for b in boxes.values()], crs=CRS)
    zones = write_zones(tmp_path / "zones.gpkg", frame)
    return RunConfig.model_validate({
        "landcover": [{"year": 2020, "path": str(raster)}], "zones": {"path": str(zones), "id_field": "zid"},
        "classes": "esa_worldcover", "output": {"dir": str(tmp_path / "out")}})


def test_region_figures_count_overlapping_land_once(tmp_path: Path) -> None:
    # A covers x 0-6 m, B x 4-10 m: they share x 4-6 m, 2 m x 10 m = 20 m² = 0.002 ha.
    result = runner.run(_case(tmp_path, {"A": (0, 6), "B": (4, 10)}))
    region = result.tables["region_indicators"].set_index("indicator")["value"]
    # The union is the whole raster: forest x 0-5 m = 50 m² = 0.005 ha, grassland 50 m², land 100 m².
    # Summing the zones would give forest 50 + 10 = 60 m² and land 120 m².
    assert region["forest_area_ha"] == pytest.approx(0.005, rel=1e-9)
    assert region["grassland_area_ha"] == pytest.approx(0.005, rel=1e-9)
    assert region["land_area_ha"] == pytest.approx(0.010, rel=1e-9)
    assert region["forest_coverage_pct"] == pytest.approx(50.0, rel=1e-9)
    assert region["zone_overlap_ha"] == pytest.approx(0.002, rel=1e-9)
    # Each zone's own figures are its whole area: A is forest 50 m² + grassland 10 m².
    own = result.tables["zone_class_area"].set_index(["zone_id", "class"])["area_ha"]
    assert own["A", "forest"] == pytest.approx(0.005, rel=1e-9)
    assert own["A", "grassland"] == pytest.approx(0.001, rel=1e-9)
    assert any("A and B (0.00 ha)" in note and "overlap" in note for note in result.record["notes"])


def test_zones_that_only_touch_do_not_overlap(tmp_path: Path) -> None:
    result = runner.run(_case(tmp_path, {"A": (0, 5), "B": (5, 10)}))
    region = result.tables["region_indicators"]
    assert "zone_overlap_ha" not in set(region["indicator"])
    assert not any("overlap" in note for note in result.record["notes"])


def test_overlaps_are_listed_pairwise_with_their_area() -> None:
    grid = Grid(transform=TRANSFORM, width=10, height=10, crs=pyproj.CRS(CRS))
    frame = gpd.GeoDataFrame({"zid": ["A", "B", "C", "D"]},
                             geometry=[_box(0, 6), _box(4, 10), _box(5, 7), _box(8, 8.5)], crs=CRS)
    zones = prepare_zones(frame, id_field="zid", grid=grid, source="zones")
    found = zone_overlaps(zones, grid).set_index(["zone_a", "zone_b"])["area_ha"]
    # A∩B x 4-6 (20 m²), A∩C x 5-6 (10 m²), B∩C x 5-7 (20 m²), B∩D x 8-8.5 (5 m²); C and D do not meet.
    expected = {("A", "B"): 20, ("A", "C"): 10, ("B", "C"): 20, ("B", "D"): 5}
    assert {k: round(v * 1e4, 9) for k, v in found.items()} == expected
