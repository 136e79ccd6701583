"""Carbon per zone: InVEST's own test case, hand-derived zones for each method, change, intervals, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import pool_row, run_config, write_box_zones, write_class_map, write_csv, write_utm_raster

from pipeline.core.errors import TableError, ValidationFailed
from pipeline.inputs.check import check_inputs
from pipeline.metrics import carbon_terms as ct
from pipeline.run import runner

C2 = 44.0 / 12.0


def _total(result: runner.RunResult, zone: str, year: int) -> pd.Series:
    table = result.tables["zone_carbon"]
    return table[(table["zone_id"] == zone) & (table["year"] == year) & (table["pool"] == "total")].iloc[0]


def _pool(result: runner.RunResult, zone: str, year: int, pool: str) -> pd.DataFrame:
    table = result.tables["zone_carbon"]
    return table[(table["zone_id"] == zone) & (table["year"] == year) & (table["pool"] == pool)]


# ---- InVEST's own test case -------------------------------------------------------------------------


def test_invest_carbon_case(tmp_path: Path) -> None:
    """natcap.invest tests/test_carbon.py: 10 x 10 cells of 1 m in UTM 10N, lucode pools table.

    All class 1: 15 + 10 + 60 + 1 = 86 t C/ha over 100 m2 = 0.01 ha -> 0.86 t.
    All class 2: 5 + 3 + 20 + 0 = 28 t C/ha -> 0.28 t. Change 0.28 - 0.86 = -0.58 t C.
    """
    first = write_utm_raster(tmp_path / "lulc_1.tif", np.ones((10, 10), dtype=np.uint8), cell=1.0)
    second = write_utm_raster(tmp_path / "lulc_2.tif", np.full((10, 10), 2, dtype=np.uint8), cell=1.0)
    zones = write_box_zones(tmp_path / "z.gpkg", {"all": (0, 0, 10, 10)})
    pools = write_csv(tmp_path / "pools.csv", [pool_row("1", 15, 10, 60, 1, column="lucode"),
                                               pool_row("2", 5, 3, 20, 0, column="lucode")])
    classes = write_class_map(tmp_path / "c.yaml", {"forest": [1], "grassland": [2]})
    cfg = run_config(tmp_path, epochs={2000: first, 2010: second}, zones=zones, classes=classes,
                     carbon={"pools": str(pools)})
    result = runner.run(cfg)
    base, alt = _total(result, "all", 2000), _total(result, "all", 2010)
    assert base["carbon_t"] == pytest.approx(0.86)
    assert base["carbon_t"] / 0.01 == pytest.approx(86.0)
    assert alt["carbon_t"] == pytest.approx(0.28)
    assert alt["carbon_t"] / 0.01 == pytest.approx(28.0)
    change = result.tables["zone_change"].iloc[0]
    assert change["co2e_change_t"] == pytest.approx(-0.58 * C2)
    # 10 years between epochs.
    assert change["co2e_per_year_t"] == pytest.approx(-0.058 * C2)
    transitions = result.tables["zone_transitions"]
    assert transitions[["class_from", "class_to"]].values.tolist() == [["forest", "grassland"]]
    assert transitions["area_ha"].iloc[0] == pytest.approx(0.01)
    assert (cfg.output.dir / "sinkzones.gpkg").is_file()


# ---- a two-zone 4 x 4 raster of 10 m cells (0.01 ha each) -----------------------------------------------
# Zone A covers columns 0-1, zone B columns 2-3. Epoch 2000: column 0 forest (1), columns 1-3 grass (2).
# So A holds 0.04 ha forest and 0.04 ha grass, B holds 0.08 ha grass.
# Pools (t C/ha): forest 10 / 5 / 40 / 2 with c_above range 5-20; grass 1 / 2 / 30 / 0 with c_soil 20-40.


def _landcover(tmp_path: Path, name: str, forest_columns: int) -> Path:
    codes = np.full((4, 4), 2, dtype=np.uint8)
    codes[:, :forest_columns] = 1
    return write_utm_raster(tmp_path / name, codes, cell=10.0)


def _two_zone_setup(tmp_path: Path, *, rows: list[dict[str, object]] | None = None) -> dict[str, Path]:
    rows = rows if rows is not None else [pool_row("forest", 10, 5, 40, 2, c_above_low=5, c_above_high=20),
                                          pool_row("grassland", 1, 2, 30, 0, c_soil_low=20, c_soil_high=40)]
    return {
        "lc2000": _landcover(tmp_path, "lc2000.tif", 1),
        "lc2005": _landcover(tmp_path, "lc2005.tif", 2),
        "zones": write_box_zones(tmp_path / "z.gpkg", {"A": (0, 0, 20, 40), "B": (20, 0, 40, 40)}),
        "classes": write_class_map(tmp_path / "c.yaml", {"forest": [1], "grassland": [2]}),
        "pools": write_csv(tmp_path / "pools.csv", rows),
    }


def test_pools_table_zone_stocks_and_interval(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path)
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                     carbon={"pools": str(s["pools"])})
    result = runner.run(cfg)
    # A: 0.04 x (10+5+40+2) + 0.04 x (1+2+30+0) = 2.28 + 1.32 = 3.6 t C; B: 0.08 x 33 = 2.64 t C.
    assert _total(result, "A", 2000)["carbon_t"] == pytest.approx(3.6)
    assert _total(result, "B", 2000)["carbon_t"] == pytest.approx(2.64)
    # A above: 0.04 x 10 + 0.04 x 1 = 0.44 t C; only forest c_above has a range: up 0.04 x (20-10) = 0.4,
    # down 0.04 x (10-5) = 0.2.
    above = _pool(result, "A", 2000, "above").iloc[0]
    assert above["carbon_t"] == pytest.approx(0.44)
    assert above["co2e_high_t"] == pytest.approx((0.44 + 0.4) * C2)
    assert above["co2e_low_t"] == pytest.approx((0.44 - 0.2) * C2)
    # A total adds grass c_soil (20-40): +-0.04 x 10 = 0.4 in quadrature with the above-ground sides:
    # up sqrt(0.4^2 + 0.4^2) = 0.565685, down sqrt(0.2^2 + 0.4^2) = 0.447214.
    total = _total(result, "A", 2000)
    assert total["co2e_high_t"] == pytest.approx((3.6 + 0.565685) * C2, rel=1e-6)
    assert total["co2e_low_t"] == pytest.approx((3.6 - 0.447214) * C2, rel=1e-6)
    zones = result.zones.set_index("zone_id")
    assert zones.loc["B", "co2e_t"] == pytest.approx(2.64 * C2)
    assert np.isnan(zones.loc["B", "co2e_per_year_t"])


def test_change_transitions_and_interval(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path)
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"], 2005: s["lc2005"]}, zones=s["zones"],
                     classes=s["classes"], carbon={"pools": str(s["pools"])}, chunk_cells=64)
    result = runner.run(cfg)
    moves = result.tables["zone_transitions"].set_index(["zone_id", "class_from", "class_to"])["area_ha"]
    # Column 1 (4 cells, 0.04 ha, in zone A) turns from grass to forest.
    assert moves.to_dict() == pytest.approx({("A", "forest", "forest"): 0.04, ("A", "grassland", "forest"): 0.04,
                                             ("B", "grassland", "grassland"): 0.08})
    change = result.tables["zone_change"].set_index("zone_id")
    # A: 0.04 ha x (57 - 33) t C/ha = 0.96 t C = 3.52 t CO2e, over 5 years 0.704 t CO2e/yr. B unchanged.
    assert change.loc["A", "co2e_change_t"] == pytest.approx(0.96 * C2)
    assert change.loc["A", "co2e_per_year_t"] == pytest.approx(0.96 * C2 / 5)
    assert change.loc["B", "co2e_change_t"] == pytest.approx(0.0, abs=1e-12)
    # Unchanged area carries no uncertainty into the change (same factor both years): only +0.04 ha
    # forest (c_above 5-20: up 0.4, down 0.2) and -0.04 ha grass (c_soil 20-40: +-0.4) count.
    assert change.loc["A", "co2e_change_high_t"] == pytest.approx((0.96 + np.hypot(0.4, 0.4)) * C2)
    assert change.loc["A", "co2e_change_low_t"] == pytest.approx((0.96 - np.hypot(0.2, 0.4)) * C2)
    assert change.loc["B", "co2e_change_high_t"] == pytest.approx(0.0, abs=1e-12)
    assert result.zones.set_index("zone_id").loc["A", "co2e_per_year_t"] == pytest.approx(0.96 * C2 / 5)


def test_missing_class_lists_codes_and_areas(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path, rows=[pool_row("forest", 10, 5, 40, 2)])
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                     carbon={"pools": str(s["pools"])})
    # Grass: 0.04 ha in A + 0.08 ha in B = 0.12 ha.
    with pytest.raises(TableError, match=r"grassland \(0\.12 ha\)"):
        runner.run(cfg)


def test_biomass_raster_with_fallback_for_missed_zone(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path)
    # Its own grid: 2 x 2 cells of 20 m (0.04 ha). Column 0 (zone A) holds 100 t d.m./ha, column 1
    # (zone B) is nodata, so B falls back to the pools table.
    values = np.array([[100.0, -1.0], [100.0, -1.0]], dtype=np.float32)
    biomass = write_utm_raster(tmp_path / "agb.tif", values, cell=20.0, nodata=-1.0)
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                     carbon={"pools": str(s["pools"]), "biomass": [{"year": 2000, "path": str(biomass)}],
                             "root_shoot": {"value": 0.5, "low": 0.25, "high": 1.0}, "carbon_fraction": 0.5})
    result = runner.run(cfg)
    # A: B = 2 cells x 0.04 ha x 100 = 8 t d.m.; above 8 x 0.5 = 4 t C, below 8 x 0.5 x 0.5 = 2 t C;
    # soil and dead from the table: 0.04 x 40 + 0.04 x 30 + 0.04 x 2 = 2.88 t C. Total 8.88 t C.
    above = _pool(result, "A", 2000, "above")
    assert above["method"].tolist() == ["biomass_raster"]
    assert above["carbon_t"].iloc[0] == pytest.approx(4.0)
    below = _pool(result, "A", 2000, "below").iloc[0]
    # R 0.25-1.0: up 8 x 0.5 x (1.0-0.5) = 2, down 8 x 0.5 x (0.5-0.25) = 1.
    assert below["co2e_high_t"] == pytest.approx(4.0 * C2)
    assert below["co2e_low_t"] == pytest.approx(1.0 * C2)
    assert _total(result, "A", 2000)["carbon_t"] == pytest.approx(8.88)
    # B from the table: 0.08 x 33 = 2.64 t C, and the run says the raster missed it.
    assert _pool(result, "B", 2000, "above")["method"].tolist() == ["pools_table"]
    assert _total(result, "B", 2000)["carbon_t"] == pytest.approx(2.64)
    assert any("no valid cell in zone(s) B" in n for n in result.record["notes"])


def test_volume_method_ccer_form(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path)
    volume = write_csv(tmp_path / "volume.csv", [{"zone_id": "A", "species": "pinus_tabuliformis",
                                                  "volume_m3_ha": 50.0}])
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                     carbon={"pools": str(s["pools"]), "volume": {"table": str(volume)}})
    result = runner.run(cfg)
    # 油松 (shipped recalled defaults WD 0.360, BEF 1.589, R 0.251, CF 0.5207), 50 m3/ha:
    # per ha 50 x 0.36 x 1.589 x 1.251 = 35.78 t d.m., x 0.5207 = 18.631 t C (docs/sources.md §4 worked example: 18.6).
    # A's forest is 0.04 ha -> V = 2 m3: above 2 x 0.36 x 1.589 x 0.5207 = 0.595722, below x 0.251 = 0.149526.
    above = _pool(result, "A", 2000, "above").set_index("method")["carbon_t"]
    assert above["stock_volume"] == pytest.approx(0.595722, rel=1e-6)
    # The rest of A's live biomass comes from the table: grass 0.04 x 1 = 0.04 (forest not counted twice).
    assert above["pools_table"] == pytest.approx(0.04)
    below = _pool(result, "A", 2000, "below").set_index("method")["carbon_t"]
    assert below["stock_volume"] == pytest.approx(0.149526, rel=1e-5)
    # Total A: tree 0.745249 + grass live 0.04 x 3 = 0.12 + soil 2.8 + dead 0.08 = 3.745249 t C.
    assert _total(result, "A", 2000)["carbon_t"] == pytest.approx(3.745249, rel=1e-6)
    assert _total(result, "B", 2000)["carbon_t"] == pytest.approx(2.64)
    assert any("UNVERIFIED" in n for n in result.record["notes"])


def test_volume_from_zone_fields(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path)
    zones = write_box_zones(tmp_path / "zv.gpkg", {"A": (0, 0, 20, 40), "B": (20, 0, 40, 40)}, vol=[2.0, None])
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=zones, classes=s["classes"],
                     carbon={"pools": str(s["pools"]),
                             "volume": {"field": "vol", "unit": "m3", "species": "pinus_tabuliformis"}})
    result = runner.run(cfg)
    # 2 m3 in zone A, as in the table case: tree carbon 0.595722 + 0.149526 = 0.745249 t C.
    table = result.tables["zone_carbon"]
    tree = table[(table["method"] == "stock_volume")]
    assert tree["zone_id"].unique().tolist() == ["A"]
    assert tree["carbon_t"].sum() == pytest.approx(0.745249, rel=1e-6)


def test_bad_tables_and_config(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path, rows=[pool_row("forest", 10, 5, 40, 2, c_above_low=12)])
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                     carbon={"pools": str(s["pools"])})
    with pytest.raises(ValidationFailed, match="c_above_low <= c_above <= c_above_high fails for class forest"):
        check_inputs(cfg)
    with pytest.raises(ValueError, match="match no land-cover epoch"):
        run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                   carbon={"biomass": [{"year": 2001, "path": str(s["lc2000"])}]})


def test_other_code_reruns_even_under_the_same_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an upgrade that keeps the version number (a git pull of main) must not serve the old code's figures
    s = _two_zone_setup(tmp_path)
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                     carbon={"pools": str(s["pools"])})
    runner.run(cfg)
    assert runner.run(cfg).skipped
    monkeypatch.setattr(runner, "package_fingerprint", lambda: "other code")
    assert not runner.run(cfg).skipped


def test_editing_the_pools_table_reruns(tmp_path: Path) -> None:
    s = _two_zone_setup(tmp_path)
    cfg = run_config(tmp_path, epochs={2000: s["lc2000"]}, zones=s["zones"], classes=s["classes"],
                     carbon={"pools": str(s["pools"])})
    runner.run(cfg)
    assert runner.run(cfg).skipped
    write_csv(s["pools"], [pool_row("forest", 10, 5, 40, 2), pool_row("grassland", 1, 2, 40, 0)])
    again = runner.run(cfg)
    # B: 0.08 ha x (1 + 2 + 40 + 0) = 3.44 t C with the edited grass soil.
    assert not again.skipped
    assert _total(again, "B", 2000)["carbon_t"] == pytest.approx(3.44)


def test_citations_are_numbered_in_the_order_first_cited_across_epochs() -> None:
    # epoch 2000 cites B then A, epoch 2001 cites C and A, and one row cites nothing: ids B=1, A=2, C=3
    first = pd.DataFrame({"zone_id": ["z", "z", "z"], "year": 2000,
                          "source": pd.Categorical(["B", "A", None], categories=["A", "B"])})
    second = pd.DataFrame({"zone_id": ["z", "z"], "year": 2001, "source": pd.Categorical(["C", "A"])})
    stock = ct.joined([first, second])
    assert isinstance(stock["source"].dtype, pd.CategoricalDtype)  # the texts are never copied into every row
    table, sources = ct.cite(stock)
    assert table["source_id"].tolist() == [1, 2, pd.NA, 3, 2]
    assert dict(zip(sources["source_id"], sources["source"], strict=True)) == {1: "B", 2: "A", 3: "C"}
