"""Styles, the QGIS project and GeoPackage hygiene, checked without QGIS (tests/test_qgis.py uses QGIS)."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from pipeline.core.classmaps import builtin_class_map
from pipeline.files.output import write_outputs, write_qgis_package
from pipeline.present.labels import field_alias
from pipeline.present.palette import PALETTES, palette_entries
from pipeline.present.qgis_project import build_package, relative_source, style_frame
from pipeline.present.styles import ZoneLegend, candidate_style, equal_breaks, graduated_zone_styles, zone_style

ROOT = Path(__file__).resolve().parents[1]
LEGEND = ZoneLegend(class_map=builtin_class_map("clcd"))
ALBERS_CGCS2000 = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"


def _zones(**extra: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"zone_id": ["a", "b"], "name": ["A", "B"], "area_ha": [400.0, 100.0], "forest_ha": [300.0, 10.0],
         "grassland_ha": [100.0, 90.0], **extra},
        geometry=[shapely.box(0, 4_000_000, 2000, 4_002_000), shapely.box(2000, 4_000_000, 3000, 4_001_000)],
        crs=ALBERS_CGCS2000)


def test_corine_palette_is_the_one_shipped_with_the_product() -> None:
    vat = pyogrio.read_dataframe(ROOT / "data/sao_miguel/clc2018_v2020_20u1.tif.vat.dbf")
    for row in vat.itertuples():
        if row.Value == 48:  # NODATA: left out of the palette so QGIS draws it transparent
            assert 48 not in PALETTES["corine"]
            continue
        rgb = "#" + "".join(f"{round(v * 255):02x}" for v in (row.Red, row.Green, row.Blue))
        assert PALETTES["corine"][row.Value][0] == rgb, row.LABEL3


@pytest.mark.parametrize("product", sorted(PALETTES))
def test_every_palette_code_is_a_mapped_class_code(product: str) -> None:
    mapped = builtin_class_map(product).code_to_class()
    assert set(PALETTES[product]) <= set(mapped)
    assert [code for code, *_ in palette_entries(builtin_class_map(product))] == sorted(mapped)


def test_field_aliases_in_chinese_and_english() -> None:
    assert field_alias("forest_ha") == "森林（乔木林）面积 (ha) / Forest (tree cover) area (ha)"
    assert field_alias("shrub_mu") == "灌木林面积 (亩) / Shrubland area (mu)"
    assert field_alias("co2e_t") == "碳储量 (t CO2e) / Carbon stock (t CO2e)"
    assert field_alias("some_field") is None


def test_area_alias_names_the_zone_only_on_the_zone_layer() -> None:
    # zone_class_area.area_ha is one class's area in a zone, zone_transitions.area_ha a transition's
    assert field_alias("area_ha", layer="zones") == "分区面积 (ha) / Zone area (ha)"
    assert field_alias("area_ha", layer="zone_class_area") == "面积 (ha) / Area (ha)"
    assert field_alias("area_mu", layer="zone_transitions") == "面积 (亩) / Area (mu)"


def test_candidate_parcels_are_coloured_by_their_land_class() -> None:
    parcels = gpd.GeoDataFrame({"zone_id": ["a", "a", "b"], "land_class": ["grassland", "bare", "grassland"],
                                "area_ha": [1.0, 2.0, 3.0]},
                               geometry=[shapely.box(0, 0, 1, 1)] * 3, crs=ALBERS_CGCS2000)
    root = candidate_style(parcels).root
    renderer = root.find(".//renderer-v2")
    assert renderer is not None
    assert renderer.get("type") == "categorizedSymbol"
    assert renderer.get("attr") == '"land_class"'
    assert sorted(c.get("value") for c in renderer.iter("category")) == ["bare", "grassland"]


def test_equal_breaks() -> None:
    # 0..10 in five equal steps of (10 - 0) / 5 = 2
    assert equal_breaks(pd.Series([0.0, 3.0, 10.0])) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert equal_breaks(pd.Series([0.0, 0.0])) == [0.0, 1.0]  # all equal: one range, never empty


def test_zone_style_follows_the_fields_present() -> None:
    assert zone_style(_zones(), LEGEND).name == "zones-dominant-class"
    typed = zone_style(_zones(sink_type=["forest_sink", "grassland_sink"]), LEGEND)
    assert typed.name == "zones-sink-type"
    values = [c.get("value") for c in typed.root.iter("category")]
    assert values == ["forest_sink", "grassland_sink"]
    views = [s.name for s in graduated_zone_styles(_zones(co2e_t=[4000.0, 500.0], progress_pct=[20.0, 110.0]),
                                                   LEGEND)]
    assert views == ["zones-carbon-density", "zones-progress", "zones-forest-share"]


def test_carbon_density_ranges_span_the_zone_values() -> None:
    # densities 4000 t / 400 ha = 10 and 500 t / 100 ha = 5 t CO2e/ha: equal steps of (10 - 5) / 5 = 1
    carbon = graduated_zone_styles(_zones(co2e_t=[4000.0, 500.0]), LEGEND)[0]
    ranges = [(float(r.get("lower")), float(r.get("upper"))) for r in carbon.root.iter("range")]
    assert ranges == [(5.0, 6.0), (6.0, 7.0), (7.0, 8.0), (8.0, 9.0), (9.0, 10.0)]


def test_relative_source_is_relative_to_the_output_folder(tmp_path: Path) -> None:
    assert relative_source(tmp_path / "data" / "x.tif", tmp_path / "out") == "../data/x.tif"
    assert relative_source(tmp_path / "out" / "x.tif", tmp_path / "out") == "./x.tif"


def _write(folder: Path, layers: dict[str, pd.DataFrame]) -> None:
    package = build_package(layers, title="t", class_map=builtin_class_map("clcd"), out_dir=folder,
                            landcover=ROOT / "data/baotou/MCD12C1_2019_IGBP_baotou.tif")
    folder.mkdir()
    record = {"run_id": "abc123", "config": {"name": "t"}}
    write_outputs(folder, gpkg_layers=layers, record=record,
                     extras=lambda f: write_qgis_package(f, styles=style_frame(package.style_rows),
                                                    project_xml=package.project_xml, record=record))


def test_geopackage_hygiene(tmp_path: Path) -> None:
    zones = _zones()
    candidates = _zones().iloc[:1][["geometry"]]
    table = pd.DataFrame({"zone_id": ["a"], "share": [0.5]})
    _write(tmp_path / "out", {"zones": zones, "afforestation_candidates": candidates, "zone_class_area": table})
    gpkg = tmp_path / "out" / "sinkzones.gpkg"
    with sqlite3.connect(gpkg) as con:
        contents = {r[0]: r[1:] for r in con.execute(
            "SELECT table_name, data_type, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents")}
        rtree = {r[0] for r in con.execute(
            "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")}
        styles = con.execute("SELECT f_table_name, f_geometry_column, useAsDefault FROM layer_styles").fetchall()
        srs_id = contents["zones"][5]
        org, definition = con.execute("SELECT organization, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
                                      (srs_id,)).fetchone()
    # zones span x 0..3000, y 4 000 000..4 002 000 (the two boxes above)
    assert contents["zones"][:5] == ("features", 0.0, 4_000_000.0, 3000.0, 4_002_000.0)
    assert contents["layer_styles"][0] == "attributes"
    assert rtree == {"zones", "afforestation_candidates"}
    assert sorted(styles) == [("afforestation_candidates", "geom", 1), ("zone_class_area", "", 1), ("zones", "geom", 1)]
    assert org == "NONE"
    assert "Albers_Conic_Equal_Area" in definition
    assert "GRS 1980" in definition
    metadata = pyogrio.read_info(gpkg, layer="zones")["dataset_metadata"]
    assert metadata["SINKZONE_RUN_ID"] == "abc123"
    assert '"name": "t"' in metadata["SINKZONE_RUN_JSON"]


def test_project_file_has_groups_styles_and_relative_paths(tmp_path: Path) -> None:
    _write(tmp_path / "out", {"zones": _zones(progress_pct=[10.0, 60.0])})
    with zipfile.ZipFile(tmp_path / "out" / "sinkzones.qgz") as archive:
        assert archive.namelist() == ["sinkzones.qgs"]
        root = ET.fromstring(archive.read("sinkzones.qgs").decode("utf-8").split("\n", 1)[1])
    sources = {m.findtext("id"): m.findtext("datasource") for m in root.iter("maplayer")}
    assert sources["sinkzone_zones"] == "./sinkzones.gpkg|layername=zones"
    landcover = (tmp_path / "out" / sources["sinkzone_landcover"]).resolve()
    assert sources["sinkzone_landcover"].startswith("../")
    assert landcover == (ROOT / "data/baotou/MCD12C1_2019_IGBP_baotou.tif").resolve()
    assert "sinkzone_zones_zones-progress" in sources
    assert root.find("properties/Paths/Absolute").text == "false"
    groups = [g.get("name") for g in root.iter("layer-tree-group") if g.get("name")]
    assert groups == ["分区 / Zones", "土地覆盖 / Land cover"]
