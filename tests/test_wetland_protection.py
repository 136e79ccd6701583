"""湿地保护率: two overlapping reserves across two zones, worked by hand (a GBK Shapefile); a point layer refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from builders import UTM10N, X0, Y0, write_box_zones, write_class_map, write_utm_raster

from pipeline.core.config import RunConfig
from pipeline.core.errors import ValidationFailed
from pipeline.inputs.check import check_inputs
from pipeline.measure.graph import build_graph, compute
from pipeline.metrics import class_area, protection


def _box(a: float, b: float, c: float, d: float) -> shapely.Polygon:
    """x from a to c metres right of X0, from b to d metres below Y0."""
    return shapely.box(X0 + a, Y0 - d, X0 + c, Y0 - b)


def _config(tmp: Path, reserves: Path, *, values: tuple[dict[str, Any], ...] = (), **protected: Any) -> RunConfig:
    # 10 x 10 cells of 10 m: wetland (3) in columns 0-4 and in rows 0-1 of columns 5-9, forest (1) elsewhere
    lc = np.ones((10, 10), dtype=np.uint8)
    lc[:, :5] = 3
    lc[:2, 5:] = 3
    raster = write_utm_raster(tmp / "lc.tif", lc, cell=10.0)
    zones = write_box_zones(tmp / "z.gpkg", {"A": (0, 0, 50, 100), "B": (50, 0, 100, 100)})
    classes = write_class_map(tmp / "c.yaml", {"forest": [1], "wetland": [3]})
    return RunConfig.model_validate({
        "name": "wpr", "landcover": [{"year": 2020, "path": str(raster)}], "zones": {"path": str(zones),
                                                                                    "id_field": "zid"},
        "classes": str(classes), "output": {"dir": str(tmp / "o")}, "region": {"name": "R"},
        "protected_areas": {"path": str(reserves), **protected}, "values": list(values)})


def test_two_overlapping_reserves_across_two_zones(tmp_path: Path) -> None:
    """Reserve 1: x 20-70 m, 0-40 m down; reserve 2: x 40-90, 20-60 down; they overlap on x 40-70, 20-40.
    A (x 0-50) is all wetland, 5000 m². Protected: reserve 1 in A 30 x 40 = 1200, reserve 2 in A 10 x 40 = 400,
    their overlap in A 10 x 20 = 200 counted once: 1400 m², 28 %.
    B (x 50-100) holds wetland on its rows 0-1 (0-20 m down): 50 x 20 = 1000 m²; reserve 1 covers x 50-70 of it,
    20 x 20 = 400 m² (reserve 2 starts 20 m down): 40 %. Region: 1800 / 6000 = 30 %.
    """
    frame = gpd.GeoDataFrame({"名称": ["南海湿地自然保护区", "黄河国家湿地公园"]},
                             geometry=[_box(20, 0, 70, 40), _box(40, 20, 90, 60)], crs=UTM10N)
    frame.to_file(tmp_path / "reserves.shp", encoding="GBK")
    config = _config(tmp_path, tmp_path / "reserves.shp", encoding="GBK")
    inputs = check_inputs(config, deep=False)
    computed = compute(build_graph(inputs), config=config, progress=None)
    long = class_area.tabulate(inputs, computed).tables["zone_class_area"]
    table = protection.tabulate(inputs, computed, class_area=long).tables["zone_wetland_protection"]
    got = {row.zone_id: (row.wetland_ha, row.protected_wetland_ha, row.protection_pct) for row in table.itertuples()}
    assert got["A"] == pytest.approx((0.5, 0.14, 28.0))
    assert got["B"] == pytest.approx((0.1, 0.04, 40.0))
    assert got["R"] == pytest.approx((0.6, 0.18, 30.0))
    assert table.set_index("zone_id").loc["R", "level"] == "region"


def test_a_point_layer_is_refused_with_the_other_problems(tmp_path: Path) -> None:
    """A protected-area layer of points and a missing NDVI raster: validate lists both."""
    points = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(X0 + 5, Y0 - 5)], crs=UTM10N)
    points.to_file(tmp_path / "pts.gpkg", driver="GPKG")
    config = _config(tmp_path, tmp_path / "pts.gpkg",
                     values=({"name": "ndvi", "year": 2020, "path": str(tmp_path / "missing.tif")},))
    with pytest.raises(ValidationFailed) as caught:
        check_inputs(config, deep=False)
    text = str(caught.value)
    assert "holds no polygons" in text
    assert "missing.tif" in text


def test_survey_wetland_polygons_give_the_rate(tmp_path: Path) -> None:
    """The reserves above, with two survey wetland polygons (a GBK Shapefile) in place of the land cover's wetland:
    W1 x 0-60, 0-30 m down; W2 x 40-100, 20-50 down; they overlap on x 40-60, 20-30 down (counted once).
    The reserves' union P is x 20-70 over 0-40 down, and x 40-90 over 20-60 down. Strip by strip (metres):
    A (x 0-50): wetland 50 x 30 (W1) + 10 x 30 (W2) - 10 x 10 (overlap) = 1700 m².
      x 20-40: P 0-40, W 0-30 -> 20 x 30 = 600; x 40-50: P 0-60, W 0-50 -> 10 x 50 = 500; 1100 m², 64.71 %.
    B (x 50-100): wetland x 50-60 W 0-50 -> 500, x 60-100 W 20-50 -> 40 x 30 = 1200: 1700 m².
      x 50-60: P 0-60, W 0-50 -> 500; x 60-70: P 0-60, W 20-50 -> 300; x 70-90: P 20-60, W 20-50 -> 20 x 30
      = 600; x 90-100: no reserve: 1400 m², 82.35 %.
    Region: 2500 / 3400 = 73.53 %. The land cover (all of A wetland: 5000 m²) plays no part, and the rows take
    the survey's year, not the land cover's.
    """
    reserves = gpd.GeoDataFrame({"名称": ["南海湿地自然保护区", "黄河国家湿地公园"]},
                                geometry=[_box(20, 0, 70, 40), _box(40, 20, 90, 60)], crs=UTM10N)
    reserves.to_file(tmp_path / "reserves.gpkg", driver="GPKG")
    wetlands = gpd.GeoDataFrame({"地类名称": ["内陆滩涂", "沼泽草地"]},
                                geometry=[_box(0, 0, 60, 30), _box(40, 20, 100, 50)], crs=UTM10N)
    wetlands.to_file(tmp_path / "湿地.shp", encoding="GBK")
    config = _config(tmp_path, tmp_path / "reserves.gpkg",
                     wetlands={"path": str(tmp_path / "湿地.shp"), "year": 2019, "encoding": "GBK"})
    inputs = check_inputs(config, deep=False)
    computed = compute(build_graph(inputs), config=config, progress=None)
    long = class_area.tabulate(inputs, computed).tables["zone_class_area"]
    result = protection.tabulate(inputs, computed, class_area=long)
    table = result.tables["zone_wetland_protection"]
    got = {row.zone_id: (row.wetland_ha, row.protected_wetland_ha, row.protection_pct) for row in table.itertuples()}
    assert got["A"] == pytest.approx((0.17, 0.11, 1100 / 17))
    assert got["B"] == pytest.approx((0.17, 0.14, 1400 / 17))
    assert got["R"] == pytest.approx((0.34, 0.25, 2500 / 34))
    assert set(table["year"]) == {2019}
    assert set(table["wetland_source"]) == {"wetland layer"}
    assert result.record == {"wetland_protection": {"wetland_source": "wetland layer"}}


def test_a_wetland_layer_of_lines_is_refused_with_the_other_problems(tmp_path: Path) -> None:
    """Wetlands drawn as river lines and a protected-area layer of points: validate lists both."""
    lines = gpd.GeoDataFrame({"name": ["黄河"]}, geometry=[shapely.LineString([(X0, Y0 - 5), (X0 + 90, Y0 - 5)])],
                             crs=UTM10N)
    lines.to_file(tmp_path / "rivers.gpkg", driver="GPKG")
    points = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(X0 + 5, Y0 - 5)], crs=UTM10N)
    points.to_file(tmp_path / "pts.gpkg", driver="GPKG")
    config = _config(tmp_path, tmp_path / "pts.gpkg", wetlands={"path": str(tmp_path / "rivers.gpkg"), "year": 2019})
    with pytest.raises(ValidationFailed) as caught:
        check_inputs(config, deep=False)
    text = str(caught.value)
    assert "the protected-area layer holds no polygons" in text
    assert "rivers.gpkg: the wetland layer holds no polygons (geometries: LineString" in text
