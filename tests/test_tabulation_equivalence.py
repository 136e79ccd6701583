"""The vectorised stages give the numbers the per-row stages gave (tests/legacy keeps those verbatim).

Compared on the shipped demos with carbon and plans, and on a random case that uses every carbon method
at once (pools table with ranges, a biomass raster for one epoch, stock volume for some zones), five
epochs and zones of random sizes. Differences allowed: the new tables leave out rows of zero area and
pool rows holding nothing, and zone_carbon cites its sources by `source_id` (text in carbon_sources)
instead of repeating the text.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from carbon_helpers import X0, Y0, pool_row, write_csv, write_raster
from conftest import ROOT
from legacy import carbon as old_carbon
from legacy import class_area as old_class_area
from legacy import progress as old_progress
from legacy import transitions as old_transitions

from pipeline.config import Output, RunConfig, load_config
from pipeline.graph import Computed, build_graph, compute
from pipeline.inputs.check import Inputs, check_inputs
from pipeline.stages import carbon, class_area, progress, transitions


def _computed(config: RunConfig) -> tuple[Inputs, Computed]:
    inputs = check_inputs(config, deep=False)
    return inputs, compute(build_graph(inputs), config=config, progress=None)


def _same(new: pd.DataFrame, old: pd.DataFrame, *, keys: list[str]) -> None:
    """Same rows (by keys) and the same values, to rounding; text columns equal."""
    assert len(new) == len(old)
    left, right = new.set_index(keys).sort_index(), old.set_index(keys).sort_index()
    assert list(left.index) == list(right.index)
    for column in right.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            assert np.allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-9, atol=1e-9,
                               equal_nan=True), column
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), column


def _compare(inputs: Inputs, computed: Computed) -> None:
    old_areas = old_class_area.tabulate(inputs, computed)
    new_areas = class_area.tabulate(inputs, computed)
    old_long, new_long = old_areas.tables["zone_class_area"], new_areas.tables["zone_class_area"]
    _same(new_long, old_long[old_long["area_ha"] > 0], keys=["zone_id", "year", "class"])
    old_fields, new_fields = old_areas.zone_fields, new_areas.zone_fields
    assert old_fields is not None
    assert new_fields is not None
    _same(new_fields.rename_axis("zone").reset_index(), old_fields.rename_axis("zone").reset_index(), keys=["zone"])

    old_stock = old_carbon.tabulate(inputs, computed, class_area=old_long)
    new_stock = carbon.tabulate(inputs, computed, class_area=new_long)
    if inputs.carbon is not None:
        table = new_stock.tables["zone_carbon"]
        texts = new_stock.tables["carbon_sources"].set_index("source_id")["source"]
        cited = table.assign(source=table.pop("source_id").map(texts).fillna(""))
        old = old_stock.tables["zone_carbon"]
        # pool rows with no carbon and no interval (dead wood at 0 t/ha) are no longer written
        held = (old["pool"] == "total") | (old["carbon_t"] != 0) | (old["co2e_low_t"] != old["co2e_high_t"])
        _same(cited, old[held], keys=["zone_id", "year", "pool", "method"])
        if "zone_change" in old_stock.tables:
            _same(new_stock.tables["zone_change"], old_stock.tables["zone_change"], keys=["zone_id", "year_from"])
        assert new_stock.notes == old_stock.notes
    if inputs.plans is not None:
        old_rows = old_progress.tabulate(inputs, class_area=old_long, carbon=old_stock.tables.get("zone_carbon"))
        new_rows = progress.tabulate(inputs, class_area=new_long, carbon=new_stock.tables.get("zone_carbon"))
        _same(new_rows.tables["zone_progress"].astype({"latest_year": float}),
              old_rows.tables["zone_progress"].astype({"latest_year": float}), keys=["zone_id", "metric"])
    if computed.transitions:
        _same(transitions.tabulate(inputs, computed).tables["zone_transitions"],
              old_transitions.tabulate(inputs, computed).tables["zone_transitions"],
              keys=["zone_id", "year_from", "year_to", "class_from", "class_to"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sao_tome_worldcover", "baotou_modis"])
def test_demos_tabulate_as_before(name: str, tmp_path: Path) -> None:
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    _compare(*_computed(config.model_copy(update={"output": Output(dir=tmp_path / "out"), "candidates": None})))


def _random_case(tmp_path: Path, seed: int) -> RunConfig:
    """60 x 60 cells of 10 m, five epochs of patchy classes with changes, 25 random zones."""
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(1, 6, (12, 12)), np.ones((5, 5), dtype=np.int64))
    epochs = {}
    for k, year in enumerate((2000, 2005, 2010, 2015, 2020)):
        codes = np.where(rng.random(base.shape) < 0.1 * k, rng.integers(1, 6, base.shape), base).astype(np.uint8)
        codes[:3, :3] = 0  # a nodata corner
        epochs[year] = write_raster(tmp_path / f"lc{year}.tif", codes, cell=10.0, nodata=0)
    x, y = rng.uniform(0, 560, 25), rng.uniform(0, 560, 25)
    w, h = rng.uniform(5, 200, 25), rng.uniform(5, 200, 25)
    geoms = [shapely.box(X0 + a, Y0 - b - d, X0 + a + c, Y0 - b) for a, b, c, d in zip(x, y, w, h, strict=True)]
    geoms = list(shapely.difference(geoms, shapely.union_all(geoms[:1])))[1:] + [geoms[0]]  # some overlaps cut
    ids = [f"Z{i:02d}" for i in range(len(geoms))]
    gpd.GeoDataFrame({"zid": ids}, geometry=geoms, crs="EPSG:32610").to_file(tmp_path / "z.gpkg")
    pools = write_csv(tmp_path / "pools.csv", [
        pool_row("forest", 40, 10, 60, 2, c_above_low=20, c_above_high=80, c_soil_low=40, c_soil_high=70),
        pool_row("shrub", 8, 3, 50, 0, c_below_low=1, c_below_high=6),
        pool_row("grassland", 1, 2, 45, 0, c_soil_low=30, c_soil_high=50),
        pool_row("cropland", 0, 0, 35, 0), pool_row("built", 0, 0, 0, 0)])
    volume = write_csv(tmp_path / "volume.csv", [
        {"zone_id": ids[i], "species": sp, "volume_m3_ha": float(v), "year": yr}
        for i, sp, v, yr in ((1, "pinus_tabuliformis", 40, 2010), (2, "populus", 80, 2020),
                             (2, "pinus_tabuliformis", 20, 2020), (3, "populus", 10, 2000))])
    agb = write_raster(tmp_path / "agb.tif", rng.uniform(0, 90, (30, 30)).astype(np.float32), cell=20.0,
                       nodata=-1.0)
    plans = tmp_path / "plans.csv"
    plans.write_text("zone_id,sink_type,target_share_pct,target_area_ha,target_carbon_t,target_year\n" + "".join(
        f"{z},{rng.choice(['forest', 'grassland', 'wetland'])},{rng.uniform(5, 60):.1f},"
        f"{rng.uniform(0.1, 2):.2f},{rng.uniform(1, 50):.1f},2030\n" for z in ids[::2]), encoding="utf-8")
    return RunConfig.model_validate({
        "name": "equivalence", "landcover": [{"year": y, "path": str(p)} for y, p in epochs.items()],
        "zones": {"path": str(tmp_path / "z.gpkg"), "id_field": "zid"}, "classes": str(_classes(tmp_path)),
        "output": {"dir": str(tmp_path / "out")}, "compute": {"chunk_cells": 64}, "plans": {"path": str(plans)},
        "carbon": {"pools": str(pools), "biomass": [{"year": 2015, "path": str(agb)}],
                   "volume": {"table": str(volume)}},
        "transitions": {"pairs": [[2005, 2015]]}})


def _classes(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text("classes: {forest: [1], shrub: [2], grassland: [3], cropland: [4], built: [5], wetland: [6], "
                    "nodata: [0]}\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("seed", [1, 2])
def test_random_case_tabulates_as_before(tmp_path: Path, seed: int) -> None:
    inputs, computed = _computed(_random_case(tmp_path, seed))
    assert inputs.carbon is not None
    assert inputs.plans is not None
    areas = class_area.tabulate(inputs, computed).tables["zone_class_area"]
    methods = set(carbon.tabulate(inputs, computed, class_area=areas).tables["zone_carbon"]["method"])
    assert {"stock_volume", "biomass_raster", "pools_table"} <= methods  # every kind of term is compared
    _compare(inputs, computed)
