"""The published accuracy examples run end to end through `sinkzone run`: rasters and sample points built here,
figures read back from the GeoPackage's tables and compared with the printed ones.

Olofsson et al. (2014), RSE 148:42-57, section 5: the map has 200,000 / 150,000 / 3,200,000 / 6,450,000 Landsat
pixels (0.09 ha) of deforestation / forest gain / stable forest / stable non-forest, 900,000 ha in all. Here the
raster has 4 / 3 / 64 / 129 cells (the same proportions, ÷ 50,000) of 9,000 m × 5,000 m = 4,500 ha each, so the
class areas are the published ones to the hectare. Stehman (2014), IJRS 35:4923-4939: strata of 40,000 / 30,000 /
20,000 / 10,000 pixels are here 40 / 30 / 20 / 10 cells of a 2015 map; the assessed 2020 map gives each point its
map class.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from builders import UTM10N, X0, Y0, write_class_map, write_raster
from rasterio.transform import from_origin

from pipeline.core.config import RunConfig
from pipeline.core.errors import TableError, ValidationFailed
from pipeline.core.names import GPKG_NAME
from pipeline.inputs.check import check_inputs
from pipeline.run import runner

# Table 8 of Olofsson et al. (2014): rows map class (= stratum), columns reference class.
LABELS = ["Deforestation", "Forest gain", "Stable forest", "Stable non-forest"]
CLASSES = ["deforestation", "forest_gain", "stable_forest", "stable_non_forest"]
TABLE8 = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
CELLS = [4, 3, 64, 129]  # 200,000 : 150,000 : 3,200,000 : 6,450,000 ÷ 50,000
CELL_W, CELL_H = 9_000.0, 5_000.0  # 4,500 ha a cell: 200 cells = 900,000 ha, the paper's total
ROWS, COLS = 10, 20


def table8_raster() -> np.ndarray:
    codes = np.repeat(np.arange(1, 5, dtype=np.uint8), CELLS)
    return np.random.default_rng(8).permutation(codes).reshape(ROWS, COLS)


def points_in_cells(cells: np.ndarray, n: int, rng: np.random.Generator, *, cell_w: float,
                    cell_h: float) -> list[shapely.Point]:
    """n points at random inside the given (row, col) cells, in turn, kept off the cell edges."""
    picks = cells[np.arange(n) % len(cells)]
    u = rng.uniform(0.1, 0.9, size=(n, 2))
    return [shapely.Point(X0 + (c + du) * cell_w, Y0 - (r + dv) * cell_h)
            for (r, c), (du, dv) in zip(picks, u, strict=True)]


def table8_labelled(raster: np.ndarray, names: list[str],
                    rng: np.random.Generator) -> tuple[list[shapely.Point], list[str]]:
    """Table 8's sample: n_ij points in cells of map class i (code i + 1), labelled with reference class j's name."""
    geoms: list[shapely.Point] = []
    labels: list[str] = []
    for i in range(4):
        cells = np.argwhere(raster == i + 1)
        for j in range(4):
            geoms += points_in_cells(cells, int(TABLE8[i, j]), rng, cell_w=CELL_W, cell_h=CELL_H)
            labels += [names[j]] * int(TABLE8[i, j])
    return geoms, labels


def table8_points(raster: np.ndarray) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(14)
    geoms, labels = table8_labelled(raster, LABELS, rng)
    # three points the assessment must leave out: off every zone, unlabelled, and labelled with no class
    geoms += [shapely.Point(X0 - 5_000, Y0 + 5_000), *points_in_cells(np.argwhere(raster == 3)[:2], 2, rng,
                                                                      cell_w=CELL_W, cell_h=CELL_H)]
    labels += ["Stable forest", "", "cloud"]
    frame = gpd.GeoDataFrame({"sample_id": [f"p{k}" for k in range(len(geoms))], "reference": labels},
                             geometry=geoms, crs=UTM10N)
    return frame.to_crs("EPSG:4326")  # the points may come in any CRS


def config(tmp: Path, *, epochs: dict[int, Path], classes: Path, zones: Path, accuracy: dict[str, object],
           report: bool = False) -> RunConfig:
    return RunConfig.model_validate({
        "name": "accuracy_test", "landcover": [{"year": y, "path": str(p)} for y, p in epochs.items()],
        "zones": {"path": str(zones), "id_field": "zid"}, "classes": str(classes),
        "output": {"dir": str(tmp / "out")}, "accuracy": accuracy, **({"report": {}} if report else {})})


def two_halves(path: Path, *, width: float, height: float) -> Path:
    """Two zones, the left and the right half of the raster."""
    boxes = [shapely.box(X0, Y0 - height, X0 + width / 2, Y0), shapely.box(X0 + width / 2, Y0 - height, X0 + width, Y0)]
    gpd.GeoDataFrame({"zid": ["west", "east"]}, geometry=boxes, crs=UTM10N).to_file(path, driver="GPKG")
    return path


@pytest.fixture(scope="module")
def table8_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("table8")
    raster = table8_raster()
    lc = write_raster(tmp / "change.tif", raster, transform=from_origin(X0, Y0, CELL_W, CELL_H), crs=UTM10N)
    classes = write_class_map(tmp / "change.yaml", {c: [i + 1] for i, c in enumerate(CLASSES)})
    zones = two_halves(tmp / "zones.gpkg", width=COLS * CELL_W, height=ROWS * CELL_H)
    table8_points(raster).to_file(tmp / "samples.gpkg", driver="GPKG")
    cfg = config(tmp, epochs={2012: lc}, classes=classes, zones=zones,
                 accuracy={"samples": str(tmp / "samples.gpkg"), "min_zone_samples": 2}, report=True)
    return runner.run(cfg).out_dir / GPKG_NAME


def read(gpkg: Path, layer: str) -> pd.DataFrame:
    return pyogrio.read_dataframe(gpkg, layer=layer)


def test_table8_areas_end_to_end(table8_run: Path) -> None:
    # Olofsson et al. (2014) p. 54: adjusted areas ± 1.96 SE in ha.
    published = {"deforestation": (21_158, 6_158), "forest_gain": (11_686, 3_756),
                 "stable_forest": (285_770, 15_510), "stable_non_forest": (581_386, 16_282)}
    area = read(table8_run, "accuracy_area").set_index("class")
    assert list(area.index) == CLASSES
    np.testing.assert_allclose(area["map_area_ha"], [18_000, 13_500, 288_000, 580_500])  # pixels × 0.09 ha
    for name, (adjusted, half) in published.items():
        assert area.loc[name, "adjusted_area_ha"] == pytest.approx(adjusted, abs=0.5)
        assert area.loc[name, "ci95_high_ha"] - area.loc[name, "adjusted_area_ha"] == pytest.approx(half, abs=0.5)
        assert 1.96 * area.loc[name, "se_ha"] == pytest.approx(half, abs=0.5)
    assert (area["year"] == 2012).all()
    assert area["n_samples"].tolist() == [75, 75, 165, 325]


def test_table8_accuracies_end_to_end(table8_run: Path) -> None:
    # p. 54: user's 0.88 ± 0.07, 0.73 ± 0.10, 0.93 ± 0.04, 0.96 ± 0.02; producer's 0.75, 0.85, 0.93, 0.96;
    # overall 0.95 ± 0.02.
    area = read(table8_run, "accuracy_area").set_index("class")
    for name, users, half, producers in zip(CLASSES, [0.88, 0.73, 0.93, 0.96], [0.07, 0.10, 0.04, 0.02],
                                             [0.75, 0.85, 0.93, 0.96], strict=True):
        assert area.loc[name, "users_accuracy"] == pytest.approx(users, abs=0.005)
        assert 1.96 * area.loc[name, "users_se"] == pytest.approx(half, abs=0.005)
        assert area.loc[name, "producers_accuracy"] == pytest.approx(producers, abs=0.005)
    summary = read(table8_run, "accuracy_summary").iloc[0]
    assert summary["overall_accuracy"] == pytest.approx(0.95, abs=0.005)
    assert 1.96 * summary["overall_se"] == pytest.approx(0.02, abs=0.005)
    assert (summary["n_samples"], summary["n_excluded"]) == (640, 3)
    assert "Olofsson" in summary["estimator"]


def test_table8_matrix_and_left_out_points(table8_run: Path) -> None:
    matrix = read(table8_run, "accuracy_matrix")
    counts = matrix.pivot(index="map_class", columns="reference_class", values="n").loc[CLASSES, CLASSES]
    np.testing.assert_array_equal(counts.to_numpy(), TABLE8)
    # Table 9 (p. 54), first row: 0.0176, 0.0000, 0.0013, 0.0011 (W_1 = 0.02 times 66, 0, 5, 4 over 75)
    first = matrix.set_index(["map_class", "reference_class"]).loc["deforestation", "area_proportion"]
    np.testing.assert_allclose(first.loc[CLASSES], [0.0176, 0.0, 0.0013, 0.0011], atol=0.00005)
    excluded = read(table8_run, "accuracy_excluded").set_index("sample_id")["reason"]
    assert excluded.to_dict() == {"p640": "outside every zone", "p641": "reference label empty or not a class",
                                  "p642": "reference label empty or not a class"}


def test_zone_rows_use_their_own_sample_or_the_region_rates(table8_run: Path) -> None:
    zones = read(table8_run, "zone_accuracy_area")
    area = read(table8_run, "accuracy_area").set_index("class")
    # Each half holds its own points; their map areas add up to the region's, cell for cell.
    per_class = zones.groupby("class")["map_area_ha"].sum().loc[CLASSES]
    np.testing.assert_allclose(per_class.to_numpy(), area.loc[CLASSES, "map_area_ha"].to_numpy())
    assert set(zones["method"]) <= {"zone_sample", "region_error_rates"}
    assert zones.groupby("class")["n_samples"].sum().loc[CLASSES].tolist() == [75, 75, 165, 325]
    for _, zone in zones.groupby("zone_id"):
        # Either way the adjusted areas of a zone add up to its mapped area (the error matrix rows sum to W_i).
        assert zone["adjusted_area_ha"].sum() == pytest.approx(zone["map_area_ha"].sum())


def test_region_error_rates_on_a_zone_are_the_region_estimate_scaled(tmp_path: Path) -> None:
    # One zone = the whole raster, with a minimum no zone reaches: region rates on the zone's own map areas
    # must give exactly the region's figures (the zone's areas are the region's).
    raster = table8_raster()
    lc = write_raster(tmp_path / "change.tif", raster, transform=from_origin(X0, Y0, CELL_W, CELL_H), crs=UTM10N)
    classes = write_class_map(tmp_path / "c.yaml", {c: [i + 1] for i, c in enumerate(CLASSES)})
    whole = shapely.box(X0, Y0 - ROWS * CELL_H, X0 + COLS * CELL_W, Y0)
    gpd.GeoDataFrame({"zid": ["all"]}, geometry=[whole], crs=UTM10N).to_file(tmp_path / "z.gpkg")
    table8_points(raster).to_file(tmp_path / "s.gpkg", driver="GPKG")
    cfg = config(tmp_path, epochs={2012: lc}, classes=classes, zones=tmp_path / "z.gpkg",
                 accuracy={"samples": str(tmp_path / "s.gpkg"), "min_zone_samples": 1000})
    tables = runner.run(cfg).tables
    zone = tables["zone_accuracy_area"]
    assert set(zone["method"]) == {"region_error_rates"}
    region = tables["accuracy_area"]
    np.testing.assert_allclose(zone["adjusted_area_ha"], region["adjusted_area_ha"])
    np.testing.assert_allclose(zone["se_ha"], region["se_ha"])


# --- Stehman (2014) numerical example, end to end --------------------------------------------------------------------
STEHMAN_MAP = ["AAAAAAABBB", "ABBBBBBBBB", "BBCCCCCCBB", "DDDDDDDDDD"]  # Table 2, strata 1-4, ten units each
STEHMAN_REF = ["AAAAACBABC", "ABBBBBAABB", "CCCCCDDBBA", "DDDDDDDCCB"]
STRATA_CELLS = [40, 30, 20, 10]


def stehman_rasters(tmp: Path) -> tuple[Path, Path, list[shapely.Point], list[str]]:
    """A 2015 map of strata a-d (40/30/20/10 cells of 10 x 10) and a 2020 map; each Table 2 unit gets its own cell
    of its stratum, whose 2020 code is the unit's map class."""
    strata = np.repeat(np.arange(1, 5, dtype=np.uint8), STRATA_CELLS).reshape(10, 10)
    assessed = strata.copy()
    geoms, refs = [], []
    for h, (maps, references) in enumerate(zip(STEHMAN_MAP, STEHMAN_REF, strict=True)):
        cells = np.argwhere(strata == h + 1)[:10]
        for (r, c), m, ref in zip(cells, maps, references, strict=True):
            assessed[r, c] = "ABCD".index(m) + 1
            geoms.append(shapely.Point(X0 + (c + 0.5) * 30, Y0 - (r + 0.5) * 30))
            refs.append(ref.lower())
    transform = from_origin(X0, Y0, 30, 30)
    return (write_raster(tmp / "s2015.tif", strata, transform=transform, crs=UTM10N),
            write_raster(tmp / "m2020.tif", assessed, transform=transform, crs=UTM10N), geoms, refs)


