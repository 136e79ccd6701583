"""Data as a city forestry bureau keeps it: GBK Shapefiles without .cpg, Chinese class names with roles,
.xlsx and GBK CSV plan sheets, multi-layer GeoPackages, upper-case field collisions, Double ids.

The scene (UTM 49N, 10 m cells, 20 x 20): zone A (columns 0-9) is 林地 (forest) in rows 0-9 and 草地
(grassland) in rows 10-19; zone B (columns 10-19) is 灌木林 (shrub) in rows 0-4, 水体 (water) in rows
5-9 and 耕地 (cropland) in rows 10-19. Each zone is 2 ha; a cell is 100 m2 = 0.01 ha.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml
from affine import Affine
from builders import ROOT, write_raster
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from openpyxl.styles import PatternFill
from typer.testing import CliRunner

from pipeline.core.classmaps import ROLES
from pipeline.core.config import Overrides
from pipeline.core.errors import ClassMapError, TableError, ValidationFailed, ZoneError
from pipeline.core.grid import padded_bounds
from pipeline.core.text import GB18030, UTF8
from pipeline.files.fonts import cjk_font_path
from pipeline.files.output import write_workbook
from pipeline.files.tables import read_csv_table, read_plan_sheet
from pipeline.files.vectors import read_zones
from pipeline.inputs.check import check_inputs, roleless_notes
from pipeline.inputs.plan_sheets import validate_plans
from pipeline.inputs.run_config import load_class_map, load_config
from pipeline.present import report
from pipeline.present.styles import ZoneLegend, zone_style
from pipeline.present.workbook import workbook_sheets
from pipeline.run import runner
from pipeline.terminal import cli

CRS = "EPSG:32649"
X0, Y0 = 500_000.0, 4_500_000.0
CLASS_MAP = {"林地": {"codes": [2], "role": "forest"}, "灌木林": {"codes": [3], "role": "shrub"},
             "草地": {"codes": [4], "role": "grassland"}, "水体": {"codes": [5], "role": "water"},
             "耕地": {"codes": [1], "role": "cropland"}, "nodata": [0]}


def _raster(tmp_path: Path) -> Path:
    data = np.zeros((20, 20), dtype=np.uint8)
    data[:10, :10], data[10:, :10] = 2, 4
    data[:5, 10:], data[5:10, 10:], data[10:, 10:] = 3, 5, 1
    return write_raster(tmp_path / "lc2021.tif", data, transform=Affine(10, 0, X0, 0, -10, Y0), crs=CRS, nodata=0)


def _zone_boxes() -> list[shapely.Polygon]:
    return [shapely.box(X0, Y0 - 200, X0 + 100, Y0), shapely.box(X0 + 100, Y0 - 200, X0 + 200, Y0)]


def _gbk_shapefile(tmp_path: Path, *, cpg: str | None = None, driver_byte: int | None = None) -> Path:
    """A Shapefile as an older ArcGIS in China exports it: GBK .dbf, no .cpg, a Double id field."""
    frame = gpd.GeoDataFrame({"小班号": [150202.0, 150203.0], "片区名称": ["东河片区", "九原片区"],
                              "ZONE_ID": ["x1", "x2"], "AREA_HA": [2.0, 2.0]}, geometry=_zone_boxes(), crs=CRS)
    path = tmp_path / "zones.shp"
    frame.to_file(path, engine="pyogrio", encoding="GBK")
    path.with_suffix(".cpg").unlink()
    if cpg is not None:
        path.with_suffix(".cpg").write_text(cpg)
    if driver_byte is not None:
        with path.with_suffix(".dbf").open("r+b") as fh:
            fh.seek(29)
            fh.write(bytes([driver_byte]))
    return path


def _plans_xlsx(tmp_path: Path) -> Path:
    """A plan sheet as Excel leaves it: numbers as numbers, Chinese sink types, a 备注 column, formatted
    blank cells to the right and below."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["zone_id", "name", "sink_type", "target_share_pct", "target_area_ha", "target_year", "备注"])
    sheet.append([150202, "东河", "森林", 60, None, 2030, "重点区域"])
    sheet.append([150203.0, "九原", "草原", None, 0.5, 2030, None])
    sheet["J12"].fill = PatternFill("solid", fgColor="FFFF00")
    path = tmp_path / "plans.xlsx"
    book.save(path)
    return path


