"""The web platform in a real browser (tests/platform_browser.py: Debian's chromium, no request to another host, no
console error). Screenshots of every page go to output/platform-screens/ (look at them). Only the accept test
changes the store.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import platform_history as ph
import pytest
from platform_browser import chromium, guarded_page, log_in, shot, table
from platform_server import Server, start
from playwright import sync_api


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start(ph.build(tmp_path_factory.mktemp("browser") / "history.gpkg"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: sync_api.Browser, server: Server) -> Iterator[sync_api.Page]:
    with guarded_page(browser, server) as page:
        yield page


def _served(history: Path, zone_id: str) -> list[list[str]]:
    """The store's own zone_series rows for a zone, as the page prints them (four decimals), by year then metric."""
    with closing(sqlite3.connect(history)) as db:
        rows = db.execute("SELECT year, metric, value, unit, run_id, review, product, product_version, version_break "
                          "FROM zone_series WHERE zone_id = ? ORDER BY year, metric", (zone_id,)).fetchall()
    return [[str(y), m, f"{v:.4f}", u, r, rv, p, pv, str(vb)] for y, m, v, u, r, rv, p, pv, vb in rows]


def test_log_in_and_out(page: sync_api.Page, server: Server) -> None:
    page.goto(server.url + "/")
    assert page.url.startswith(server.url + "/login/")
    shot(page, "login")
    log_in(page, server, "viewer")
    assert "vic" in page.inner_text("header")
    page.click("#logout")
    page.wait_for_url(server.url + "/login/")
    page.goto(server.url + "/runs/")
    assert page.url.startswith(server.url + "/login/")


def test_the_overview_shows_one_shape_per_zone_coloured_by_plan_status(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "viewer")
    page.wait_for_selector("#map[data-shapes]")
    shapes = page.locator("#map path.zone-shape")
    assert shapes.count() == len(ph.ZONES)
    strokes = sorted(shapes.nth(i).get_attribute("stroke") or "" for i in range(shapes.count()))
    # Z1 on track (blue), Z2 behind (red), Z3 reached (green): app.js's STATUS_COLOURS
    assert strokes == sorted(["#4575b4", "#d73027", "#1a9850"])
    # forest coverage: run A 181.5 of 300 ha, or run B 185.75 of 300 ha once the accept test below has run
    with closing(sqlite3.connect(server.history)) as db:
        b_accepted = db.execute("SELECT review FROM runs WHERE run_id = ?", (ph.RUN_B,)).fetchone()[0] == "accepted"
    assert page.inner_text(".cards .value").startswith("61.92" if b_accepted else "60.50")
    shot(page, "overview")


def test_the_wall_screen_hides_the_menu_and_enlarges_the_map(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "viewer")
    normal = page.locator("#map").bounding_box()
    page.click("#wall-link")
    page.wait_for_selector("body.wall #map[data-shapes]")
    assert not page.locator("header").is_visible()
    wall = page.locator("#map").bounding_box()
    assert normal is not None
    assert wall is not None
    assert wall["height"] > normal["height"]
    assert page.locator("#map path.zone-shape").count() == len(ph.ZONES)
    shot(page, "wall")


def test_a_zone_table_equals_the_history_and_its_csv(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "viewer")
    page.goto(server.url + "/zones/Z1/")
    shown = table(page, "#series")
    assert shown == _served(server.history, "Z1")
    with page.expect_download() as download:
        page.click("#csv")
    with open(download.value.path(), encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle))[1:] == shown
    page.wait_for_selector("#map[data-shapes='1']")
    shot(page, "zone")


def test_an_analyst_accepts_a_run_and_the_series_changes(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "analyst")
    page.goto(server.url + "/zones/Z1/")
    before = {(r[0], r[1]): (r[2], r[4]) for r in table(page, "#series")}
    assert before[("2023", "forest_ha")] == ("120.5000", ph.RUN_A)  # the accepted run A's figure
    page.goto(server.url + f"/runs/{ph.RUN_B}/")
    page.fill("form[action$='/accept/'] input[name=note]", "reprocessed 2023 checked 复核")
    page.click("#accept")
    page.wait_for_url(server.url + f"/runs/{ph.RUN_B}/")
    assert page.inner_text("#review") == "accepted"
    shot(page, "run")
    page.goto(server.url + "/zones/Z1/")
    after = {(r[0], r[1]): (r[2], r[4]) for r in table(page, "#series")}
    page.click("#logout")
    log_in(page, server, "admin")
    page.goto(server.url + "/audit/")
    assert ["ana", "run.accept", ph.RUN_B, "reprocessed 2023 checked 复核"] in [r[1:] for r in table(page, "#audit")]
    # both runs accepted now: the newer run B serves 2023; 2020, which B lacks, stays run A's
    assert after[("2023", "forest_ha")] == ("125.2500", ph.RUN_B)
    assert after[("2020", "forest_ha")] == ("110.0000", ph.RUN_A)


