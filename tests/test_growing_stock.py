"""森林蓄积量 per zone and region from the carbon section's stock-volume records, and growth between inventories."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import write_box_zones, write_class_map, write_csv, write_utm_raster

from pipeline.core.config import RunConfig
from pipeline.inputs.check import check_inputs
from pipeline.measure.graph import build_graph, compute
from pipeline.metrics import class_area, growing_stock


def _stock(tmp: Path, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Two epochs, 2000 and 2005, of 4 x 4 forest cells of 10 m; zones A (x 0-20 m) and B (x 20-40 m), 0.08 ha each."""
    epochs = {y: write_utm_raster(tmp / f"lc{y}.tif", np.ones((4, 4), dtype=np.uint8), cell=10.0) for y in (2000, 2005)}
    zones = write_box_zones(tmp / "z.gpkg", {"A": (0, 0, 20, 40), "B": (20, 0, 40, 40)})
    config = RunConfig.model_validate({
        "name": "stock", "landcover": [{"year": y, "path": str(p)} for y, p in epochs.items()],
        "zones": {"path": str(zones), "id_field": "zid"},
        "classes": str(write_class_map(tmp / "c.yaml", {"forest": [1], "grassland": [2]})),
        "output": {"dir": str(tmp / "o")}, "region": {"name": "R"},
        "carbon": {"volume": {"table": str(write_csv(tmp / "v.csv", rows))}}})
    inputs = check_inputs(config, deep=False)
    long = class_area.tabulate(inputs, compute(build_graph(inputs), config=config, progress=None)).tables[
        "zone_class_area"]
    return growing_stock.tabulate(inputs, class_area=long).tables["zone_growing_stock"]


def test_two_inventories_give_stock_and_yearly_growth(tmp_path: Path) -> None:
    """A: 100 m³ in 2000; 100 + 50 m³ (two species) in 2005: growth 50 / 5 = 10 m³/yr. B: 40 -> 30: -2 m³/yr.
    Region: 140 -> 180 m³, 8 m³/yr."""
    sp = "pinus_tabuliformis"
    table = _stock(tmp_path, [{"zone_id": "A", "species": sp, "volume_m3": 100, "year": 2000},
                              {"zone_id": "A", "species": sp, "volume_m3": 100, "year": 2005},
                              {"zone_id": "A", "species": "populus", "volume_m3": 50, "year": 2005},
                              {"zone_id": "B", "species": sp, "volume_m3": 40, "year": 2000},
                              {"zone_id": "B", "species": sp, "volume_m3": 30, "year": 2005}])
    got = {(r.zone_id, r.year): (r.growing_stock_m3, r.growth_m3_per_year) for r in table.itertuples()}
    assert got[("A", 2005)] == pytest.approx((150.0, 10.0))
    assert got[("B", 2005)] == pytest.approx((30.0, -2.0))
    assert got[("R", 2005)] == pytest.approx((180.0, 8.0))
    assert got[("R", 2000)][0] == pytest.approx(140.0)
    assert math.isnan(got[("R", 2000)][1])


def test_one_undated_inventory_has_no_growth(tmp_path: Path) -> None:
    """50 m³/ha over A's 0.08 ha of forest: 4 m³ in each epoch, and no growth (one inventory)."""
    table = _stock(tmp_path, [{"zone_id": "A", "species": "pinus_tabuliformis", "volume_m3_ha": 50}])
    a = table[table["zone_id"] == "A"]
    assert a["growing_stock_m3"].tolist() == pytest.approx([4.0, 4.0])
    assert a["growth_m3_per_year"].isna().all()