def _config(tmp_path: Path, zones: Path, **extra: object) -> Path:
    (tmp_path / "classes_zh.yaml").write_text(yaml.safe_dump({"classes": CLASS_MAP}, allow_unicode=True),
                                              encoding="utf-8")
    raw = {"name": "bureau", "landcover": [{"year": 2021, "path": str(_raster(tmp_path))}],
           "classes": "classes_zh.yaml",
           "zones": {"path": str(zones), "id_field": "小班号", "name_field": "片区名称"},
           "output": {"dir": str(tmp_path / "out")},
           "region": {"name": "包头市", "targets": [{"indicator": "forest_coverage_pct", "value": 20, "year": 2030}]},
           **extra}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


# ---- a whole run on bureau data -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bureau_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[runner.RunResult, list[tuple[float, ...]]]:
    tmp_path = tmp_path_factory.mktemp("bureau")
    config = _config(tmp_path, _gbk_shapefile(tmp_path), plans={"path": str(_plans_xlsx(tmp_path))},
                     candidates={"lookback_years": 0}, report={"enabled": True})
    asked: list[tuple[float, ...]] = []
    real_preview = runner.read_preview

    def preview(path: Path, *, bounds: tuple[float, float, float, float], max_side: int) -> object:
        asked.append(bounds)
        return real_preview(path, bounds=bounds, max_side=max_side)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "read_preview", preview)
        return runner.run(load_config(config)), asked


def test_gbk_shapefile_without_cpg_keeps_its_chinese_text(bureau_run: tuple[runner.RunResult, list]) -> None:
    result, _ = bureau_run
    zones = gpd.read_file(result.out_dir / "sinkzones.gpkg", layer="zones")
    assert zones["片区名称"].tolist() == ["东河片区", "九原片区"]
    assert any("GB18030" in note for note in result.record["notes"])


def test_double_ids_become_whole_numbers_and_join_the_plan(bureau_run: tuple[runner.RunResult, list]) -> None:
    result, _ = bureau_run
    assert result.zones["zone_id"].tolist() == ["150202", "150203"]
    assert any("whole numbers" in note for note in result.record["notes"])
    # 150202: forest 1 ha of 2 ha = 50 % against the 60 % target -> 83.33 % of target
    progress = result.tables["zone_progress"].set_index("zone_id")
    assert progress.loc["150202", "pct_of_target"] == pytest.approx(100 * 50 / 60)
    # 草原 -> grassland: zone 150203 holds none, 0 of 0.5 ha
    assert progress.loc["150203", "latest_value"] == pytest.approx(0.0)


def test_upper_case_collisions_are_kept_renamed(bureau_run: tuple[runner.RunResult, list]) -> None:
    result, _ = bureau_run
    zones = gpd.read_file(result.out_dir / "sinkzones.gpkg", layer="zones")
    assert zones["ZONE_ID_source"].tolist() == ["x1", "x2"]
    assert zones["AREA_HA_source"].tolist() == [2.0, 2.0]
    assert zones["area_ha"].to_numpy() == pytest.approx([2.0, 2.0])
    assert any("ZONE_ID -> ZONE_ID_source" in note for note in result.record["notes"])


def test_chinese_class_names_count_by_role(bureau_run: tuple[runner.RunResult, list]) -> None:
    result, _ = bureau_run
    region = result.tables["region_indicators"].set_index("indicator")
    # forest: 林地 1 ha of 4 ha observed = 25 %; target 20 % met
    assert region.loc["forest_coverage_pct", "value"] == pytest.approx(25.0)
    assert bool(region.loc["forest_coverage_pct", "meets_target"])
    candidates = result.tables["afforestation_candidates"]
    # grassland (zone A) and cropland (zone B), 1 ha each; never forest, shrub or water
    assert sorted(candidates["land_class"]) == ["耕地", "草地"]
    assert candidates["area_ha"].to_numpy() == pytest.approx([1.0, 1.0])


