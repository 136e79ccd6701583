"""zone_transitions for any run with two or more epochs: consecutive pairs, first to last, and the config's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders import write_box_zones, write_class_map, write_utm_raster

from pipeline.core.config import RunConfig, Transitions
from pipeline.measure.graph import transition_pairs
from pipeline.run import runner


def test_default_pairs_are_consecutive_and_first_to_last() -> None:
    years = [2001, 2005, 2010, 2020]
    assert transition_pairs(years, Transitions()) == [(0, 1), (0, 3), (1, 2), (2, 3)]
    assert transition_pairs(years, Transitions(pairs=((2005, 2020),))) == [(0, 1), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert transition_pairs(years, Transitions(consecutive=False, pairs=((2001, 2010),))) == [(0, 2), (0, 3)]
    assert transition_pairs([2020], Transitions()) == []


def _config(tmp_path: Path, **transitions: object) -> RunConfig:
    # one zone over 2 x 1 cells of 10 m (0.01 ha each). Cell 0: forest, grass, crop; cell 1: grass throughout.
    epochs = {}
    for year, first in ((2000, 1), (2005, 2), (2010, 3)):
        epochs[year] = write_utm_raster(tmp_path / f"lc{year}.tif", np.array([[first, 2]], dtype=np.uint8), cell=10.0)
    classes = write_class_map(tmp_path / "c.yaml", {"forest": [1], "grassland": [2], "cropland": [3]})
    zones = write_box_zones(tmp_path / "z.gpkg", {"Z": (0, 0, 20, 10)})
    return RunConfig.model_validate({
        "name": "transitions", "landcover": [{"year": y, "path": str(p)} for y, p in epochs.items()],
        "zones": {"path": str(zones), "id_field": "zid"}, "classes": str(classes),
        "output": {"dir": str(tmp_path / "out")}, "transitions": transitions})


def test_run_without_carbon_has_transitions_first_to_last(tmp_path: Path) -> None:
    table = runner.run(_config(tmp_path)).tables["zone_transitions"]
    rows = {(r.year_from, r.year_to, r.class_from, r.class_to): r.area_ha for r in table.itertuples()}
    # 0.01 ha a cell: each pair moves cell 0 and keeps cell 1 as grassland
    assert rows == pytest.approx({
        (2000, 2005, "forest", "grassland"): 0.01, (2000, 2005, "grassland", "grassland"): 0.01,
        (2005, 2010, "grassland", "cropland"): 0.01, (2005, 2010, "grassland", "grassland"): 0.01,
        (2000, 2010, "forest", "cropland"): 0.01, (2000, 2010, "grassland", "grassland"): 0.01})


def test_pairs_must_be_epochs_and_run_forward(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no land-cover epoch"):
        _config(tmp_path, pairs=[[2000, 2020]])
    with pytest.raises(ValueError, match="earlier year to a later one"):
        _config(tmp_path, pairs=[[2010, 2000]])