def test_a_viewer_has_no_review_buttons_and_gets_403_on_accept(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "viewer")
    page.goto(server.url + f"/runs/{ph.RUN_A}/")
    assert page.locator("#accept").count() == 0
    token = page.get_attribute("form.logout input[name=csrfmiddlewaretoken]", "value")
    answer = page.request.post(server.url + f"/runs/{ph.RUN_A}/supersede/", form={
        "csrfmiddlewaretoken": token or "", "note": "x"}, headers={"Referer": page.url})
    assert answer.status == 403


def test_a_form_posted_without_its_csrf_token_is_refused(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "analyst")
    page.goto(server.url + f"/runs/{ph.RUN_A}/")
    page.eval_on_selector("form[action$='/supersede/'] input[name=csrfmiddlewaretoken]", "e => e.remove()")
    page.fill("form[action$='/supersede/'] input[name=note]", "no token")
    with page.expect_response(lambda r: r.url.endswith("/supersede/")) as answer:
        page.click("#supersede")
    assert answer.value.status == 403
    page.goto(server.url + f"/runs/{ph.RUN_A}/")
    assert page.inner_text("#review") == "accepted"


def test_a_hostile_zone_name_shows_as_text(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "viewer")
    page.wait_for_selector("#map[data-shapes]")
    assert ph.HOSTILE_NAME in page.inner_text("#zones")
    page.locator("#map path.zone-shape[stroke='#d73027']").click()  # Z2, behind
    assert page.inner_text(".leaflet-popup-content a") == ph.HOSTILE_NAME
    assert page.locator("img").count() == 0  # no page of ours has an <img>: any one is the name run as HTML
    sync_api.expect(page.locator(".leaflet-popup")).to_have_css("opacity", "1")  # faded in, for the screenshot
    shot(page, "overview-popup")
    page.goto(server.url + "/zones/Z2/")
    assert page.inner_text("#zone-name") == ph.HOSTILE_NAME
    assert page.locator("img").count() == 0


def test_the_runs_page_lists_both_runs(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "viewer")
    page.goto(server.url + "/runs/")
    assert [row[0] for row in table(page, "table.runs")] == [ph.RUN_B, ph.RUN_A]  # newest first
    shot(page, "runs")


def test_an_analyst_acknowledges_an_alert(page: sync_api.Page, server: Server) -> None:
    log_in(page, server, "analyst")
    page.goto(server.url + "/alerts/")
    # Z1's grassland 30 -> 28 ha (6.67 %, over the default 5 %), whichever run serves 2023 (B has 27 ha)
    row = page.locator("#alerts tr[data-key='grassland_drop:Z1:2020-2023']")
    row.locator("form[action$='/acknowledge/'] input[name=note]").fill("已派员核查 field check <b>sent</b>")
    row.locator("button.acknowledge").click()
    page.wait_for_url(server.url + "/alerts/")
    cells = row.locator("td")
    assert cells.nth(0).inner_text() == "acknowledged"
    assert cells.nth(4).inner_text().startswith("已派员核查 field check <b>sent</b>")
    assert ph.HOSTILE_NAME in page.inner_text("#alerts")  # Z2, behind its plan, named as text
    assert page.locator("img").count() == 0
    shot(page, "alerts")


def test_a_data_entry_user_uploads_a_boundary_and_cannot_open_another_countys_entry(
        page: sync_api.Page, server: Server, tmp_path: Path) -> None:
    boundary = tmp_path / "forest.geojson"
    boundary.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
                        '"geometry": {"type": "Polygon", "coordinates": [[[109.8, 40.6], [109.81, 40.6], '
                        '[109.81, 40.61], [109.8, 40.6]]]}}]}')
    entries = {}
    for role, county in (("admin", "Kundulun"), ("data_entry", "Donghe")):
        log_in(page, server, role)
        page.goto(server.url + "/ledgers/")
        form = page.locator("#new-forest")
        for field, value in (("name", f"{county} 示范林"), ("county", county), ("year", "2025"), ("area_mu", "520")):
            form.locator(f"input[name={field}]").fill(value)
        form.locator("input[name=boundary]").set_input_files(str(boundary))
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/ledgers/forests/*/")
        entries[county] = page.url
        assert page.inner_text("#entry-name") == f"{county} 示范林"
        if role == "admin":
            page.click("#logout")
    page.goto(server.url + "/ledgers/")
    assert [row[1] for row in table(page, "#forests")] == ["Donghe"]
    assert table(page, "#mu-check") == [["Donghe", "2025", "520.00", "500", "达标 met"]]
    shot(page, "ledgers")
    assert page.request.get(entries["Kundulun"]).status == 404  # the other county's id typed in: not found