def test_plan_extras_and_tables_workbook(bureau_run: tuple[runner.RunResult, list]) -> None:
    result, _ = bureau_run
    zones = gpd.read_file(result.out_dir / "sinkzones.gpkg", layer="zones")
    assert zones["备注"].tolist()[0] == "重点区域"
    assert zones["sink_type"].tolist() == ["forest", "grassland"]
    assert set(pyogrio.read_info(result.out_dir / "sinkzones.gpkg", layer="zones")["geometry_type"].split()) \
        == {"MultiPolygon"}
    book = openpyxl.load_workbook(result.out_dir / "tables.xlsx", read_only=True)
    assert {"zones", "zone_class_area", "region_indicators", "zone_progress"} <= set(book.sheetnames)
    header = next(book["zones"].iter_rows(values_only=True))
    assert header[0] == "分区编号 / Zone ID"
    classes = {row[2] for row in book["zone_class_area"].iter_rows(min_row=2, values_only=True)}
    # zero areas get no row: these zones lie wholly on the raster, so no nodata row
    assert classes == {"林地", "灌木林", "草地", "水体", "耕地"}


def test_report_names_zones_without_na_and_maps_have_a_margin(bureau_run: tuple[runner.RunResult, list]) -> None:
    result, asked = bureau_run
    index = (result.out_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert "150202 东河片区" in index
    assert "&lt;NA&gt;" not in index
    assert "<NA>" not in index
    # zone A spans x 500000..500100: the map asks for 15 % more on each side
    assert asked[0][0] == pytest.approx(X0 - 15.0)
    assert asked[0][2] == pytest.approx(X0 + 115.0)


# ---- the .dbf encoding, case by case -----------------------------------------------------------------


@pytest.mark.parametrize(("cpg", "driver_byte", "noted"), [
    (None, 0x4D, False),           # language driver 0x4D = code page 936 (GBK) settles it
    ("UTF-8", None, True),         # a .cpg that wrongly says UTF-8
    (None, None, True),            # nothing says: not UTF-8, so GB18030, noted
])
def test_dbf_encoding(tmp_path: Path, cpg: str | None, driver_byte: int | None, noted: bool) -> None:
    frame, notes = read_zones(_gbk_shapefile(tmp_path, cpg=cpg, driver_byte=driver_byte), layer=None)
    assert frame["片区名称"].tolist() == ["东河片区", "九原片区"]
    assert bool(notes) == noted


def test_zones_encoding_overrides(tmp_path: Path) -> None:
    frame, notes = read_zones(_gbk_shapefile(tmp_path, cpg="UTF-8"), layer=None, encoding="GBK")
    assert frame["片区名称"].tolist() == ["东河片区", "九原片区"]
    assert not notes
    flags = Overrides(zones_encoding="GBK", zones_layer="districts")
    config = load_config(_config(tmp_path, tmp_path / "zones.shp"), flags)
    assert (config.zones.encoding, config.zones.layer) == ("GBK", "districts")


# ---- zone layers ------------------------------------------------------------------------------------


def _geopackage(tmp_path: Path) -> Path:
    path = tmp_path / "zones.gpkg"
    zones = gpd.GeoDataFrame({"code": [" A1", "B2 "], "zone_id": ["old-1", "old-2"]}, geometry=_zone_boxes(), crs=CRS)
    zones.to_file(path, layer="片区", driver="GPKG")
    zones.to_file(path, layer="小班", driver="GPKG")
    gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(X0, Y0)], crs=CRS).to_file(path, layer="点", driver="GPKG")
    return path


def test_several_polygon_layers_are_refused_and_listed(tmp_path: Path) -> None:
    with pytest.raises(ZoneError, match="2 polygon layers: 片区, 小班.*--zones-layer"):
        read_zones(_geopackage(tmp_path), layer=None)


