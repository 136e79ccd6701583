"""Appending a year: a run whose config gained an epoch reads only what it has not summed before."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from builders import write_raster, write_zones

from pipeline.core.config import RunConfig
from pipeline.files.rasters import WindowSource
from pipeline.measure import graph
from pipeline.run import runner

CRS = "EPSG:32649"
TRANSFORM = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_500_000.0)
YEARS = (2017, 2018, 2019, 2020)


@pytest.fixture
def case(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    rasters = {year: write_raster(tmp_path / f"clcd_{year}.tif", rng.integers(1, 10, (40, 50), dtype=np.uint8),
                                  transform=TRANSFORM, crs=CRS, blocks=16) for year in YEARS}
    zones = gpd.GeoDataFrame({"zid": ["a", "b"]}, geometry=[shapely.box(500_100, 4_498_900, 500_800, 4_499_950),
                                                          shapely.box(500_700, 4_498_850, 501_450, 4_499_500)], crs=CRS)
    return {"tmp": tmp_path, "rasters": rasters, "zones": write_zones(tmp_path / "zones.gpkg", zones)}


def _config(case: dict[str, Any], years: tuple[int, ...], out: str) -> RunConfig:
    return RunConfig.model_validate({
        "landcover": [{"year": y, "path": str(case["rasters"][y])} for y in years],
        "zones": {"path": str(case["zones"]), "id_field": "zid"}, "classes": "clcd",
        "transitions": {"consecutive": True, "first_last": False},
        "output": {"dir": str(case["tmp"] / out)}})


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Which rasters the chunk tasks read, by file name."""
    counted: Counter[str] = Counter()
    real = graph.read_window

    def counting(source: WindowSource, *args: int) -> Any:
        counted[Path(source.path).name] += 1
        return real(source, *args)

    monkeypatch.setattr(graph, "read_window", counting)
    return counted


def _same_tables(left: runner.RunResult, right: runner.RunResult) -> None:
    for name in ("zone_class_area", "zone_transitions"):
        pd.testing.assert_frame_equal(pd.DataFrame(left.tables[name]), pd.DataFrame(right.tables[name]))
    pd.testing.assert_frame_equal(pd.DataFrame(left.zones), pd.DataFrame(right.zones))


def test_a_new_epoch_is_the_only_one_summed_again(case: dict[str, Any], reads: Counter[str]) -> None:
    runner.run(_config(case, YEARS[:3], "out"))
    reads.clear()
    appended = runner.run(_config(case, YEARS, "out"))
    # 2020 is new; the new pair 2019 -> 2020 reads 2019 again; 2017 and 2018 come from the cache
    assert set(reads) == {"clcd_2019.tif", "clcd_2020.tif"}
    fresh = runner.run(_config(case, YEARS, "fresh"))
    _same_tables(appended, fresh)  # bit-identical, as integer totals are whatever the order of work


def test_a_changed_zone_layer_or_overwrite_sums_everything_again(case: dict[str, Any], reads: Counter[str]) -> None:
    runner.run(_config(case, YEARS[:3], "out"))
    moved = gpd.read_file(case["zones"]).assign(geometry=lambda f: f.geometry.translate(30, 0))
    write_zones(case["zones"], moved)
    reads.clear()
    runner.run(_config(case, YEARS, "out"))
    assert set(reads) == {f"clcd_{y}.tif" for y in YEARS}
    reads.clear()
    runner.run(_config(case, YEARS, "out"), overwrite=True)
    assert set(reads) == {f"clcd_{y}.tif" for y in YEARS}


def test_an_edited_epoch_file_is_summed_again(case: dict[str, Any], reads: Counter[str]) -> None:
    runner.run(_config(case, YEARS, "out"))
    write_raster(case["rasters"][2017], np.full((40, 50), 2, dtype=np.uint8), transform=TRANSFORM, crs=CRS, blocks=16)
    reads.clear()
    result = runner.run(_config(case, YEARS, "out"))
    # 2017's own totals and its pair 2017 -> 2018 are stale; 2018 is read again for that pair only
    assert set(reads) == {"clcd_2017.tif", "clcd_2018.tif"}
    forest = result.tables["zone_class_area"].query("year == 2017 and `class` != 'forest' and `class` != 'nodata'")
    assert forest.empty  # the edited 2017 map is all forest (CLCD 2), and the tables say so
