"""The zone page's land-cover overlay and its downloads, on a store whose runs read the shipped São Tomé ESA
WorldCover rasters (the 2021 map standing for the store's 2023 epoch), copied to the test's folder; the zones lie
over São Tomé (platform_history.SAO_TOME). In the browser (tests/platform_browser.py) and over HTTP.

Expected colours come from the ESA WorldCover product user manual's legend (below), and each pixel's class from the
raster cell read here with rasterio where the pixel's centre falls; not from the code under test."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import platform_history as ph
import pyproj
import pytest
import rasterio
from PIL import Image
from platform_browser import chromium, guarded_page, log_in, shot, table
from platform_server import Client, Server, logged_in, page_overlays, start, workbook_rows
from playwright import sync_api

from pipeline.record.store import open_store

DATA = Path(__file__).resolve().parents[1] / "data" / "sao_tome_worldcover"
FILES = {2020: "ESA_WorldCover_10m_2020_v100_SaoTome.tif", 2023: "ESA_WorldCover_10m_2021_v200_SaoTome.tif"}
# ESA WorldCover v100/v200 product user manual, legend table: code -> RGB
LEGEND = {10: (0, 100, 0), 20: (255, 187, 34), 30: (255, 255, 76), 40: (240, 150, 255), 50: (250, 0, 0),
          60: (180, 180, 180), 70: (240, 240, 240), 80: (0, 100, 200), 90: (0, 150, 160), 95: (0, 207, 117),
          100: (250, 230, 160)}
# a class name no run of the demos has, that a spreadsheet would run as a formula
HOSTILE_CLASS = '=HYPERLINK("http://example.invalid","x")'


def _store(folder: Path) -> tuple[Path, dict[int, Path]]:
    """The test store in `folder`, its runs reading copies of the rasters there; Z2 (the hostile name) has a class
    named like a formula."""
    copies = {year: Path(shutil.copy(DATA / name, folder / name)) for year, name in FILES.items()}
    history = ph.build(folder / "history.gpkg", landcover=copies)
    with open_store(str(history)) as store, store.writing():
        store.execute("INSERT INTO class_area (run_id, zone_id, zone_version, year, class, area_ha) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (ph.RUN_A, "Z2", 1, 2020, HOSTILE_CLASS, 1.5))
    return history, copies


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start(_store(tmp_path_factory.mktemp("overlay"))[0])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A server whose store records a 2020 raster that has since been moved away; and the path it records."""
    folder = tmp_path_factory.mktemp("moved")
    history, copies = _store(folder)
    (folder / "elsewhere").mkdir()
    shutil.move(copies[2020], folder / "elsewhere" / copies[2020].name)
    server = start(history)
    yield server, copies[2020]
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium() as browser:
        yield browser


def test_the_zone_page_shows_the_latest_epoch_and_the_slider_loads_another(browser: sync_api.Browser,
                                                                          server: Server) -> None:
    asked: list[str] = []
    with guarded_page(browser, server) as page:
        page.on("request", lambda request: asked.append(request.url))
        log_in(page, server, "viewer")
        page.goto(server.url + "/zones/Z1/")
        page.wait_for_selector("#map[data-overlay='2023']")
        assert page.inner_text("label[for=year]").startswith("年份 year 2023")
        assert page.get_attribute("img.landcover-image", "src") == "/zones/Z1/landcover/2023.png"
        assert page.locator(".landcover[data-year='2023'] .landcover-legend li").count() >= 3
        assert page.locator(".landcover[data-year='2020']").is_hidden()
        sync_api.expect(page.locator(".swatch").first).not_to_have_css("background-color", "rgba(0, 0, 0, 0)")
        page.locator("path.zone-shape").wait_for()
        shot(page, "zone-overlay")  # docs/images/platform/zone.png
        page.fill("#year", "0")
        page.wait_for_selector("#map[data-overlay='2020']")
        assert page.inner_text("#year-value") == "2020"
        assert page.locator(".landcover[data-year='2020']").is_visible()
        assert page.locator("img.landcover-image").count() == 1
    assert server.url + "/zones/Z1/landcover/2023.png" in asked
    assert server.url + "/zones/Z1/landcover/2020.png" in asked


