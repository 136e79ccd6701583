"""Value rasters per zone and class (zone_values): hand-derived cases on grids other than the land cover's,
half-covered cells, nodata and the valid range, the land-cover epoch used, and chunk invariance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import UTM10N, X0, Y0, write_box_zones, write_class_map, write_raster, write_utm_raster
from rasterio.transform import from_origin

from pipeline.core.config import RunConfig
from pipeline.core.errors import ValidationFailed
from pipeline.inputs.check import Inputs, check_inputs
from pipeline.measure.graph import build_graph, compute
from pipeline.metrics import values

# UTM 10N moved 100 km east: another CRS (coordinates are transformed), with x' = x + 100,000 m
SHIFTED = "+proj=tmerc +lat_0=0 +lon_0=-123 +k=0.9996 +x_0=600000 +y_0=0 +datum=WGS84 +units=m +no_defs"


def _config(tmp: Path, *, landcover: dict[int, Path], zones: Path, value_rasters: list[dict[str, Any]],
            chunk_cells: int = 2048) -> RunConfig:
    classes = write_class_map(tmp / "c.yaml", {"forest": [1], "grassland": [2]})
    return RunConfig.model_validate({
        "name": "values_test", "landcover": [{"year": y, "path": str(p)} for y, p in landcover.items()],
        "zones": {"path": str(zones), "id_field": "zid"}, "classes": str(classes),
        "output": {"dir": str(tmp / "out")}, "compute": {"chunk_cells": chunk_cells}, "values": value_rasters})


def _zone_values(config: RunConfig) -> tuple[pd.DataFrame, Inputs]:
    inputs = check_inputs(config, deep=False)
    computed = compute(build_graph(inputs), config=config, progress=None)
    return values.tabulate(inputs, computed).tables["zone_values"], inputs


def _row(table: pd.DataFrame, zone: str, klass: str) -> dict[str, Any]:
    rows = table[(table["zone_id"] == zone) & (table["class"] == klass)]
    assert len(rows) == 1
    return dict(rows.iloc[0])


def test_finer_ndvi_with_half_covered_cells(tmp_path: Path) -> None:
    """Land cover 2 x 2 cells of 40 m, forest (1) in the left column, grassland (2) in the right; NDVI on 20 m
    cells (finer, so evaluated on the NDVI grid), MOD13Q1 style: scale 0.0001, nodata -3000.

    NDVI raw, rows 0-1 (rows 2-3 lie outside both zones):  2000 4000 6000  8000
                                                           3000 5000 7000 -3000
    Zone A spans x 0-50 m, y 0-40 m down: NDVI columns 0-1 whole (centres at 10 and 30 m: forest), column 2 half
    (centre 50 m: land-cover column 1, grassland). Zone B spans x 50-80 m: column 2 half and column 3 whole.
    A forest: 0.2 0.3 0.4 0.5 on 400 m² each: 0.16 ha, mean 0.35; p10 needs 10 % of 4 cells (0.4): 0.2;
      p50 needs 2 cells: 0.3; p90 needs 3.6 cells: 0.5.
    A grassland: 0.6 and 0.7 on 200 m² each: 0.04 ha, mean 0.65, p50 needs 200 m²: 0.6, p90: 0.7.
    B grassland: 0.6, 0.7 on 200 m², 0.8 on 400 m², nodata left out: 0.08 ha; mean (120 + 140 + 320) / 800
      = 0.725; p10 needs 80 m²: 0.6; p50 needs 400 m²: 0.7 (200 + 200); p90 needs 720 m²: 0.8.
    """
    lc = write_utm_raster(tmp_path / "lc.tif", np.array([[1, 2], [1, 2]], dtype=np.uint8), cell=40.0)
    raw = np.array([[2000, 4000, 6000, 8000], [3000, 5000, 7000, -3000], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.int16)
    ndvi = write_utm_raster(tmp_path / "ndvi.tif", raw, cell=20.0, nodata=-3000)
    zones = write_box_zones(tmp_path / "z.gpkg", {"A": (0, 0, 50, 40), "B": (50, 0, 80, 40)})
    table, _ = _zone_values(_config(tmp_path, landcover={2020: lc}, zones=zones, value_rasters=[
        {"name": "ndvi", "year": 2020, "path": str(ndvi), "scale": 0.0001, "valid": [-2000, 10000]}]))
    assert set(zip(table["zone_id"], table["class"], strict=True)) == {("A", "forest"), ("A", "grassland"),
                                                                       ("B", "grassland")}
    expected = {("A", "forest"): (0.16, 0.35, 0.2, 0.5, 0.2, 0.3, 0.5),
                ("A", "grassland"): (0.04, 0.65, 0.6, 0.7, 0.6, 0.6, 0.7),
                ("B", "grassland"): (0.08, 0.725, 0.6, 0.8, 0.6, 0.7, 0.8)}
    for (zone, klass), numbers in expected.items():
        row = _row(table, zone, klass)
        got = tuple(row[c] for c in ("observed_ha", "mean", "min", "max", "p10", "p50", "p90"))
        assert got == pytest.approx(numbers)
        assert row["landcover_year"] == 2020


def test_coarser_values_in_another_crs_take_the_cell_each_centre_falls_in(tmp_path: Path) -> None:
    """Land cover 20 m cells, 4 x 4, all forest in columns 0-1 and grassland in 2-3; a canopy-height raster of
    40 m cells in UTM shifted 100 km east (another CRS), 2 x 2: [[10, 20], [30, 40]] (no scale).

    The land cover is finer, so each 20 m cell takes the height of the 40 m cell its centre falls in. Zone Z
    spans x 10-60 m, y 0-80 m down. Forest: column 0 half (x 10-20) and column 1 whole, rows 0-3: heights
    10 (rows 0-1), 30 (rows 2-3); areas 200 + 400 m² per row, 2400 m² in all, half at 10 and half at 30:
    mean 20, p50 needs 1200 m²: 10. Grassland: column 2 whole (centre x 50: height column 1), rows 0-3: 20
    and 40 over 800 m² each, mean 30. Column 3 lies outside Z.
    """
    lc = write_utm_raster(tmp_path / "lc.tif", np.array([[1, 1, 2, 2]] * 4, dtype=np.uint8), cell=20.0)
    height = write_utm_raster(tmp_path / "h.tif", np.array([[10.0, 20.0], [30.0, 40.0]], dtype=np.float32),
                              cell=40.0, x0=X0 + 100_000, crs=SHIFTED)
    zones = write_box_zones(tmp_path / "z.gpkg", {"Z": (10, 0, 60, 80)}, crs=UTM10N)
    table, _ = _zone_values(_config(tmp_path, landcover={2020: lc}, zones=zones, value_rasters=[
        {"name": "height", "year": 2020, "path": str(height)}]))
    forest, grass = _row(table, "Z", "forest"), _row(table, "Z", "grassland")
    assert (forest["observed_ha"], forest["mean"], forest["p50"], forest["max"]) == pytest.approx((0.24, 20, 10, 30))
    assert (grass["observed_ha"], grass["mean"], grass["min"], grass["max"]) == pytest.approx((0.16, 30, 20, 40))


def test_values_take_the_nearest_earlier_epoch_and_say_so(tmp_path: Path) -> None:
    """Epochs 2010 (all forest) and 2020 (all grassland); NDVI of 2015 is summarised by the 2010 classes."""
    lc2010 = write_utm_raster(tmp_path / "a.tif", np.ones((2, 2), dtype=np.uint8), cell=40.0)
    lc2020 = write_utm_raster(tmp_path / "b.tif", np.full((2, 2), 2, dtype=np.uint8), cell=40.0)
    ndvi = write_utm_raster(tmp_path / "n.tif", np.full((4, 4), 5000, dtype=np.int16), cell=20.0)
    zones = write_box_zones(tmp_path / "z.gpkg", {"A": (0, 0, 80, 80)})
    table, inputs = _zone_values(_config(tmp_path, landcover={2010: lc2010, 2020: lc2020}, zones=zones,
                                         value_rasters=[{"name": "ndvi", "year": 2015, "path": str(ndvi),
                                                         "scale": 0.0001}]))
    assert table[["class", "landcover_year", "mean"]].values.tolist() == [["forest", 2010, 0.5]]
    assert any("nearest earlier epoch" in note and "2010" in note for note in inputs.notes)


def test_chunking_does_not_change_the_statistics(tmp_path: Path) -> None:
    """Random NDVI (with nodata) on 10 m cells over random land cover on 30 m cells, zones crossing chunk
    edges: the statistics are identical whether the raster is one chunk or many."""
    rng = np.random.default_rng(5)
    lc = write_utm_raster(tmp_path / "lc.tif", rng.integers(1, 3, (70, 70)).astype(np.uint8), cell=30.0)
    raw = rng.integers(-2000, 10000, (210, 210)).astype(np.int16)
    raw[rng.random(raw.shape) < 0.05] = -3000
    ndvi = write_utm_raster(tmp_path / "n.tif", raw, cell=10.0, nodata=-3000)
    zones = write_box_zones(tmp_path / "z.gpkg", {"A": (5, 7, 1333, 999), "B": (900, 400, 2055, 2071)})
    spec = [{"name": "ndvi", "year": 2020, "path": str(ndvi), "scale": 0.0001}]
    whole, _ = _zone_values(_config(tmp_path, landcover={2020: lc}, zones=zones, value_rasters=spec))
    pieces, _ = _zone_values(_config(tmp_path, landcover={2020: lc}, zones=zones, value_rasters=spec, chunk_cells=64))
    pd.testing.assert_frame_equal(whole, pieces)
    assert len(whole) == 4


def test_every_value_raster_problem_at_once(tmp_path: Path) -> None:
    """A raster without CRS and one of a year before every epoch: both reported together."""
    lc = write_utm_raster(tmp_path / "lc.tif", np.ones((2, 2), dtype=np.uint8), cell=40.0)
    bare = write_raster(tmp_path / "bare.tif", np.ones((4, 4), dtype=np.int16), transform=from_origin(X0, Y0, 20, 20),
                        crs=None)
    early = write_utm_raster(tmp_path / "early.tif", np.ones((4, 4), dtype=np.int16), cell=20.0)
    zones = write_box_zones(tmp_path / "z.gpkg", {"A": (0, 0, 80, 80)})
    config = _config(tmp_path, landcover={2020: lc}, zones=zones, value_rasters=[
        {"name": "ndvi", "year": 2020, "path": str(bare)}, {"name": "ndvi", "year": 2001, "path": str(early)}])
    with pytest.raises(ValidationFailed) as caught:
        check_inputs(config, deep=False)
    text = str(caught.value)
    assert "bare.tif: the raster has no CRS" in text
    assert "early.tif: values ndvi of 2001 come before" in text
