"""Carbon from the command line (--pools, --biomass), with a biomass raster in another CRS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from builders import pool_row, write_box_zones, write_class_map, write_csv, write_utm_raster
from typer.testing import CliRunner

from pipeline.terminal.cli import app

C2 = 44.0 / 12.0


@pytest.fixture
def case(tmp_path: Path) -> dict[str, Path]:
    # 4 x 4 cells of 10 m in UTM 10N, all forest (code 1); one zone of 20 m x 40 m = 800 m2 in UTM.
    return {
        "lc": write_utm_raster(tmp_path / "lc.tif", np.ones((4, 4), dtype=np.uint8), cell=10.0),
        "zones": write_box_zones(tmp_path / "z.gpkg", {"A": (0, 0, 20, 40)}),
        "classes": write_class_map(tmp_path / "c.yaml", {"forest": [1], "grassland": [2]}),
        "pools": write_csv(tmp_path / "pools.csv", [pool_row("forest", 10, 5, 40, 2)]),
        "out": tmp_path / "out",
    }


def _one_off(case: dict[str, Path], *extra: str) -> list[str]:
    return ["run", "--landcover", f"2020={case['lc']}", "--zones", str(case["zones"]), "--zone-id", "zid",
            "--classes", str(case["classes"]), "--out", str(case["out"]), *extra]


def test_pools_and_geographic_biomass_from_the_command_line(case: dict[str, Path], tmp_path: Path) -> None:
    # A constant 100 t d.m./ha raster in EPSG:4326 (0.0001 degree cells) around the zone.
    to_geo = pyproj.Transformer.from_crs("EPSG:32610", "EPSG:4326", always_xy=True)
    west, south, east, north = to_geo.transform_bounds(*gpd.read_file(case["zones"]).total_bounds)
    agb = np.full((20, 20), 100.0, dtype=np.float32)
    biomass = write_utm_raster(tmp_path / "agb.tif", agb, cell=0.0001, x0=west - 0.0005, y0=north + 0.0005,
                           crs="EPSG:4326", nodata=-1.0)
    result = CliRunner().invoke(app, _one_off(case, "--pools", str(case["pools"]), "--biomass", str(biomass)))
    assert result.exit_code == 0, result.output
    table = gpd.read_file(case["out"] / "sinkzones.gpkg", layer="zone_carbon")
    above = table[table["pool"] == "above"].iloc[0]
    # UTM's scale factor on its central meridian is 0.9996, so 800 m2 of grid is 800 / 0.9996^2 = 800.640 m2
    # on the ellipsoid = 0.0800640 ha; x 100 t d.m./ha = 8.00640 t; x CF 0.47 (default) = 3.76301 t C.
    assert above["method"] == "biomass_raster"
    assert above["carbon_t"] == pytest.approx(3.76301, rel=1e-4)
    # Below: x R 0.40 (default) = 1.50520 t C. Soil from the table: 0.08 ha x 40 = 3.2 t C.
    below = table[table["pool"] == "below"].iloc[0]
    assert below["carbon_t"] == pytest.approx(1.50520, rel=1e-4)
    assert table[table["pool"] == "soil"]["carbon_t"].iloc[0] == pytest.approx(3.2)


def test_missing_class_is_a_clear_error(case: dict[str, Path], tmp_path: Path) -> None:
    codes = np.ones((4, 4), dtype=np.uint8)
    codes[:, 1] = 2
    write_utm_raster(case["lc"], codes, cell=10.0)
    result = CliRunner().invoke(app, _one_off(case, "--pools", str(case["pools"])))
    # Column 1 is grass: 4 cells x 0.01 ha = 0.04 ha inside the zone.
    assert result.exit_code == 2
    assert "grassland (0.04 ha)" in " ".join(result.output.split())
    assert not (case["out"] / "sinkzones.gpkg").exists()


def test_biomass_flag_with_a_non_numeric_year_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--landcover", "2020=lc.tif", "--zones", "z.gpkg", "--zone-id", "id",
                                      "--classes", "clcd", "--out", str(tmp_path / "o"), "--biomass", "abc=b.tif"])
    assert result.exit_code == 2
    assert "--biomass 'abc=b.tif': the year before '=' must be a number" in " ".join(result.output.split())
    assert "Traceback" not in result.output
