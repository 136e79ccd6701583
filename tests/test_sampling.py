"""`sinkzone sample` on the São Tomé demo: counts per stratum as allocated, every point inside the zones on a cell
of its stratum, the same points for the same seed, and the KML readable by Google Earth / Collect Earth."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from builders import ROOT
from typer.testing import CliRunner

from pipeline.core.classmaps import builtin_class_map
from pipeline.inputs.run_config import load_config
from pipeline.run import sampling
from pipeline.terminal.cli import app

CONFIG = ROOT / "configs" / "sao_tome_worldcover.yaml"
KML = "{http://www.opengis.net/kml/2.2}"


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> tuple[sampling.Sample, Path]:
    out = tmp_path_factory.mktemp("sample") / "samples.gpkg"
    return sampling.draw(load_config(CONFIG), sampling.Design(seed=3), out=out), out


def test_counts_follow_the_allocation(drawn: tuple[sampling.Sample, Path]) -> None:
    sample, out = drawn
    points = gpd.read_file(out)
    # Olofsson 2014 eq. 13 with U = 0.8 in every stratum: S_i = sqrt(0.8 × 0.2) = 0.4 whatever the weights, so
    # n = (0.4 / 0.01)² = 1600 exactly; every stratum gets at least 50.
    assert len(points) == 1600
    plan = sample.allocation.set_index("stratum")["n"]
    assert points["stratum"].value_counts().sort_index().to_dict() == plan.sort_index().to_dict()
    assert (plan >= 50).all()
    # the largest stratum takes what the minimums leave: 1600 - 7 × 50 (forest is 93 % of the island)
    assert plan.idxmax() == "forest"
    assert plan.max() == 1600 - 50 * (len(plan) - 1)


def test_points_lie_inside_the_zones_on_cells_of_their_class(drawn: tuple[sampling.Sample, Path]) -> None:
    _, out = drawn
    points = gpd.read_file(out)
    zones = gpd.read_file(ROOT / "zones" / "sao_tome_STP.geojson").to_crs(points.crs)
    assert shapely.within(points.geometry.to_numpy(), zones.union_all()).all()
    assert set(points["zone_id"]) == {"STP"}
    assert (points["reference"].fillna("") == "").all()
    assert points["sample_id"].is_unique
    config = load_config(CONFIG)
    lookup = builtin_class_map("esa_worldcover").code_to_class()
    with rasterio.open(config.landcover[-1].path) as src:  # the assessed (latest) epoch, read independently
        xy = points.to_crs(src.crs).geometry
        codes = [int(v[0]) for v in src.sample(zip(xy.x, xy.y, strict=True))]
    assert [lookup[c] for c in codes] == points["map_class"].tolist()
    assert (points["map_class"] == points["stratum"]).all()  # strata are the assessed map's classes here
    assert not pd.DataFrame({"x": xy.x.round(6), "y": xy.y.round(6)}).duplicated().any()  # no cell twice


def test_the_same_seed_draws_the_same_points(drawn: tuple[sampling.Sample, Path], tmp_path: Path) -> None:
    sample, _ = drawn
    again = sampling.draw(load_config(CONFIG), sampling.Design(seed=3), out=tmp_path / "again.gpkg")
    assert again.points.geometry.geom_equals(sample.points.geometry).all()
    pd.testing.assert_frame_equal(pd.DataFrame(again.points.drop(columns="geometry")),
                                  pd.DataFrame(sample.points.drop(columns="geometry")))
    other = sampling.draw(load_config(CONFIG), sampling.Design(seed=4, n=100, min_per_stratum=5),
                          out=tmp_path / "other.gpkg")
    assert len(other.points) == 100
    assert not other.points.geometry.isin(sample.points.geometry).all()


def test_csv_and_kml_hold_the_same_points(drawn: tuple[sampling.Sample, Path]) -> None:
    _, out = drawn
    table = pd.read_csv(out.with_suffix(".csv"), keep_default_na=False)
    marks = ET.parse(out.with_suffix(".kml")).getroot().findall(f".//{KML}Placemark")
    assert len(marks) == len(table) == 1600
    rows = []
    for mark in marks:
        lon, lat = (float(v) for v in mark.findtext(f"{KML}Point/{KML}coordinates", "").split(","))
        data = {d.get("name"): d.findtext(f"{KML}value", "") for d in mark.iter(f"{KML}Data")}
        rows.append({**data, "lon": lon, "lat": lat})
    kml = pd.DataFrame(rows)
    assert {"sample_id", "stratum", "map_class", "zone_id", "reference"} <= set(kml.columns)
    np.testing.assert_allclose(kml[["lon", "lat"]], table[["lon", "lat"]])
    assert kml["stratum"].tolist() == table["stratum"].tolist()
    assert (kml["reference"] == "").all()
    # WGS84 degrees on São Tomé island (0.0-0.5° N, 6.4-6.8° E)
    assert table["lat"].between(-0.1, 0.5).all()
    assert table["lon"].between(6.4, 6.8).all()


def test_the_command_line_prints_the_allocation(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sample", str(CONFIG), "--out", str(tmp_path / "s.gpkg"), "--n", "80",
                                      "--min-per-stratum", "2", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert len(gpd.read_file(tmp_path / "s.gpkg")) == 80
    bad = CliRunner().invoke(app, ["sample", str(CONFIG), "--out", str(tmp_path / "t.gpkg"), "--year", "1999"])
    assert bad.exit_code == 2