def test_stehman_2014_end_to_end(tmp_path: Path) -> None:
    y2015, y2020, geoms, refs = stehman_rasters(tmp_path)
    classes = write_class_map(tmp_path / "abcd.yaml", {c: [i + 1] for i, c in enumerate("abcd")})
    zones = two_halves(tmp_path / "zones.gpkg", width=300, height=300)
    frame = gpd.GeoDataFrame({"reference": refs}, geometry=geoms, crs=UTM10N).to_crs("EPSG:4326")
    pd.DataFrame({"lon": frame.geometry.x, "lat": frame.geometry.y, "reference": refs}).to_csv(
        tmp_path / "samples.csv", index=False)  # CSV with WGS84 lon/lat
    cfg = config(tmp_path, epochs={2015: y2015, 2020: y2020}, classes=classes, zones=zones,
                 accuracy={"samples": str(tmp_path / "samples.csv"), "year": 2020, "strata_year": 2015})
    gpkg = runner.run(cfg).out_dir / GPKG_NAME
    area = read(gpkg, "accuracy_area").set_index("class")
    summary = read(gpkg, "accuracy_summary").iloc[0]
    total_ha = 100 * 0.09
    # p. 4932: P̂_A = 0.35, P̂_C = 0.20, Ô = 0.63; p. 4935: SE 0.082 and 0.064; p. 4936: SE(Ô) = 0.085;
    # p. 4934: Û_B = 0.574, P̂_B = 0.794; p. 4936: SE(Û_B) = 0.125.
    assert area.loc["a", "adjusted_area_ha"] / total_ha == pytest.approx(0.35, abs=0.005)
    assert area.loc["c", "adjusted_area_ha"] / total_ha == pytest.approx(0.20, abs=0.005)
    assert area.loc["a", "se_ha"] / total_ha == pytest.approx(0.082, abs=0.0005)
    assert area.loc["c", "se_ha"] / total_ha == pytest.approx(0.064, abs=0.0005)
    assert area.loc["b", "users_accuracy"] == pytest.approx(0.574, abs=0.0005)
    assert area.loc["b", "producers_accuracy"] == pytest.approx(0.794, abs=0.0005)
    assert area.loc["b", "users_se"] == pytest.approx(0.125, abs=0.0005)
    assert summary["overall_accuracy"] == pytest.approx(0.63, abs=0.005)
    assert summary["overall_se"] == pytest.approx(0.085, abs=0.0005)
    assert "Stehman" in summary["estimator"]
    assert (summary["year"], summary["strata_year"]) == (2020, 2015)
    # the map areas are the assessed (2020) map's, not the strata's
    assert area["map_area_ha"].sum() == pytest.approx(total_ha)
    assert area.loc["d", "map_area_ha"] == pytest.approx(10 * 0.09)