def test_named_layer_keeps_lower_case_zone_id_and_strips_ids(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, _geopackage(tmp_path)), Overrides(zones_layer="小班"))
    config = config.model_copy(update={"zones": config.zones.model_copy(update={"id_field": "code",
                                                                                "name_field": None})})
    result = runner.run(config)
    assert result.zones["zone_id"].tolist() == ["A1", "B2"]
    assert result.zones["zone_id_source"].tolist() == ["old-1", "old-2"]
    assert any("stripped spaces" in note for note in result.record["notes"])


def test_geometry_collections_keep_their_polygons(tmp_path: Path) -> None:
    a, b = _zone_boxes()
    stray = shapely.GeometryCollection([a, shapely.LineString([(X0, Y0), (X0 + 500, Y0 + 500)])])
    path = tmp_path / "zones.gpkg"
    gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[stray, b], crs=CRS).to_file(path, driver="GPKG")
    config = load_config(_config(tmp_path, path))
    config = config.model_copy(update={"zones": config.zones.model_copy(update={"id_field": "code",
                                                                                "name_field": None})})
    result = runner.run(config)
    assert set(result.zones.geom_type) == {"MultiPolygon"}
    assert result.zones["area_ha"].to_numpy() == pytest.approx([2.0, 2.0])
    assert pyogrio.read_info(result.out_dir / "sinkzones.gpkg", layer="zones")["geometry_type"] == "MultiPolygon"


# ---- class maps and the names a config gives -----------------------------------------------------------


def _class_yaml(tmp_path: Path, classes: dict[str, object]) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"classes": classes}, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_class_map_long_and_short_forms(tmp_path: Path) -> None:
    classes = load_class_map(_class_yaml(tmp_path, {"forest": [1], "灌木林": {"codes": [2], "role": "shrub"}}))
    assert classes.with_roles(["forest", "shrub"]) == ("forest", "灌木林")


def test_a_class_without_a_role_is_told_not_silent(tmp_path: Path) -> None:
    classes = load_class_map(_class_yaml(tmp_path, {"woodland": [2], "water": [5]}))
    assert classes.role("woodland") == "other"
    assert classes.with_roles(["forest"]) == ()
    [note] = roleless_notes(classes)
    assert "'woodland' have no role and count as other" in note
    assert "woodland: {codes: [...], role: forest}" in note


@pytest.mark.parametrize(("classes", "message"), [
    ({"林地": {"codes": [1], "role": "forst"}}, "did you mean 'forest'"),
    ({"Forest": {"codes": [1], "role": "forest"}, "forest": [2]}, "differ only in case"),
])
def test_bad_class_maps_are_refused(tmp_path: Path, classes: dict[str, object], message: str) -> None:
    with pytest.raises(ClassMapError, match=message):
        load_class_map(_class_yaml(tmp_path, classes))


def test_misspelt_class_names_in_the_config_fail_validate(tmp_path: Path) -> None:
    path = _config(tmp_path, _gbk_shapefile(tmp_path), candidates={"never_classes": ["forests", "shrubs"]},
                   carbon={"pools": "baotou", "forest_class": "林"})
    with pytest.raises(ValidationFailed) as err:
        check_inputs(load_config(path))
    text = str(err.value)
    assert err.value.exit_code == 2
    assert "candidates.never_classes: 'forests'" in text
    assert "did you mean 'forest'" in text
    assert "'shrubs'" in text
    assert "carbon.forest_class: '林'" in text
    assert all(role in text for role in ROLES)


# ---- plan sheets and tables in Excel's encodings -------------------------------------------------------


