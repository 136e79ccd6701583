"""Issue 11: inputs that gave wrong figures with exit 0 now stop with exit 2 and a message naming the
file, the offending value and what to do; files are built as a bureau's folders hold them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.control
import yaml
from affine import Affine
from builders import (
    ORIGIN,
    SIZE,
    good_inputs,
    land_cover,
    two_zones,
    write_config,
    write_tiled_raster,
    write_zone_layer,
)
from cli_support import assert_clean_failure, cli


def _both_fail(config: Path, *needles: str) -> None:
    for command in ("validate", "run"):
        result = cli(command, str(config))
        assert_clean_failure(result, *needles)
        assert result.exit_code == 2


# ---- a path with [ ? * --------------------------------------------------------------------------------


def test_an_existing_file_with_brackets_in_its_name_is_read_as_that_file(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc[2020].tif", land_cover())
    config = write_config(tmp_path, rasters={2020: raster}, zones=write_zone_layer(tmp_path / "z.gpkg", two_zones()))
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output


def test_a_missing_bracket_name_never_uses_a_neighbour_that_matches_it(tmp_path: Path) -> None:
    write_tiled_raster(tmp_path / "lc2.tif", land_cover())  # matches `lc[2].tif` read as a pattern
    config = write_config(tmp_path, rasters={2020: tmp_path / "lc[2].tif"},
                          zones=write_zone_layer(tmp_path / "z.gpkg", two_zones()))
    _both_fail(config, "lc[2].tif: no file has this name", "matches only lc2.tif")


def test_a_pattern_matching_nothing_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, rasters={2020: tmp_path / "tiles" / "*_Map.tif"},
                          zones=write_zone_layer(tmp_path / "z.gpkg", two_zones()))
    _both_fail(config, "*_Map.tif: file not found, and no tile matches it")


# ---- rasters ---------------------------------------------------------------------------------------------


def test_nodata_equal_to_a_class_code_is_refused(tmp_path: Path) -> None:
    values = np.random.default_rng(1).choice(np.array([10, 20, 30], dtype=np.uint8), (SIZE, SIZE))
    raster = write_tiled_raster(tmp_path / "ESA_WorldCover_10m_2021_v200_N00E009_Map.tif", values, nodata=10)
    config = write_config(tmp_path, rasters={2021: raster}, zones=write_zone_layer(tmp_path / "z.gpkg", two_zones()),
                          classes="esa_worldcover")
    _both_fail(config, "the raster's declared nodata is 10", "code of class 'forest'", "set `nodata:`")


def test_a_multi_band_land_cover_raster_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lc_rgb.tif"
    profile = {"driver": "GTiff", "height": SIZE, "width": SIZE, "count": 3, "dtype": "uint8",
               "transform": ORIGIN, "crs": "EPSG:4326"}
    with rasterio.open(path, "w", **profile) as dst:
        for band in (1, 2, 3):
            dst.write(land_cover(seed=band), band)
    config = write_config(tmp_path, rasters={2020: path}, zones=write_zone_layer(tmp_path / "z.gpkg", two_zones()))
    _both_fail(config, "lc_rgb.tif: the raster has 3 bands", "gdal_translate -b 1")


def test_a_gcp_only_raster_is_told_to_warp_not_to_assign_a_crs(tmp_path: Path) -> None:
    path = tmp_path / "scan.tif"
    with rasterio.open(path, "w", driver="GTiff", height=SIZE, width=SIZE, count=1, dtype="uint8") as dst:
        dst.write(land_cover(), 1)
        corners = [(0, 0, 10.0, 1.0), (0, SIZE, 10.064, 1.0), (SIZE, 0, 10.0, 0.936), (SIZE, SIZE, 10.064, 0.936)]
        dst.gcps = ([rasterio.control.GroundControlPoint(row=r, col=c, x=x, y=y) for r, c, x, y in corners],
                    rasterio.crs.CRS.from_epsg(4326))
    config = write_config(tmp_path, rasters={2020: path}, zones=write_zone_layer(tmp_path / "z.gpkg", two_zones()))
    _both_fail(config, "scan.tif: the raster is located only by 4 ground control points", "gdalwarp")
    assert "assign one" not in cli("validate", str(config)).output


def test_a_rotated_lat_lon_raster_is_named(tmp_path: Path) -> None:
    rotated = Affine(0.001, 0.0002, 10.0, 0.0002, -0.001, 1.0)
    raster = write_tiled_raster(tmp_path / "rotated.tif", land_cover(), transform=rotated)
    config = write_config(tmp_path, rasters={2020: raster}, zones=write_zone_layer(tmp_path / "z.gpkg", two_zones()))
    _both_fail(config, "rotated.tif: the raster's grid is rotated", "warp it north-up")


# ---- the year of a bare --landcover PATH ------------------------------------------------------------------


def _one_off(tmp_path: Path, raster: Path) -> list[str]:
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones())
    return ["run", "--landcover", str(raster), "--zones", str(zones), "--zone-id", "zid", "--classes", "clcd",
            "--out", str(tmp_path / "out")]


def test_a_bare_landcover_path_takes_the_year_in_its_name(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "CLCD_v01_2020_albert.tif", land_cover())
    result = cli(*_one_off(tmp_path, raster))
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [e["year"] for e in record["config"]["landcover"]] == [2020]


@pytest.mark.parametrize("name", ["landcover.tif", "clc2018_v2020_20u1.tif"])
def test_a_bare_landcover_path_without_one_year_in_its_name_is_refused(tmp_path: Path, name: str) -> None:
    raster = write_tiled_raster(tmp_path / name, land_cover())
    result = cli(*_one_off(tmp_path, raster))
    assert_clean_failure(result, f"{name}: its file name holds no year", f"--landcover 2020={raster}")
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


# ---- carbon pools tables ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("bad", "shown"), [("inf", "inf"), ("nan", "nan"), ("1e308", "1e+308"), ("-3", "-3.0")])
def test_a_pools_table_with_non_finite_or_absurd_factors_is_refused(tmp_path: Path, bad: str, shown: str) -> None:
    config = good_inputs(tmp_path)
    pools = tmp_path / "pools.csv"
    pools.write_text("class,c_above,c_below,c_soil,c_dead\n"
                     "forest,56.4,12.9,50,0\n"
                     f"grassland,{bad},3.0,50,0\n", encoding="utf-8")
    raw = yaml.safe_load(config.read_text())
    raw["carbon"] = {"pools": str(pools)}
    config.write_text(yaml.safe_dump(raw))
    needles = ["pools.csv: column c_above needs a number from 0 to 5000 for grassland"]
    if bad != "nan":  # pandas reads the text nan as a missing value, shown as such
        needles.append(f"grassland ({shown})")
    _both_fail(config, *needles)
    assert not (tmp_path / "out").exists()