def test_a_stratum_without_points_stops_the_run(tmp_path: Path) -> None:
    raster = table8_raster()
    lc = write_raster(tmp_path / "change.tif", raster, transform=from_origin(X0, Y0, CELL_W, CELL_H), crs=UTM10N)
    classes = write_class_map(tmp_path / "c.yaml", {c: [i + 1] for i, c in enumerate(CLASSES)})
    zones = two_halves(tmp_path / "zones.gpkg", width=COLS * CELL_W, height=ROWS * CELL_H)
    points = table8_points(raster)
    points.iloc[:75].to_file(tmp_path / "s.gpkg", driver="GPKG")  # deforestation points only
    cfg = config(tmp_path, epochs={2012: lc}, classes=classes, zones=zones,
                 accuracy={"samples": str(tmp_path / "s.gpkg")})
    with pytest.raises(TableError, match=r"forest_gain \(13,500.00 ha, 0 point\(s\)\)"):
        runner.run(cfg)


def test_bad_sample_files_are_named_before_compute(tmp_path: Path) -> None:
    raster = table8_raster()
    lc = write_raster(tmp_path / "change.tif", raster, transform=from_origin(X0, Y0, CELL_W, CELL_H), crs=UTM10N)
    classes = write_class_map(tmp_path / "c.yaml", {c: [i + 1] for i, c in enumerate(CLASSES)})
    zones = two_halves(tmp_path / "zones.gpkg", width=COLS * CELL_W, height=ROWS * CELL_H)
    (tmp_path / "nolonlat.csv").write_text("x,y,reference\n1,2,forest\n", encoding="utf-8")
    table8_points(raster).to_file(tmp_path / "s.gpkg", driver="GPKG")
    # the labelled copy saved as a second layer beside the drawn one: which is meant cannot be guessed
    for layer in ("drawn", "labelled"):
        table8_points(raster).to_file(tmp_path / "two.gpkg", layer=layer, driver="GPKG")
    cases = {"nolonlat.csv": {}, "missing.gpkg": {}, "s.gpkg": {"reference_field": "label"}, "two.gpkg": {}}
    messages = {"nolonlat.csv": "needs columns lon and lat", "missing.gpkg": "file not found",
                "s.gpkg": "no field 'label' with the reference labels",
                "two.gpkg": "holds 2 point layers: drawn, labelled; say which holds the labelled sample points "
                            "with accuracy.layer"}
    for name, extra in cases.items():
        cfg = config(tmp_path, epochs={2012: lc}, classes=classes, zones=zones,
                     accuracy={"samples": str(tmp_path / name), **extra})
        with pytest.raises(ValidationFailed, match=messages[name]):
            check_inputs(cfg, deep=False)


def test_the_report_has_an_accuracy_page(table8_run: Path) -> None:
    report = table8_run.parent / "report"
    page = (report / "accuracy.html").read_text(encoding="utf-8")
    assert 'href="accuracy.html"' in (report / "index.html").read_text(encoding="utf-8")
    assert "accuracy_area.png" in page
    assert (report / "accuracy_area.png").read_bytes().startswith(b"\x89PNG")
    assert "<td class=\"\">313</td>" in page  # Table 8's largest count, in the error matrix
    # overall accuracy Σ W_i n_ii / n_i. = 0.0176 + 0.0110 + 0.2967 + 0.6212 = 0.9465 (printed p. 54 as 0.95)
    assert "overall accuracy 0.947" in page