def test_gbk_csv_plan_sheet_with_trailing_empties(tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"
    path.write_bytes("zone_id,sink_type,target_share_pct,target_year,备注,,\n150202,林地,60,2030,重点,,\n,,,,,,\n"
                     .encode("gbk"))
    sheet = read_plan_sheet(path)
    assert sheet.encoding == GB18030
    assert "plans.csv: not UTF-8 text; read as GB18030" in sheet.notes()[0]
    assert list(sheet.frame.columns) == ["zone_id", "sink_type", "target_share_pct", "target_year", "备注", "_line"]
    assert sheet.frame["备注"].tolist() == ["重点"]


def test_xlsx_sheet_by_name(tmp_path: Path) -> None:
    path = _plans_xlsx(tmp_path)
    assert read_plan_sheet(path, sheet="Sheet").frame["zone_id"].tolist() == ["150202", "150203"]
    with pytest.raises(TableError, match="no sheet '规划'; the workbook has: Sheet"):
        read_plan_sheet(path, sheet="规划")


def test_pools_table_in_gbk_and_utf8_bom(tmp_path: Path) -> None:
    text = "class,name_zh,c_above,c_below,c_soil,c_dead\nforest,乔木林,10,2,50,0\n"
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    (tmp_path / "bom.csv").write_bytes(text.encode("utf-8-sig"))
    gbk = read_csv_table(str(tmp_path / "gbk.csv"), builtins={})
    bom = read_csv_table(str(tmp_path / "bom.csv"), builtins={})
    assert gbk.frame["name_zh"].tolist() == bom.frame["name_zh"].tolist() == ["乔木林"]
    assert (gbk.encoding, bom.encoding) == (GB18030, UTF8)
    assert list(bom.frame.columns)[0] == "class"


# ---- charts, report text and logs ------------------------------------------------------------------


def test_chinese_titles_are_drawn_with_real_glyphs() -> None:
    """The Baotou districts' names and the chart titles: every character has a glyph in the font
    matplotlib picks for the charts, and drawing them warns of no missing glyph (an empty box)."""
    districts = gpd.read_file(ROOT / "zones/baotou_districts.gpkg", layer="districts")
    titles = [f"各期地类面积 Class area by epoch — {z} {n}" for z, n in
              zip(districts["adcode"], districts["name_zh"], strict=True)]
    with report.chart_style():
        family = matplotlib.rcParams["font.family"]
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        font = FT2Font(path)
        missing = {ch for title in titles for ch in title if ch != " " and font.get_char_index(ord(ch)) == 0}
        assert Path(path) == cjk_font_path()
        assert not missing
        long = pd.DataFrame({"zone_id": "150202", "year": 2021, "class": ["林地", "草地"], "area_ha": [1.0, 1.0]})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report.class_area_chart(long, title=titles[0])


def test_region_table_shows_no_na() -> None:
    indicators = pd.DataFrame({"year": [2021], "indicator": ["forest_coverage_pct"], "sink_type": [""],
                               "label_zh": ["森林覆盖率"], "label_en": ["Forest coverage"],
                               "unit": ["%"], "value": [25.0], "target": [np.nan], "target_year": [None],
                               "pct_of_target": [np.nan], "target_source": [""], "illustrative": [False]})
    assert "NA" not in report.region_section(indicators)


def test_padded_bounds() -> None:
    assert padded_bounds((0.0, 10.0, 100.0, 30.0), margin=0.1) == (-10.0, 8.0, 110.0, 32.0)


def test_logs_are_not_wrapped_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    cli._setup_logging(verbose=False)
    message = "zone 150202 " + "x" * 300
    logging.getLogger("pipeline").warning(message)
    assert message in capsys.readouterr().err


def test_run_record_is_json(bureau_run: tuple[runner.RunResult, list]) -> None:
    result, _ = bureau_run
    record = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert record["config"]["zones"]["name_field"] == "片区名称"


def test_sink_type_without_a_class_of_its_role_is_refused_before_compute(tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"
    path.write_text("zone_id,sink_type,target_share_pct,target_year\n150202,湿地,10,2030\n", encoding="utf-8")
    classes = load_class_map(_class_yaml(tmp_path, CLASS_MAP))  # 林地, 灌木林, 草地, 水体, 耕地: no wetland role
    with pytest.raises(TableError, match="sink_type wetland counts the classes playing wetland, and class map"):
        validate_plans(read_plan_sheet(path).frame, zone_ids={"150202"}, first_year=2021, source=str(path),
                       class_map=classes)


def test_workbook_keeps_text_literal(tmp_path: Path) -> None:
    write_workbook(tmp_path / "t.xlsx", {"zones": pd.DataFrame({"名称": ["=1+1", "东河"], "area_ha": [1.5, np.nan]})})
    rows = list(openpyxl.load_workbook(tmp_path / "t.xlsx").active.iter_rows(values_only=True))
    assert rows == [("名称", "area_ha"), ("=1+1", 1.5), ("东河", None)]


def test_workbook_opens_in_gdal_as_qgis_reads_it(tmp_path: Path) -> None:
    # GDAL's XLSX driver (what QGIS opens tables.xlsx with) is a second reader besides openpyxl: gaps keep the
    # next cell in its column, sheets keep their names, text with markup characters stays whole
    frame = pd.DataFrame({"zone_id": ["A<1>", "B & C"], "area_ha": [np.nan, 2.5], "class": ["林地", "草地"]})
    write_workbook(tmp_path / "t.xlsx", {"zone_class_area": frame, "zones": frame.iloc[:1]})
    assert [name for name, _ in pyogrio.list_layers(tmp_path / "t.xlsx")] == ["zone_class_area", "zones"]
    read = pyogrio.read_dataframe(tmp_path / "t.xlsx", layer="zone_class_area", read_geometry=False)
    assert read["zone_id"].tolist() == ["A<1>", "B & C"]
    assert read["class"].tolist() == ["林地", "草地"]
    assert pd.isna(read["area_ha"][0])
    assert read["area_ha"][1] == 2.5


def test_workbook_cells_keep_their_type(tmp_path: Path) -> None:
    # text that looks like a number or a link stays text; True stays a boolean beside the number 1 in one column;
    # 2**60 (past a double's 2**53) leaves as its digits
    frame = pd.DataFrame({"text": ["+1", "http://x.example", "007"], "mixed": [True, 1, None],
                          "code": [2**60, 3, 4]})
    write_workbook(tmp_path / "t.xlsx", {"zones": frame})
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    rows = [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)]
    assert rows == [[("+1", "s"), (True, "b"), ("1152921504606846976", "s")],
                    [("http://x.example", "s"), (1, "n"), (3, "n")],
                    [("007", "s"), (None, "n"), (4, "n")]]
    assert not sheet._hyperlinks


def test_zone_flags_on_the_command_line() -> None:
    result = CliRunner().invoke(cli.app, ["run", "--help"], terminal_width=200)
    assert "--zones-layer" in result.output
    assert "--zones-encoding" in result.output


def test_qgis_label_is_the_name_field_and_class_fields_alias_by_name(tmp_path: Path) -> None:
    classes = load_class_map(_class_yaml(tmp_path, CLASS_MAP))
    zones = gpd.GeoDataFrame({"zone_id": ["150202"], "小班号": ["150202"], "片区名称": ["东河片区"],
                              "area_ha": [2.0], "林地_ha": [1.0], "草地_ha": [1.0]},
                             geometry=_zone_boxes()[:1], crs=CRS)
    style = zone_style(zones, ZoneLegend(class_map=classes, name_field="片区名称"))
    assert style.root.find(".//text-style").get("fieldName") == '"片区名称"'
    aliases = {a.get("field"): a.get("name") for a in style.root.iter("alias")}
    assert aliases["林地_ha"] == "林地面积 (ha) / 林地 area (ha)"
    # the dominant-class categories are the map's own classes, in the colour of their role
    assert [c.get("value") for c in style.root.iter("category")] == ["林地", "草地"]


def test_workbook_leaves_out_tables_longer_than_its_limit() -> None:
    classes = load_class_map("clcd")
    layers = {"zones": pd.DataFrame({"zone_id": ["a", "b"]}), "zone_carbon": pd.DataFrame({"zone_id": list("abc")})}
    sheets, notes = workbook_sheets(layers, classes, max_rows=2)
    assert list(sheets) == ["zones"]
    assert notes == ["tables.xlsx leaves out zone_carbon (3 rows), longer than output.workbook_max_rows (2); "
                     "open them from sinkzones.gpkg"]
    assert workbook_sheets(layers, classes, max_rows=3)[1] == []
