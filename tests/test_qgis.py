"""The outputs opened in a real QGIS: the São Miguel and Baotou demos, plus an Albers/CGCS2000 package.

QGIS's Python bindings live in Debian's python3-qgis for the system Python, which our venv cannot
import, so tests/qgis_check.py runs under /usr/bin/python3 and reports what QGIS sees as JSON.
`make test` installs python3-qgis first (target qgis-deps); without it these tests fail, never skip.
The renders are written to output/qgis-renders/ (or $SINKZONE_QGIS_RENDERS).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import DemoRun

from pipeline.core.classmaps import builtin_class_map
from pipeline.files.output import write_outputs, write_qgis_package
from pipeline.present.palette import CLASS_COLOURS
from pipeline.present.qgis_project import build_package, style_frame
from pipeline.present.styles import class_columns

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
QGIS_PYTHON = os.environ.get("SINKZONE_QGIS_PYTHON", "/usr/bin/python3")
RENDERS = Path(os.environ.get("SINKZONE_QGIS_RENDERS", ROOT / "output" / "qgis-renders"))
DEMOS = {"sao_miguel_corine": "demo", "baotou_modis": "baotou_modis"}  # render name: shipped config
ALBERS_CGCS2000 = ("+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +ellps=GRS80 "
                   "+towgs84=0,0,0,0,0,0,0 +units=m +no_defs")


def _require_qgis() -> None:
    try:
        probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True, check=False)
        why = probe.stderr.strip()[-200:] if probe.returncode else ""
    except OSError as exc:
        why = str(exc)
    if why:
        pytest.fail(f"{QGIS_PYTHON} cannot import qgis.core ({why}). Install QGIS's "
                    "Python bindings: `make qgis-deps` (apt-get install python3-qgis) on Debian/Ubuntu, or set "
                    "SINKZONE_QGIS_PYTHON to a Python that has them.")


def _layers(folder: Path) -> dict[str, int]:
    """Layer -> feature count, read with GDAL in our venv (the count QGIS must agree with)."""
    gpkg = folder / "sinkzones.gpkg"
    names = [str(n) for n, _ in pyogrio.list_layers(gpkg) if n != "layer_styles"]
    return {n: int(pyogrio.read_info(gpkg, layer=n)["features"]) for n in names}


def _stored_styles(folder: Path) -> dict[str, str]:
    with sqlite3.connect(folder / "sinkzones.gpkg") as con:
        rows = con.execute("SELECT f_table_name, styleName FROM layer_styles WHERE useAsDefault").fetchall()
    return dict(rows)


def run_qgis(items: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    _require_qgis()
    spec, report = work / "qgis_spec.json", work / "qgis_report.json"
    spec.write_text(json.dumps(items), encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(work)}
    env.pop("PYTHONPATH", None)  # the venv's packages must not shadow Debian's for the system Python
    done = subprocess.run([QGIS_PYTHON, str(ROOT / "tests" / "qgis_check.py"), str(spec), str(report)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, f"PyQGIS check failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return dict(json.loads(report.read_text(encoding="utf-8")))


def problems(folder_report: dict[str, Any], *, counts: dict[str, int], styles: dict[str, str]) -> list[str]:
    """Everything QGIS saw that is wrong: unread project, invalid layers, wrong counts, missing styles."""
    found = [] if folder_report["project_read"] else ["QGIS could not read sinkzones.qgz"]
    for name, count in counts.items():
        seen = folder_report["standalone"][name]
        if not seen["valid"]:
            found.append(f"{name}: invalid in QGIS")
        if seen["features"] != count:
            found.append(f"{name}: QGIS counts {seen['features']} features, GDAL {count}")
        if seen["style"] is None or seen["style"] != styles.get(name):
            found.append(f"{name}: QGIS loaded style {seen['style']!r}, stored default is {styles.get(name)!r}")
    for layer_id, seen in folder_report["project_layers"].items():
        if not seen["valid"]:
            found.append(f"project layer {layer_id} ({seen['name']}): invalid")
        if seen.get("style") is None:
            found.append(f"project layer {layer_id} ({seen['name']}): no sinkzone style")
    return found


def _albers_package(folder: Path) -> None:
    """A tiny output in the CLCD Albers on the CGCS2000 ellipsoid, a CRS without an EPSG code."""
    zones = gpd.GeoDataFrame(
        {"zone_id": ["a", "b"], "name_zh": ["甲区", "乙区"], "area_ha": [400.0, 100.0],
         "forest_ha": [300.0, 10.0], "grassland_ha": [100.0, 90.0]},
        geometry=[shapely.box(0, 4_000_000, 2000, 4_002_000), shapely.box(2000, 4_000_000, 3000, 4_001_000)],
        crs=ALBERS_CGCS2000)
    layers = {"zones": zones}
    package = build_package(layers, title="albers", class_map=builtin_class_map("clcd"), out_dir=folder)
    folder.mkdir(parents=True)
    write_outputs(folder, gpkg_layers=layers, record={"run_id": "albers-test"},
                     extras=lambda f: write_qgis_package(f, styles=style_frame(package.style_rows),
                                                    project_xml=package.project_xml,
                                                    record={"run_id": "albers-test"}))


@pytest.fixture(scope="module")
def qgis_run(tmp_path_factory: pytest.TempPathFactory, demo_run: DemoRun) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("qgis")
    folders = {name: demo_run(config).out_dir for name, config in DEMOS.items()}
    # The output folder copied elsewhere must still open: the project's paths are relative.
    shutil.copytree(folders["sao_miguel_corine"], work / "moved" / "copy_of_demo")
    folders["moved"] = work / "moved" / "copy_of_demo"
    _albers_package(work / "albers")
    folders["albers"] = work / "albers"
    RENDERS.mkdir(parents=True, exist_ok=True)
    items = [{"folder": str(f), "layers": list(_layers(f)),
              "png": str(RENDERS / f"{name}.png") if name in DEMOS else str(work / f"{name}.png")}
             for name, f in folders.items()]
    report = run_qgis(items, work)
    return {"folders": folders, "report": dict(zip(folders, report["folders"], strict=True)), "work": work}


@pytest.mark.parametrize("name", [*DEMOS, "moved", "albers"])
def test_every_layer_valid_counted_and_styled_in_qgis(qgis_run: dict[str, Any], name: str) -> None:
    folder = qgis_run["folders"][name]
    found = problems(qgis_run["report"][name], counts=_layers(folder), styles=_stored_styles(folder))
    if name == "moved":  # the land-cover input stays where it was; every layer of our own folder must open
        found = [p for p in found if "sinkzone_landcover" not in p]
    assert found == []


@pytest.mark.parametrize("name", [*DEMOS, "moved"])
def test_project_reads_the_geopackage_beside_it(qgis_run: dict[str, Any], name: str) -> None:
    folder = qgis_run["folders"][name].resolve()
    layers = qgis_run["report"][name]["project_layers"]
    gpkg_sources = [v["source"] for v in layers.values() if "sinkzones.gpkg" in v["source"]]
    assert gpkg_sources, "the project holds no GeoPackage layer"
    assert all(Path(s.split("|")[0]).resolve() == folder / "sinkzones.gpkg" for s in gpkg_sources)
    assert {"分区 / Zones", "统计表 / Tables", "土地覆盖 / Land cover"} <= set(qgis_run["report"][name]["groups"])


def test_zones_load_with_stored_style_and_bilingual_aliases(qgis_run: dict[str, Any]) -> None:
    zones = qgis_run["report"]["sao_miguel_corine"]["standalone"]["zones"]
    assert zones["renderer"] == "categorizedSymbol"  # QGIS's own default would be a single random colour
    assert zones["aliases"]["forest_ha"] == "森林（乔木林）面积 (ha) / Forest (tree cover) area (ha)"
    assert zones["aliases"]["area_mu"] == "分区面积 (亩) / Zone area (mu)"
    table = qgis_run["report"]["sao_miguel_corine"]["standalone"]["zone_class_area"]
    assert table["aliases"]["share"] == "占分区面积比例 / Share of zone area"


def test_candidate_parcels_open_coloured_by_land_class(qgis_run: dict[str, Any]) -> None:
    parcels = qgis_run["report"]["baotou_modis"]["standalone"]["afforestation_candidates"]
    assert parcels["features"] > 0
    assert parcels["renderer"] == "categorizedSymbol"
    assert parcels["aliases"]["area_ha"] == "面积 (ha) / Area (ha)"  # a parcel's area, not the zone's


def test_landcover_layer_uses_the_product_palette(qgis_run: dict[str, Any]) -> None:
    layers = qgis_run["report"]["sao_miguel_corine"]["project_layers"]
    assert layers["sinkzone_landcover"]["renderer"] == "paletted"
    assert layers["sinkzone_landcover"]["style"] == "landcover-corine"


def test_albers_cgcs2000_crs_is_recognised_by_qgis(qgis_run: dict[str, Any]) -> None:
    zones = qgis_run["report"]["albers"]["standalone"]["zones"]
    assert zones["crs_valid"]
    assert "Albers" in zones["crs_wkt"]
    assert "GRS 1980" in zones["crs_wkt"]


def _dominant_colours(folder: Path) -> dict[str, str]:
    """Expected fill per zone: the colour of its sink type where a plan sheet gives one (forest, grassland,
    wetland in their class colours), else of its largest class, worked out here with pandas."""
    zones = gpd.read_file(folder / "sinkzones.gpkg", layer="zones")
    if "sink_type" in zones.columns:
        return {str(z): CLASS_COLOURS[t] for z, t in zip(zones["zone_id"], zones["sink_type"], strict=True)}
    classes = class_columns(list(zones.columns), builtin_class_map("esa_worldcover"))  # it has every role
    areas = pd.DataFrame({c: zones[f"{c}_ha"] for c in classes}).fillna(0)
    return {str(z): CLASS_COLOURS[c] for z, c in zip(zones["zone_id"], areas.idxmax(axis=1), strict=True)}


@pytest.mark.parametrize("name", list(DEMOS))
def test_rendered_png_shows_each_zone_in_its_style_colour(qgis_run: dict[str, Any], name: str) -> None:
    report = qgis_run["report"][name]
    assert Path(report["rendered"]["png"]).stat().st_size > 10_000
    expected = _dominant_colours(qgis_run["folders"][name])
    seen = report["zone_colours"]
    assert set(seen) == set(expected)
    for zone, colour in expected.items():
        assert seen[zone]["colour"] == colour, f"{name} zone {zone}: rendered {seen[zone]}, style says {colour}"
        assert seen[zone]["share"] > 0.6  # the rest is outlines and labels
    print(f"QGIS render of {name}: {report['rendered']['png']}")


def test_sao_miguel_render_matches_hand_read_zone_table(qgis_run: dict[str, Any]) -> None:
    # CORINE 2018 areas: Nordeste forest 3422.7 ha > cropland 2521.8 > grassland 2400.7 ha, so its
    # fill is the forest colour #006400; Ponta Delgada cropland 10787.7 ha > grassland 7234.7 ha, so #f096ff.
    seen = qgis_run["report"]["sao_miguel_corine"]["zone_colours"]
    assert (seen["Nordeste"]["colour"], seen["Ponta Delgada"]["colour"]) == ("#006400", "#f096ff")


def test_check_fails_when_a_style_is_missing_or_a_layer_is_broken(qgis_run: dict[str, Any]) -> None:
    source = qgis_run["folders"]["sao_miguel_corine"]
    broken = qgis_run["work"] / "broken"
    shutil.copytree(source, broken)
    with sqlite3.connect(broken / "sinkzones.gpkg") as con:
        con.execute("DELETE FROM layer_styles WHERE f_table_name = 'zones'")
    counts = _layers(broken)
    counts["no_such_layer"] = 1
    report = run_qgis([{"folder": str(broken), "layers": list(counts), "png": ""}], qgis_run["work"])
    found = problems(report["folders"][0], counts=counts, styles={**_stored_styles(source), "no_such_layer": "x"})
    assert any(p.startswith("zones: QGIS loaded style None") for p in found)
    assert any(p.startswith("no_such_layer: invalid") for p in found)