def _mercator_centres(corners: list[list[float]], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel centre's longitude and latitude: the picture spans its corners linearly in Web Mercator, as a web
    map places it."""
    (south, west), (north, east) = corners
    to_mercator = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    (x0, x1), (y0, y1) = to_mercator.transform([west, east], [south, north])
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    x = x0 + (cols + 0.5) * (x1 - x0) / shape[1]
    y = y1 - (rows + 0.5) * (y1 - y0) / shape[0]
    return to_mercator.transform(x, y, direction="INVERSE")


def test_the_picture_has_each_cells_class_colour_where_the_map_places_it(server: Server) -> None:
    client = logged_in(server, "viewer")
    epochs = {e["year"]: e for e in page_overlays(client.get("/zones/Z1/")[2])}
    status, headers, body = client.get("/zones/Z1/landcover/2020.png")
    assert status == 200
    assert headers["Content-Type"] == "image/png"
    picture = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    lon, lat = _mercator_centres(epochs[2020]["corners"], picture.shape[:2])
    with rasterio.open(DATA / FILES[2020]) as src:
        cols, rows = ~src.transform * (lon, lat)
        cells = src.read(1)
    # pixel centres well inside a raster cell: on a cell edge, rounding may pick either neighbour
    inside = (np.abs(cols - np.round(cols)) > 0.05) & (np.abs(rows - np.round(rows)) > 0.05)
    codes = cells[np.floor(rows[inside]).astype(int), np.floor(cols[inside]).astype(int)]
    expected = np.array([(*LEGEND[int(code)], 255) if int(code) in LEGEND else (0, 0, 0, 0) for code in codes])
    assert inside.sum() > picture.shape[0] * picture.shape[1] // 2
    assert (picture[inside] == expected).all()
    assert len(set(codes.tolist())) >= 3  # Z1 is coast: forest, built-up and sea at least


def test_a_moved_raster_leaves_a_note_naming_it_not_an_error(browser: sync_api.Browser,
                                                             moved: tuple[Server, Path]) -> None:
    server, path = moved
    client = logged_in(server, "viewer")
    status, _, body = client.get("/zones/Z1/")
    assert status == 200
    epochs = {e["year"]: e for e in page_overlays(body)}
    assert "url" not in epochs[2020]
    assert epochs[2020]["path"] == str(path)
    assert epochs[2020]["problem"] == "file not found"
    assert client.get("/zones/Z1/landcover/2023.png")[0] == 200
    status, _, body = client.get("/zones/Z1/landcover/2020.png")
    assert status == 404
    assert str(path) in body.decode()
    with guarded_page(browser, server) as page:
        log_in(page, server, "viewer")
        page.goto(server.url + "/zones/Z1/")
        page.wait_for_selector("#map[data-overlay='2023']")
        page.fill("#year", "0")
        note = page.locator(".landcover[data-year='2020'] .overlay-note")
        sync_api.expect(note).to_be_visible()
        assert note.inner_text().startswith("2020 年地类图无法读取 The 2020 land cover cannot be read")
        assert str(path) in note.inner_text()
        assert page.locator("img.landcover-image").count() == 0
        shot(page, "zone-overlay-moved")


def test_an_unknown_year_or_zone_is_not_found(server: Server) -> None:
    client = logged_in(server, "viewer")
    assert client.get("/zones/Z1/landcover/2021.png")[0] == 404  # the store has no 2021 epoch
    assert client.get("/zones/Z9/landcover/2020.png")[0] == 404
    assert client.get("/zones/Z1/series.xlsx?sort=nonsense")[0] == 404


def test_the_picture_needs_a_login(server: Server) -> None:
    status, headers, _ = Client(server.url).get("/zones/Z1/landcover/2020.png")
    assert status == 302
    assert headers["Location"].startswith("/login/")


def test_the_xlsx_holds_the_pages_table_and_the_csvs(browser: sync_api.Browser, server: Server) -> None:
    with guarded_page(browser, server) as page:
        log_in(page, server, "viewer")
        page.goto(server.url + "/zones/Z2/?sort=-value")
        assert page.inner_text("#zone-name") == ph.HOSTILE_NAME
        assert page.locator("img:not(.landcover-image)").count() == 0  # the name was not run as HTML
        shown = table(page, "#series")
        with page.expect_download() as download:
            page.click("#xlsx")
        assert download.value.suggested_filename == "zone_series.xlsx"
        from_xlsx = workbook_rows(Path(download.value.path()).read_bytes())
        with page.expect_download() as download:
            page.click("#csv")
        with open(download.value.path(), encoding="utf-8-sig", newline="") as handle:
            from_csv = list(csv.reader(handle))
    assert from_xlsx[0] == from_csv[0]
    assert from_xlsx[1:] == shown
    # the CSV's text policy puts an apostrophe before text a spreadsheet would run (core/literal.py)
    assert [[c.removeprefix("'") for c in row] for row in from_csv[1:]] == shown
    assert [row[3] for row in from_xlsx if row[1] == "carbon_t"] == ["t C", "t C"]  # the units, as on the page


def test_a_class_named_like_a_formula_stays_text_in_the_workbook(server: Server) -> None:
    workbook = logged_in(server, "viewer").get("/zones/Z2/series.xlsx")[2]
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    assert sheet is not None
    cells = [row[1] for row in sheet.iter_rows(min_row=2) if row[1].value == f"{HOSTILE_CLASS}_ha"]
    assert len(cells) == 1
    assert cells[0].data_type == "s"  # text, never a formula
