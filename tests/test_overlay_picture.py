"""The zone page's land-cover picture without the platform: a raster in a projected CRS (UTM) read around a place,
warped to Web Mercator and painted; each pixel checked against the cell its centre falls in, found here with pyproj
and the raster's own transform. Colours: the ESA WorldCover product user manual's legend."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from pipeline.core.classmaps import builtin_class_map
from pipeline.core.errors import MissingFileError, RasterError
from pipeline.files.rasters import read_web_mercator
from pipeline.present.overlay import legend, painted, png

UTM = 32632  # UTM zone 32N: metres, a grid Web Mercator does not share
ORIGIN = (500_000.0, 4_500_000.0)  # west and north edges, metres (about 9.0° E, 40.65° N)
CELL_M = 30.0
FOREST, GRASS, WATER, UNMAPPED, NODATA = 10, 30, 80, 201, 0
COLOURS = {FOREST: (0, 100, 0, 255), GRASS: (255, 255, 76, 255), WATER: (0, 100, 200, 255)}
TRANSPARENT = (0, 0, 0, 0)


@pytest.fixture(scope="module")
def raster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 x 100 cells of 30 m: forest and grassland in 5-cell stripes, a water block, an unmapped code, and a
    nodata corner."""
    cells = np.where((np.arange(100)[None, :] // 5) % 2 == 0, FOREST, GRASS).repeat(100, axis=0).astype(np.uint8)
    cells[60:80, 60:80] = WATER
    cells[10:20, 70:90] = UNMAPPED
    cells[:30, :30] = NODATA
    path = tmp_path_factory.mktemp("utm") / "landcover_utm.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=1, dtype="uint8", crs=f"EPSG:{UTM}",
                       transform=from_origin(*ORIGIN, CELL_M, CELL_M), nodata=NODATA) as dst:
        dst.write(cells, 1)
    return path


def _degrees_of(x: float, y: float) -> tuple[float, float]:
    lon, lat = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True).transform(x, y)
    return float(lon), float(lat)


def _place() -> tuple[float, float, float, float]:
    """Most of the raster, in degrees: from (200 m, -2800 m) to (2800 m, -200 m) off its north-west corner."""
    west, south = _degrees_of(ORIGIN[0] + 200, ORIGIN[1] - 2800)
    east, north = _degrees_of(ORIGIN[0] + 2800, ORIGIN[1] - 200)
    return west, south, east, north


def _expected(path: Path, bounds: tuple[float, float, float, float], shape: tuple[int, int]) -> tuple[
        np.ndarray, np.ndarray]:
    """The cell code under each pixel centre (the picture spans `bounds` linearly in Web Mercator), and which
    centres lie well inside a cell (on an edge, rounding may pick either neighbour)."""
    west, south, east, north = bounds
    (x0, x1), (y0, y1) = pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform([west, east],
                                                                                            [south, north])
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    x = x0 + (cols + 0.5) * (x1 - x0) / shape[1]
    y = y1 - (rows + 0.5) * (y1 - y0) / shape[0]
    ux, uy = pyproj.Transformer.from_crs(3857, UTM, always_xy=True).transform(x, y)
    with rasterio.open(path) as src:
        c, r = ~src.transform * (ux, uy)
        cells = src.read(1)
    inside = (np.abs(c - np.round(c)) > 0.02) & (np.abs(r - np.round(r)) > 0.02)
    codes = cells[np.clip(np.floor(r), 0, 99).astype(int), np.clip(np.floor(c), 0, 99).astype(int)]
    return codes, inside


def test_each_pixel_has_the_colour_of_the_cell_under_its_centre(raster: Path) -> None:
    picture = read_web_mercator(raster, bounds=_place(), max_side=1024)
    rgba = painted(picture.values, picture.valid, builtin_class_map("esa_worldcover"))
    codes, inside = _expected(raster, picture.bounds, rgba.shape[:2])
    expected = np.array([COLOURS.get(int(code), TRANSPARENT) for code in codes.ravel()]).reshape(rgba.shape)
    assert inside.mean() > 0.8
    assert (rgba[inside] == expected[inside]).all()
    # the nodata corner and the unmapped code are transparent; the three classes are there
    assert {int(c) for c in codes[inside]} == {FOREST, GRASS, WATER, UNMAPPED, NODATA}
    decoded = np.asarray(Image.open(io.BytesIO(png(rgba))))
    assert (decoded == rgba).all()


def test_the_picture_covers_the_place_asked_for(raster: Path) -> None:
    west, south, east, north = _place()
    picture = read_web_mercator(raster, bounds=(west, south, east, north), max_side=1024)
    left, bottom, right, top = picture.bounds
    # whole cells of the warped grid around the place: no more than a cell (about 30 m, 0.0004°) beyond it
    assert left <= west < left + 0.0004
    assert right - 0.0004 < east <= right
    assert bottom <= south < bottom + 0.0004
    assert top - 0.0004 < north <= top


def test_the_legend_lists_the_classes_shown_and_the_side_is_capped(raster: Path) -> None:
    picture = read_web_mercator(raster, bounds=_place(), max_side=40)
    assert max(picture.values.shape) == 40
    shown = legend(picture.values, picture.valid, builtin_class_map("esa_worldcover"))
    assert [code for code, _, _ in shown] == [FOREST, GRASS, WATER]
    assert shown[0][2] == "10 Tree cover (森林（乔木林） / Forest (tree cover))"


def test_a_runs_own_nodata_value_is_transparent() -> None:
    values = np.array([[FOREST, GRASS]], dtype=np.uint8)
    rgba = painted(values, np.ones_like(values, dtype=bool), builtin_class_map("esa_worldcover"), nodata=GRASS)
    assert [tuple(p) for p in rgba[0]] == [COLOURS[FOREST], TRANSPARENT]


def test_a_missing_file_or_a_place_off_the_raster_is_named(raster: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="gone.tif: file not found"):
        read_web_mercator(tmp_path / "gone.tif", bounds=_place(), max_side=64)
    with pytest.raises(RasterError, match="does not reach the place"):
        read_web_mercator(raster, bounds=(100.0, 10.0, 100.1, 10.1), max_side=64)
