"""Every bad input of issue 7 through the command line: a clear message naming the file and what to do,
a non-zero exit, no traceback, and no output folder (not even a partial one)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from builders import (
    ORIGIN,
    box_cells,
    good_inputs,
    land_cover,
    two_zones,
    write_config,
    write_tiled_raster,
    write_zone_layer,
)
from cli_support import assert_clean_failure, cli, leftovers

# Cell of 0.001 deg near 1 deg N on WGS84: 111,303 m east-west (111,320 m x cos 0.99 deg) by 110,574 m
# north-south per degree, so 111.303 m x 110.574 m = 12,307 m2.
CELL_M2 = 111.303 * 110.574


def _run_fails(config: Path, *needles: str) -> None:
    out = Path(yaml.safe_load(config.read_text())["output"]["dir"])
    assert_clean_failure(cli("validate", str(config)), *needles)
    assert_clean_failure(cli("run", str(config)), *needles)
    assert not out.exists()
    assert leftovers(config.parent) == []
    assert not out.parent.is_dir() or leftovers(out.parent) == []


def test_missing_raster_and_unreadable_raster_are_both_reported(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"this is not a GeoTIFF" * 10)
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones())
    config = write_config(tmp_path, rasters={2019: tmp_path / "nowhere.tif", 2020: garbage}, zones=zones)
    _run_fails(config, "2 problem(s)", "nowhere.tif: file not found", "garbage.tif: not a readable raster")


def test_missing_zone_file(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    config = write_config(tmp_path, rasters={2020: raster}, zones=tmp_path / "zones.gpkg")
    _run_fails(config, "zones.gpkg: file not found")


def test_truncated_geotiff_fails_on_its_blocks(tmp_path: Path) -> None:
    full = write_tiled_raster(tmp_path / "full.tif", land_cover(), driver="COG")
    data = full.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) * 2 // 3])
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones())
    config = write_config(tmp_path, rasters={2020: cut}, zones=zones)
    _run_fails(config, "cut.tif: the raster is truncated or corrupt at the block at row", "copy it again")


@pytest.mark.parametrize("which", ["raster", "zones"])
def test_file_without_crs(tmp_path: Path, which: str) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover(), crs=None if which == "raster" else "EPSG:4326")
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones(), crs=None if which == "zones" else "EPSG:4326")
    config = write_config(tmp_path, rasters={2020: raster}, zones=zones)
    needle = "lc.tif: the raster has no CRS" if which == "raster" else "z.gpkg: the zone layer has no CRS"
    _run_fails(config, needle)


def _areas(out: Path) -> pd.DataFrame:
    import geopandas as gpd

    table = gpd.read_file(out / "sinkzones.gpkg", layer="zone_class_area")
    return table.set_index(["zone_id", "class"])["area_ha"].sort_index()


def test_zones_in_another_crs_are_reprojected_and_reported(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    plain = write_zone_layer(tmp_path / "z4326.gpkg", two_zones())
    mercator = write_zone_layer(tmp_path / "z3857.gpkg", two_zones(), to_crs="EPSG:3857")
    results = {}
    for name, zones in (("a", plain), ("b", mercator)):
        folder = tmp_path / name
        folder.mkdir()
        config = write_config(folder, rasters={2020: raster}, zones=zones)
        checked = cli("validate", str(config))
        assert checked.exit_code == 0, checked.output
        noted = "reprojected zones from 'WGS 84 / Pseudo-Mercator'" in " ".join(checked.output.split())
        assert noted == (name == "b")
        assert cli("run", str(config)).exit_code == 0
        results[name] = _areas(folder / "out")
    # vertices go to Web Mercator and back: the same polygons to ~1e-9 deg, so the same areas
    np.testing.assert_allclose(results["b"].to_numpy(), results["a"].to_numpy(), rtol=1e-7, atol=1e-9)


def test_invalid_empty_and_null_geometries_are_repaired_or_dropped_and_listed(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    bowtie = shapely.Polygon([ORIGIN @ (5, 5), ORIGIN @ (20, 20), ORIGIN @ (20, 5), ORIGIN @ (5, 20)])
    line_like = shapely.Polygon([ORIGIN @ (40, 40), ORIGIN @ (50, 50), ORIGIN @ (45, 45)])
    geoms = [bowtie, shapely.Polygon(), None, line_like, box_cells(30, 30, 40, 40)]
    zones = write_zone_layer(tmp_path / "z.gpkg", geoms, ids=["bow", "empty", "null", "flat", "ok"])
    config = write_config(tmp_path, rasters={2020: raster}, zones=zones)
    checked = cli("validate", str(config))
    flat = " ".join(checked.output.split())
    assert checked.exit_code == 0, flat
    assert "dropped 2 zone(s) with empty or null geometry: ['empty', 'null']" in flat
    assert "repaired 2 invalid geometry(ies) with make_valid: ['bow', 'flat']" in flat
    assert "dropped 1 zone(s) with no area (points, lines or collapsed polygons): ['flat']" in flat
    assert cli("run", str(config)).exit_code == 0
    assert sorted(_areas(tmp_path / "out").index.get_level_values(0).unique()) == ["bow", "ok"]


def test_duplicate_zone_ids_name_the_rows(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    zones = write_zone_layer(tmp_path / "z.gpkg", [*two_zones(), box_cells(1, 1, 2, 2)], ids=["a", "b", "a"])
    _run_fails(write_config(tmp_path, rasters={2020: raster}, zones=zones),
               "duplicate 'zid' values: 'a' at feature rows [0, 2]", "Give every zone its own id")


def test_missing_zone_ids_name_the_rows(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones(), ids=["a", None])
    _run_fails(write_config(tmp_path, rasters={2020: raster}, zones=zones),
               "1 zone(s) have no 'zid' (feature rows [1])")


def test_zone_entirely_off_the_raster_is_an_error(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    zones = write_zone_layer(tmp_path / "z.gpkg", [box_cells(2, 2, 10, 10), box_cells(100, 100, 120, 120)],
                        ids=["in", "far"])
    _run_fails(write_config(tmp_path, rasters={2020: raster}, zones=zones),
               "1 zone(s) lie entirely off the raster extent: ['far']", "cover the same place")


def test_zone_partly_off_the_raster_counts_the_outside_as_nodata(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    # columns 48..80 of rows 0..16: half of it (columns 64..80) lies east of the 64-column raster
    zones = write_zone_layer(tmp_path / "z.gpkg", [box_cells(48, 0, 80, 16)], ids=["edge"])
    config = write_config(tmp_path, rasters={2020: raster}, zones=zones)
    checked = cli("validate", str(config))
    assert checked.exit_code == 0
    assert "1 zone(s) extend beyond the raster" in " ".join(checked.output.split())
    assert "edge (50.0% outside)" in " ".join(checked.output.split())
    assert cli("run", str(config)).exit_code == 0
    areas = _areas(tmp_path / "out")
    # 16 x 16 cells outside of 32 x 16: nodata is half the zone area
    assert areas["edge", "nodata"] == pytest.approx(areas["edge"].sum() / 2, rel=1e-4)


def test_unmapped_codes_are_listed_with_their_areas(tmp_path: Path) -> None:
    values = land_cover()
    values[10:15, 10:15] = 42  # 25 whole cells inside zone z0 (cells 2.5..30)
    raster = write_tiled_raster(tmp_path / "lc.tif", values)
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones())
    config = write_config(tmp_path, rasters={2020: raster}, zones=zones)
    checked = cli("validate", str(config))
    assert "codes not in class map 'clcd': 42 (25 cells)" in " ".join(checked.output.split())
    result = cli("run", str(config))
    assert_clean_failure(result, "codes inside the zones but not in class map 'clcd': 42 (")
    area_ha = float(re.search(r"42 \(([\d.,]+) ha\)", " ".join(result.output.split())).group(1))
    assert area_ha == pytest.approx(25 * CELL_M2 / 1e4, rel=1e-3)  # 25 x 12,307 m2 = 30.77 ha
    assert not (tmp_path / "out").exists()


def test_undeclared_zero_nodata_is_fine_when_the_class_map_says_zero_is_nodata(tmp_path: Path) -> None:
    values = land_cover()
    values[:, :8] = 0  # CLCD fill, no nodata in the file; the clcd class map maps 0 to nodata
    raster = write_tiled_raster(tmp_path / "lc.tif", values)
    zones = write_zone_layer(tmp_path / "z.gpkg", [box_cells(0, 0, 16, 16)], ids=["west"])
    config = write_config(tmp_path, rasters={2020: raster}, zones=zones)
    assert cli("run", str(config)).exit_code == 0
    areas = _areas(tmp_path / "out")
    # columns 0..8 of 16 are fill: half the zone is nodata
    assert areas["west", "nodata"] == pytest.approx(areas["west"].sum() / 2, rel=1e-4)


def test_undeclared_255_fill_suggests_setting_nodata(tmp_path: Path) -> None:
    values = land_cover()
    values[:, :8] = 255
    raster = write_tiled_raster(tmp_path / "lc.tif", values)
    zones = write_zone_layer(tmp_path / "z.gpkg", [box_cells(0, 0, 16, 16)], ids=["west"])
    config = write_config(tmp_path, rasters={2020: raster}, zones=zones)
    assert "set `nodata: 255`" in " ".join(cli("validate", str(config)).output.split())
    assert_clean_failure(cli("run", str(config)), "declares no nodata", "set `nodata: 255` for this epoch")
    assert not (tmp_path / "out").exists()


def test_float_raster_as_land_cover(tmp_path: Path) -> None:
    raster = write_tiled_raster(tmp_path / "ndvi.tif", land_cover().astype(np.float32))
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones())
    _run_fails(write_config(tmp_path, rasters={2020: raster}, zones=zones),
               "ndvi.tif: land cover must hold integer class codes, but the raster is float32",
               "gdal_translate")


def test_epochs_on_different_grids(tmp_path: Path) -> None:
    first = write_tiled_raster(tmp_path / "a.tif", land_cover())
    shifted = write_tiled_raster(tmp_path / "b.tif", land_cover(1),
                           transform=ORIGIN @ ORIGIN.translation(1, 0))
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones())
    _run_fails(write_config(tmp_path, rasters={2019: first, 2020: shifted}, zones=zones),
               "b.tif: its grid differs from", "warp them (nearest neighbour)")


def test_config_with_unknown_keys_and_wrong_types(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["colour"] = "green"
    raw["compute"]["chunk_cells"] = "big"
    config.write_text(yaml.safe_dump(raw))
    _run_fails(config, "colour: Extra inputs are not permitted", "compute.chunk_cells:", "(given: 'big')")


def test_config_whose_sections_have_the_wrong_shape(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("landcover: 5\nzones: here\nclasses: clcd\noutput: {dir: out}\n")
    assert_clean_failure(cli("validate", str(config)), "landcover:", "zones:")


def test_output_folder_that_cannot_be_created(tmp_path: Path) -> None:
    # root writes anywhere, so the honest unwritable place is one below a regular file
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    config = good_inputs(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["output"]["dir"] = str(blocker / "out")
    config.write_text(yaml.safe_dump(raw))
    _run_fails(config, "is a file, not a folder", "choose another output folder")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    full = write_tiled_raster(tmp_path / "full.tif", land_cover(), driver="COG")
    cut = tmp_path / "cut.tif"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    floats = write_tiled_raster(tmp_path / "floats.tif", land_cover().astype(np.float64))
    zones = write_zone_layer(tmp_path / "z.gpkg", two_zones())
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    config = write_config(tmp_path, rasters={2019: cut, 2020: floats}, zones=zones, out=blocker / "out")
    assert_clean_failure(cli("validate", str(config)), "3 problem(s) found",
                         "cut.tif: the raster is truncated", "floats.tif: land cover must",
                         "is a file, not a folder")
    # a run stops at the first thing it cannot do: here it cannot even take the output's lock
    assert_clean_failure(cli("run", str(config)), "is a file, not a folder")
