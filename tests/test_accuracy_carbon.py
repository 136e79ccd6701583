"""Carbon intervals with the area uncertainty of an accuracy assessment: approach 1 by hand, approach 2 against it,
and the area term taking over when the map is poor."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from builders import UTM10N, X0, Y0, pool_row, write_class_map, write_csv, write_utm_raster

from pipeline.core.config import RunConfig
from pipeline.run import runner

CO2 = 44 / 12
Z90 = 1.645


def build(tmp: Path, *, agree: tuple[int, int], method: str = "error_propagation", iterations: int = 10_000,
          relative_range: float = 0.05) -> runner.RunResult:
    """10 x 10 cells of 1 ha: 60 forest, 40 grassland; one zone over all of it; 50 sample points in each map
    class, `agree` of them labelled with their own class and the rest with the other one. Only c_above carries
    carbon: forest 50, grassland 5 t C/ha, each ± relative_range (90 % bounds)."""
    tmp.mkdir(parents=True, exist_ok=True)
    codes = np.where(np.arange(100) < 60, 1, 2).astype(np.uint8).reshape(10, 10)
    lc = write_utm_raster(tmp / "lc.tif", codes, cell=100)
    classes = write_class_map(tmp / "c.yaml", {"forest": [1], "grassland": [2]})
    gpd.GeoDataFrame({"zid": ["z"]}, geometry=[shapely.box(X0, Y0 - 1000, X0 + 1000, Y0)], crs=UTM10N).to_file(
        tmp / "z.gpkg")
    rows = []
    for code, own, other, keep in ((1, "forest", "grassland", agree[0]), (2, "grassland", "forest", agree[1])):
        cells = np.argwhere(codes == code)
        for k in range(50):
            r, c = cells[k % len(cells)]
            rows.append({"geometry": shapely.Point(X0 + c * 100 + 20 + k % 7 * 9, Y0 - r * 100 - 50),
                         "reference": own if k < keep else other})
    gpd.GeoDataFrame(rows, crs=UTM10N).to_file(tmp / "s.gpkg")
    pools = write_csv(tmp / "pools.csv", [
        pool_row("forest", 50, 0, 0, 0, c_above_low=50 * (1 - relative_range), c_above_high=50 * (1 + relative_range)),
        pool_row("grassland", 5, 0, 0, 0, c_above_low=5 * (1 - relative_range), c_above_high=5 * (1 + relative_range)),
    ])
    config = RunConfig.model_validate({
        "name": "accuracy_carbon", "landcover": [{"year": 2020, "path": str(lc)}],
        "zones": {"path": str(tmp / "z.gpkg"), "id_field": "zid"}, "classes": str(classes),
        "output": {"dir": str(tmp / "out")}, "accuracy": {"samples": str(tmp / "s.gpkg")},
        "carbon": {"pools": str(pools), "uncertainty": {"method": method, "iterations": iterations, "seed": 1}}})
    return runner.run(config)


def total_row(result: runner.RunResult) -> pd.Series:
    carbon = result.tables["zone_carbon"]
    return carbon[carbon["pool"] == "total"].iloc[0]


def test_error_propagation_adds_the_area_term_by_hand(tmp_path: Path) -> None:
    result = build(tmp_path, agree=(45, 47))
    se = result.tables["zone_accuracy_area"].set_index("class")["se_ha"]
    total = total_row(result)
    # Factors: 60 ha × 2.5 and 40 ha × 0.25 t C/ha (the 90 % half-ranges); areas: 1.645 SE × 50 and × 5 t C/ha.
    factors2 = (60 * 2.5) ** 2 + (40 * 0.25) ** 2
    area2 = (Z90 * se["forest"] * 50) ** 2 + (Z90 * se["grassland"] * 5) ** 2
    assert total["carbon_t"] == pytest.approx(60 * 50 + 40 * 5)
    assert total["co2e_high_t"] - total["co2e_t"] == pytest.approx(CO2 * np.sqrt(factors2 + area2))
    assert total["co2e_t"] - total["co2e_low_t"] == pytest.approx(CO2 * np.sqrt(factors2 + area2))
    assert total["var_share_area"] == pytest.approx(area2 / (area2 + factors2))
    assert total["var_share_area"] + total["var_share_factors"] == pytest.approx(1.0)


def test_monte_carlo_agrees_with_error_propagation_where_linear_holds(tmp_path: Path) -> None:
    # Relative SEs of a few per cent (areas from a 92-96 % accurate map, factors ± 5 %): approach 1 holds, so
    # approach 2's half-width must agree within 2 % (200,000 draws: the percentiles' own noise is ~0.3 %).
    linear = total_row(build(tmp_path / "linear", agree=(46, 48)))
    simulated = total_row(build(tmp_path / "mc", agree=(46, 48), method="monte_carlo", iterations=200_000))
    assert simulated["co2e_t"] == linear["co2e_t"]
    for side in ("co2e_low_t", "co2e_high_t"):
        assert abs(simulated[side] - simulated["co2e_t"]) == pytest.approx(abs(linear[side] - linear["co2e_t"]),
                                                                           rel=0.02)


def test_the_area_term_dominates_when_the_map_is_poor(tmp_path: Path) -> None:
    # 60 % and 50 % user's accuracies against ± 2 % factor ranges: nearly all of the variance is the map's.
    result = build(tmp_path, agree=(30, 25), relative_range=0.02)
    total = total_row(result)
    assert total["var_share_area"] > 0.9
    assert total["var_share_factors"] < 0.1
    accurate = total_row(build(tmp_path / "good", agree=(50, 50), relative_range=0.02))
    assert accurate["var_share_area"] == 0.0  # a perfect sample leaves no area uncertainty
    assert total["co2e_high_t"] - total["co2e_t"] > 5 * (accurate["co2e_high_t"] - accurate["co2e_t"])
