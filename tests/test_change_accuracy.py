"""Change strata (Olofsson et al. 2014, section 5): `sinkzone sample` and the accuracy stage with `accuracy.change`.

The categories come from two land-cover epochs built here, small enough to count by hand; the estimates are
checked against a perfect map (adjusted = mapped, SE 0) and against the paper's published Table 8 example.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from builders import UTM10N, X0, Y0, write_class_map, write_raster
from rasterio.transform import from_origin
from test_accuracy_run import CELL_H, CELL_W, COLS, ROWS, config, table8_labelled, table8_raster
from typer.testing import CliRunner

from pipeline.core.config import Report, Transitions
from pipeline.core.errors import ClassMapError, ConfigError, ValidationFailed
from pipeline.inputs.check import check_inputs
from pipeline.inputs.run_config import load_config
from pipeline.run import runner, sampling
from pipeline.terminal.cli import app

CHANGE = {"from_year": 2001, "to_year": 2020, "classes": ["forest"]}
CATEGORIES = ["forest_gain", "forest_loss", "stable_forest", "stable_non_forest"]
CELL = 100.0  # m: a cell is 1 ha, so a category's area in ha is its number of cells
# codes 1 forest, 2 grassland, 3 cropland, 0 nodata
Y2001 = np.array([[1, 1, 1, 1, 2],
                  [1, 1, 2, 2, 2],
                  [3, 3, 2, 2, 0],
                  [1, 3, 3, 3, 3]], dtype=np.uint8)
Y2020 = np.array([[1, 1, 2, 1, 2],
                  [1, 1, 1, 2, 2],
                  [3, 1, 2, 2, 2],
                  [2, 3, 3, 1, 3]], dtype=np.uint8)
# Read off cell by cell: S stable forest (1 -> 1), N stable non-forest (2/3 -> 2/3), G gain (2/3 -> 1),
# L loss (1 -> 2/3), "." nodata in 2001 (row 2, col 4): outside the population.
BY_HAND = ["SSLSN",
           "SSGNN",
           "NGNN.",
           "LNNGN"]
LETTER = {"G": "forest_gain", "L": "forest_loss", "S": "stable_forest", "N": "stable_non_forest"}
# G: (1,2) (2,1) (3,3) = 3; L: (0,2) (3,0) = 2; S: (0,0) (0,1) (0,3) (1,0) (1,1) = 5;
# N: (0,4) (1,3) (1,4) (2,0) (2,2) (2,3) (3,1) (3,2) (3,4) = 9; 19 cells, 20 less the nodata one.
CELLS_BY_HAND = {"forest_gain": 3, "forest_loss": 2, "stable_forest": 5, "stable_non_forest": 9}


def small_run(tmp: Path, *, accuracy: dict[str, object] | None = None, three_epochs: bool = False) -> dict:
    """Rasters of 2001 (and 2010, a copy of 2001) and 2020, the class map, and one zone over the whole raster."""
    transform = from_origin(X0, Y0, CELL, CELL)
    epochs = {2001: write_raster(tmp / "lc2001.tif", Y2001, transform=transform, crs=UTM10N, nodata=0)}
    if three_epochs:
        epochs[2010] = write_raster(tmp / "lc2010.tif", Y2001, transform=transform, crs=UTM10N, nodata=0)
    epochs[2020] = write_raster(tmp / "lc2020.tif", Y2020, transform=transform, crs=UTM10N, nodata=0)
    classes = write_class_map(tmp / "classes.yaml", {"forest": [1], "grassland": [2], "cropland": [3]})
    whole = shapely.box(X0, Y0 - 4 * CELL, X0 + 5 * CELL, Y0)
    gpd.GeoDataFrame({"zid": ["all"]}, geometry=[whole], crs=UTM10N).to_file(tmp / "zones.gpkg")
    return {"epochs": epochs, "classes": classes, "zones": tmp / "zones.gpkg",
            "accuracy": accuracy or {"samples": str(tmp / "samples.gpkg"), "change": CHANGE}}


def category_under(points: gpd.GeoDataFrame) -> list[str]:
    """The hand-read category of the cell under each point (points in the rasters' CRS)."""
    cols = np.floor((points.geometry.x - X0) / CELL).astype(int)
    rows = np.floor((Y0 - points.geometry.y) / CELL).astype(int)
    return [LETTER[BY_HAND[r][c]] for r, c in zip(rows, cols, strict=True)]


def test_the_sampler_stratifies_by_change_category(tmp_path: Path) -> None:
    cfg = config(tmp_path, **small_run(tmp_path))
    drawn = sampling.draw(cfg, sampling.Design(n=8, min_per_stratum=2, seed=5), out=tmp_path / "s.gpkg")
    plan = drawn.allocation.set_index("stratum")
    assert list(plan.index) == CATEGORIES
    assert plan["cells"].to_dict() == CELLS_BY_HAND
    np.testing.assert_allclose(plan["area_ha"], [3, 2, 5, 9])  # 1 ha cells
    # n = 8 with at least 2 a stratum: the four minimums take 8, so 2 each
    assert plan["n"].tolist() == [2, 2, 2, 2]
    points = gpd.read_file(tmp_path / "s.gpkg")
    assert category_under(points) == points["stratum"].tolist()
    assert (points["map_class"] == points["stratum"]).all()
    assert set(points["year"]) == {2020}
    assert set(points["strata_year"]) == {2001}


def test_a_full_draw_takes_every_cell_of_the_population_once(tmp_path: Path) -> None:
    cfg = config(tmp_path, **small_run(tmp_path))
    # n = 19 = the population: proportional allocation 19 × cells/19 is the cell counts exactly
    drawn = sampling.draw(cfg, sampling.Design(n=19, min_per_stratum=2), out=tmp_path / "s.gpkg")
    assert drawn.allocation.set_index("stratum")["n"].to_dict() == CELLS_BY_HAND
    points = drawn.points
    assert category_under(points) == points["stratum"].tolist()
    cells = {(round(p.x), round(p.y)) for p in points.geometry}
    assert len(cells) == 19
    assert (round(X0 + 4.5 * CELL), round(Y0 - 2.5 * CELL)) not in cells  # the nodata cell is outside


def test_a_perfect_map_has_adjusted_areas_equal_to_mapped_areas(tmp_path: Path) -> None:
    # Three epochs and transitions not asked for 2001 -> 2020: the change assessment must have that pair computed.
    parts = small_run(tmp_path, three_epochs=True)
    cfg = config(tmp_path, **parts).model_copy(update={"transitions": Transitions(first_last=False)})
    drawn = sampling.draw(cfg, sampling.Design(n=19, min_per_stratum=2), out=tmp_path / "drawn.gpkg")
    drawn.points.assign(reference=drawn.points["stratum"].str.replace("_", " ")).to_file(tmp_path / "samples.gpkg")
    tables = runner.run(cfg).tables
    area = tables["accuracy_change_area"].set_index("category")
    assert list(area.index) == CATEGORIES
    # every label right: p̂_ij = 0 off the diagonal, so p̂_.k = W_k and each stratum's variance term is 0
    np.testing.assert_allclose(area["map_area_ha"], [3, 2, 5, 9])
    np.testing.assert_allclose(area["adjusted_area_ha"], [3, 2, 5, 9])
    np.testing.assert_allclose(area["se_ha"], 0.0, atol=1e-12)
    np.testing.assert_allclose(area[["users_accuracy", "producers_accuracy"]], 1.0)
    assert area["n_samples"].tolist() == [3, 2, 5, 9]
    assert (area["year_from"] == 2001).all()
    assert (area["year_to"] == 2020).all()
    assert tables["accuracy_summary"]["overall_accuracy"].iloc[0] == pytest.approx(1.0)
    assert "accuracy_area" not in tables
    assert "zone_accuracy_area" not in tables
    pairs = set(zip(tables["zone_transitions"]["year_from"], tables["zone_transitions"]["year_to"], strict=True))
    assert (2001, 2020) in pairs


def test_the_report_shows_the_change_assessment(tmp_path: Path) -> None:
    parts = small_run(tmp_path)
    cfg = config(tmp_path, **parts).model_copy(update={"report": Report(enabled=True)})
    drawn = sampling.draw(cfg, sampling.Design(n=19, min_per_stratum=2), out=tmp_path / "drawn.gpkg")
    drawn.points.assign(reference=drawn.points["stratum"]).to_file(tmp_path / "samples.gpkg")
    runner.run(cfg)
    report = cfg.output.dir / "report"
    assert 'href="accuracy.html"' in (report / "index.html").read_text(encoding="utf-8")
    page = (report / "accuracy.html").read_text(encoding="utf-8")
    assert "change 2001 → 2020" in page
    # the categories in both languages, around the forest class's own labels
    assert "森林（乔木林）增加 Forest (tree cover) gain" in page
    assert "稳定非森林（乔木林） Stable non-forest (tree cover)" in page
    assert (report / "accuracy_area.png").read_bytes().startswith(b"\x89PNG")


def test_olofsson_table8_from_two_epochs(tmp_path: Path) -> None:
    # Table 8's map: codes 1-4 are deforestation, forest gain, stable forest, stable non-forest (4/3/64/129 cells
    # of 4,500 ha). Two epochs give exactly those categories: forest in 2001 where loss or stable forest, forest in
    # 2020 where gain or stable forest; grassland elsewhere.
    strata = table8_raster()
    transform = from_origin(X0, Y0, CELL_W, CELL_H)
    y2001 = write_raster(tmp_path / "a.tif", np.where(np.isin(strata, [1, 3]), 1, 2).astype(np.uint8),
                         transform=transform, crs=UTM10N)
    y2020 = write_raster(tmp_path / "b.tif", np.where(np.isin(strata, [2, 3]), 1, 2).astype(np.uint8),
                         transform=transform, crs=UTM10N)
    classes = write_class_map(tmp_path / "c.yaml", {"forest": [1], "grassland": [2]})
    whole = shapely.box(X0, Y0 - ROWS * CELL_H, X0 + COLS * CELL_W, Y0)
    gpd.GeoDataFrame({"zid": ["all"]}, geometry=[whole], crs=UTM10N).to_file(tmp_path / "z.gpkg")
    table8_order = ["forest_loss", "forest_gain", "stable_forest", "stable_non_forest"]
    geoms, labels = table8_labelled(strata, table8_order, np.random.default_rng(14))
    gpd.GeoDataFrame({"reference": labels}, geometry=geoms, crs=UTM10N).to_file(tmp_path / "s.gpkg")
    cfg = config(tmp_path, epochs={2001: y2001, 2020: y2020}, classes=classes, zones=tmp_path / "z.gpkg",
                 accuracy={"samples": str(tmp_path / "s.gpkg"), "change": CHANGE})
    area = runner.run(cfg).tables["accuracy_change_area"].set_index("category")
    np.testing.assert_allclose(area.loc[table8_order, "map_area_ha"], [18_000, 13_500, 288_000, 580_500])
    # Olofsson et al. (2014) p. 54, adjusted area ± 1.96 SE (ha). By hand for deforestation (eq. 9, W = 0.02,
    # 0.015, 0.32, 0.645): p̂_.1 = 0.02·66/75 + 0.015·0/75 + 0.32·1/165 + 0.645·2/325 = 0.023509, × 900,000 ha
    # = 21,158 ha.
    published = {"forest_loss": (21_158, 6_158), "forest_gain": (11_686, 3_756),
                 "stable_forest": (285_770, 15_510), "stable_non_forest": (581_386, 16_282)}
    for name, (adjusted, half) in published.items():
        assert area.loc[name, "adjusted_area_ha"] == pytest.approx(adjusted, abs=0.5)
        assert 1.96 * area.loc[name, "se_ha"] == pytest.approx(half, abs=0.5)
        assert area.loc[name, "ci95_high_ha"] - area.loc[name, "adjusted_area_ha"] == pytest.approx(half, abs=0.5)
    # user's accuracy of deforestation 66/75 = 0.88; producer's 0.75 (p. 54)
    assert area.loc["forest_loss", "users_accuracy"] == pytest.approx(0.88)
    assert area.loc["forest_loss", "producers_accuracy"] == pytest.approx(0.75, abs=0.005)
    assert area.loc[table8_order, "n_samples"].tolist() == [75, 75, 165, 325]


def write_config(tmp: Path, change: str, *, extra: str = "") -> Path:
    parts = small_run(tmp)
    text = (f"landcover:\n  - {{year: 2001, path: {parts['epochs'][2001]}}}\n"
            f"  - {{year: 2020, path: {parts['epochs'][2020]}}}\n"
            f"zones: {{path: {parts['zones']}, id_field: zid}}\nclasses: {parts['classes']}\n"
            f"output: {{dir: {tmp / 'out'}}}\naccuracy:\n  samples: {tmp / 'samples.gpkg'}\n  change: {change}\n"
            + extra)
    (tmp / "run.yaml").write_text(text, encoding="utf-8")
    return tmp / "run.yaml"


def test_change_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"from_year and to_year must be land-cover epochs \[2001, 2020\], "
                                          r"got 1999 and 2020"):
        load_config(write_config(tmp_path, "{from_year: 1999, to_year: 2020, classes: [forest]}"))
    with pytest.raises(ConfigError, match="got from_year 2020 and to_year 2001"):
        load_config(write_config(tmp_path, "{from_year: 2020, to_year: 2001, classes: [forest]}"))
    with pytest.raises(ConfigError, match="leave out accuracy.year"):
        load_config(write_config(tmp_path, "{from_year: 2001, to_year: 2020, classes: [forest]}",
                                 extra="  year: 2020\n"))
    unknown = load_config(write_config(tmp_path, "{from_year: 2001, to_year: 2020, classes: [forst]}"))
    gpd.GeoDataFrame({"reference": ["stable_forest"]}, geometry=[shapely.Point(X0 + 50, Y0 - 50)],
                     crs=UTM10N).to_file(tmp_path / "samples.gpkg")
    with pytest.raises(ValidationFailed, match=r"accuracy.change.classes: 'forst' is neither a class"):
        check_inputs(unknown, deep=False)
    with pytest.raises(ClassMapError, match=r"'forst'.*did you mean 'forest'"):
        sampling.draw(unknown, sampling.Design(n=8), out=tmp_path / "s.gpkg")
    change = load_config(write_config(tmp_path, "{from_year: 2001, to_year: 2020, classes: [forest]}"))
    with pytest.raises(ConfigError, match="leave out --year and --strata-year"):
        sampling.draw(change, sampling.Design(year=2020), out=tmp_path / "s.gpkg")


def test_assessed_and_strata_years_must_be_epochs(tmp_path: Path) -> None:
    # the year checks of a one-epoch assessment, beside those of a change assessment above
    path = write_config(tmp_path, "null", extra="  year: 1999\n")
    with pytest.raises(ConfigError, match=r"must be land-cover epochs \[2001, 2020\], got \[1999\]"):
        load_config(path)
    path = write_config(tmp_path, "null", extra="  strata_year: 2010\n")
    with pytest.raises(ConfigError, match=r"must be land-cover epochs \[2001, 2020\], got \[2010\]"):
        load_config(path)


def test_the_command_line_samples_the_config_change(tmp_path: Path) -> None:
    path = write_config(tmp_path, "{from_year: 2001, to_year: 2020, classes: [forest]}")
    result = CliRunner().invoke(app, ["sample", str(path), "--out", str(tmp_path / "s.gpkg"), "--n", "8",
                                      "--min-per-stratum", "2"])
    assert result.exit_code == 0, result.output
    assert "stable_non_forest" in result.output
    assert sorted(set(gpd.read_file(tmp_path / "s.gpkg")["stratum"])) == CATEGORIES
