"""Carbon on the shipped demos (São Tomé two epochs, Baotou with the shipped table) and the biomass kernel."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from affine import Affine
from builders import write_raster
from conftest import DemoRun
from dask.array.core import normalize_chunks

from pipeline.core.grid import Grid, row_cell_areas_m2
from pipeline.files.rasters import window_source
from pipeline.measure import graph as graph_mod

ROOT = Path(__file__).resolve().parents[1]
C2 = 44.0 / 12.0


def test_sao_tome_transitions_change_and_intervals(demo_run: DemoRun) -> None:
    result = demo_run("sao_tome_worldcover")
    layers = {name for name, _ in pyogrio.list_layers(result.out_dir / "sinkzones.gpkg")}
    assert {"zone_carbon", "zone_transitions", "zone_change"} <= layers
    areas = result.tables["zone_class_area"].set_index(["year", "class"])["area_ha"]
    moves = result.tables["zone_transitions"]
    valid = moves[(moves["class_from"] != "nodata") & (moves["class_to"] != "nodata")]
    # Every valid cell of 2020 goes somewhere in 2021: row sums are the 2020 class areas, column sums 2021's
    # (no nodata cells on the island, so nothing leaks to or from `nodata`).
    assert len(valid) == len(moves)
    for cls, ha in valid.groupby("class_from")["area_ha"].sum().items():
        assert ha == pytest.approx(areas[2020, cls], rel=1e-9)
    for cls, ha in valid.groupby("class_to")["area_ha"].sum().items():
        assert ha == pytest.approx(areas[2021, cls], rel=1e-9)
    stock = result.tables["zone_carbon"]
    total = stock[stock["pool"] == "total"].set_index("year")["co2e_t"]
    change = result.tables["zone_change"].iloc[0]
    assert change["co2e_change_t"] == pytest.approx(total[2021] - total[2020], rel=1e-9)
    assert change["co2e_change_low_t"] < change["co2e_change_t"] < change["co2e_change_high_t"]
    assert (stock["co2e_low_t"] <= stock["co2e_t"]).all()
    assert (stock["co2e_t"] <= stock["co2e_high_t"]).all()
    notes = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))["notes"]
    assert any("different product versions" in n for n in notes)


def test_baotou_uses_the_shipped_table(demo_run: DemoRun) -> None:
    result = demo_run("baotou_modis")
    stock = result.tables["zone_carbon"]
    sources = result.tables["carbon_sources"].set_index("source_id")["source"]
    assert stock["source_id"].dropna().map(sources).str.contains("IPCC 2006").any()
    wide = result.tables["zone_class_area"].pivot(index="zone_id", columns="class", values="area_ha")
    # zero areas have no row
    wide = wide.reindex(columns=["乔木林", "灌木林", "草地", "湿地", "耕地"]).fillna(0.0)
    soil = stock[stock["pool"] == "soil"].set_index("zone_id")["carbon_t"]
    # Shipped c_soil (t C/ha): forest, shrub, grassland 50 (SOC_ref HAC, cold temperate dry); wetland 87;
    # cropland 50 x 0.80 = 40; the other classes 0.
    # The Baotou config names its classes in Chinese with roles (configs/classes_modis_igbp_zh.yaml); the
    # table's rows are per role: 乔木林 is forest, 灌木林 shrub, 草地 grassland, 湿地 wetland, 耕地 cropland.
    expected = (wide["乔木林"] + wide["灌木林"] + wide["草地"]) * 50 + wide["湿地"] * 87 + wide["耕地"] * 40
    assert soil.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy(), rel=1e-9)
    live = stock[stock["pool"].isin(["above", "below"])].groupby("zone_id")["carbon_t"].sum()
    # Grassland live biomass 6.5 t d.m./ha x 0.47 = 3.055 t C/ha; forest 56.4 + 12.972; shrub 2.82 + 1.128.
    expected_live = wide["草地"] * 3.055 + wide["乔木林"] * 69.372 + wide["灌木林"] * 3.948
    # plus the ILLUSTRATIVE stock volume (data/baotou/ILLUSTRATIVE_volume.csv), 70 % 杨树 and 30 % 油松 of each
    # district's m³: tree carbon V x WD x BEF x (1 + R) x CF, 杨树 0.378 x 1.446 x 1.227 x 0.4956 = 0.332390 and
    # 油松 0.360 x 1.589 x 1.251 x 0.5207 = 0.372633 t C per m³
    volume = pd.read_csv(ROOT / "data/baotou/ILLUSTRATIVE_volume.csv", dtype={"zone_id": str})
    per_m3 = volume["species"].map({"populus": 0.378 * 1.446 * 1.227 * 0.4956,
                                    "pinus_tabuliformis": 0.360 * 1.589 * 1.251 * 0.5207})
    expected_live = expected_live.add((volume["volume_m3"] * per_m3).groupby(volume["zone_id"]).sum(), fill_value=0)
    assert live.sort_index().to_numpy() == pytest.approx(expected_live.sort_index().to_numpy(), rel=1e-9)
    zones = result.zones.set_index("zone_id")
    assert zones["co2e_t"].to_numpy() == pytest.approx(zones["carbon_t"].to_numpy() * C2)


def test_biomass_sums_same_on_any_chunking(tmp_path: Path) -> None:
    grid = Grid(transform=Affine(0.01, 0, 110.0, 0, -0.01, 41.0), width=131, height=97,
                crs=pyproj.CRS.from_epsg(4326))
    rng = np.random.default_rng(7)
    values = rng.uniform(0, 300, size=grid.shape)
    values[rng.random(grid.shape) < 0.1] = -9999.0
    # Zone 0 covers the whole raster; zone 1 an odd polygon inside it.
    geoms = np.array([shapely.box(110.0, 40.03, 111.31, 41.0),
                      shapely.Polygon([(110.123, 40.5), (110.9, 40.41), (110.7, 40.95)])], dtype=object)

    source = window_source(write_raster(tmp_path / "biomass.tif", values, transform=grid.transform,
                                           crs="EPSG:4326", nodata=-9999.0))

    def sums(chunk: int) -> tuple[np.ndarray, np.ndarray]:
        graph = graph_mod.zonal_graph(grid, geoms, chunks=normalize_chunks(chunk, grid.shape))
        out = dask.compute(graph_mod.chunked_sums(graph, source, nodata=-9999.0), scheduler="sync")[0]
        return out.total * graph.unit_m2, out.units * graph.unit_m2

    whole_total, whole_area = sums(max(grid.shape))
    # Brute force for the whole-raster zone: value x exact cell area over valid cells.
    cell_m2 = np.repeat(row_cell_areas_m2(grid)[:, None], grid.width, axis=1)
    valid = values != -9999.0
    assert whole_total[0] == pytest.approx(float((values * cell_m2)[valid].sum()), rel=1e-6)
    assert whole_area[0] == pytest.approx(float(cell_m2[valid].sum()), rel=1e-6)
    for chunk in (16, 33, 64):
        total, area = sums(chunk)
        np.testing.assert_allclose(total, whole_total, rtol=1e-12)
        np.testing.assert_array_equal(area, whole_area)
