"""The command line end to end: a one-off run without a config, and repairs that do not stop a run.

The full list of bad inputs and their messages is in test_bad_inputs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from builders import write_raster, write_zones
from typer.testing import CliRunner

from pipeline.terminal.cli import app

GRID = Affine(10, 0, 500_000, 0, -10, 4_500_000)  # 10 m cells, EPSG:32650
CODES = np.array([[2, 2, 3], [2, 4, 4], [0, 4, 4]], dtype=np.uint8)  # CLCD codes, 0 = nodata


def cell_box(c0: float, r0: float, c1: float, r1: float) -> shapely.Polygon:
    return shapely.box(500_000 + 10 * c0, 4_500_000 - 10 * r1, 500_000 + 10 * c1, 4_500_000 - 10 * r0)


@pytest.fixture
def case(tmp_path: Path) -> dict[str, Path]:
    raster = write_raster(tmp_path / "lc.tif", CODES, transform=GRID, crs="EPSG:32650", nodata=0)
    zones = gpd.GeoDataFrame({"zid": ["a", "b"]}, geometry=[cell_box(0, 0, 2, 2), cell_box(1, 1, 3, 3)],
                             crs="EPSG:32650")
    return {"raster": raster, "zones": write_zones(tmp_path / "zones.gpkg", zones), "out": tmp_path / "out"}


def one_off(case: dict[str, Path], **override: object) -> list[str]:
    args = {"landcover": f"2020={case['raster']}", "zones": str(case["zones"]), "zone-id": "zid",
            "classes": "clcd", "out": str(case["out"]), **override}
    return ["run", *[part for key, value in args.items() for part in (f"--{key}", str(value))]]


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def test_one_off_run_writes_gpkg_and_run_json(case: dict[str, Path]) -> None:
    code, output = invoke(one_off(case))
    assert code == 0, output
    table = gpd.read_file(case["out"] / "sinkzones.gpkg", layer="zone_class_area").set_index(["zone_id", "class"])
    # Zone a = cells (0,0),(0,1),(1,0),(1,1): codes 2,2,2,4 -> forest 300 m², grassland 100 m² (CLCD).
    assert table.loc[("a", "forest"), "area_ha"] == pytest.approx(0.03, abs=1e-9)
    assert table.loc[("a", "grassland"), "area_mu"] == pytest.approx(0.01 * 15, abs=1e-9)
    # Zone b = cells (1,1),(1,2),(2,1),(2,2): all code 4 (grassland, 400 m²).
    assert table.loc[("b", "grassland"), "share"] == pytest.approx(1.0)
    record = json.loads((case["out"] / "run.json").read_text())
    assert record["rows"]["zone_class_area"] == len(table)


def assert_fails_cleanly(case: dict[str, Path], args: list[str], *fragments: str) -> None:
    code, output = invoke(args)
    assert code == 2, output
    for fragment in fragments:
        assert fragment in output, output
    assert not case["out"].exists()


def test_unknown_id_field(case: dict[str, Path]) -> None:
    assert_fails_cleanly(case, one_off(case, **{"zone-id": "name"}), "no field 'name'", "zid")


def test_invalid_geometry_and_other_crs_are_repaired_and_reported(case: dict[str, Path]) -> None:
    # A bow-tie over cells (0,0)-(1,1): make_valid turns it into two triangles of 100 m² in total.
    x0, y0 = 500_000, 4_500_000
    bowtie = shapely.Polygon([(x0, y0), (x0 + 20, y0 - 20), (x0 + 20, y0), (x0, y0 - 20)])
    frame = gpd.GeoDataFrame({"zid": ["bow"]}, geometry=[bowtie], crs="EPSG:32650").to_crs("EPSG:4326")
    path = write_zones(case["zones"].with_name("bowtie.geojson"), frame)
    code, output = invoke(one_off(case, zones=path))
    assert code == 0, output
    assert "repaired 1 invalid geometry" in output
    assert "reprojected zones" in output
    zones = gpd.read_file(case["out"] / "sinkzones.gpkg", layer="zones")
    assert zones["area_ha"].iloc[0] == pytest.approx(0.02, rel=1e-6)


def test_source_fields_named_like_computed_ones(case: dict[str, Path]) -> None:
    # An id field called zone_id and a field called area_ha, as a user's own zone layer may have.
    zones = gpd.GeoDataFrame({"zone_id": ["a"], "area_ha": [99.0]}, geometry=[cell_box(0, 0, 1, 1)],
                             crs="EPSG:32650")
    path = write_zones(case["zones"].with_name("named.gpkg"), zones)
    code, output = invoke(one_off(case, zones=path, **{"zone-id": "zone_id"}))
    assert code == 0, output
    written = gpd.read_file(case["out"] / "sinkzones.gpkg", layer="zones")
    # One 10 m cell: 100 m² = 0.01 ha; the source's own 99 ha is kept beside it.
    assert written.loc[0, "zone_id"] == "a"
    assert written.loc[0, "area_ha"] == pytest.approx(0.01)
    assert written.loc[0, "area_ha_source"] == 99.0


def test_editing_the_class_map_file_makes_the_next_run_recompute(case: dict[str, Path]) -> None:
    classes = case["zones"].with_name("classes.yaml")
    classes.write_text("classes: {forest: [2], grassland: [3, 4], nodata: [0]}\n")
    assert invoke(one_off(case, classes=classes))[0] == 0
    # Same config, same rasters and zones; only the class map's content changes (code 3 moves to shrub).
    classes.write_text("classes: {forest: [2], shrub: [3], grassland: [4], nodata: [0]}\n")
    code, output = invoke(one_off(case, classes=classes))
    assert code == 0, output
    assert "up to date" not in output
    zones = gpd.read_file(case["out"] / "sinkzones.gpkg", layer="zones")
    # Zone a holds no code 3; zone b neither: cell (0,2) with code 3 lies in no zone, so shrub is 0 ha,
    # a field of the zones now (the long table has no rows for zero areas).
    assert {"forest_ha", "shrub_ha", "grassland_ha", "nodata_ha"} <= set(zones.columns)
    assert (zones["shrub_ha"] == 0).all()
