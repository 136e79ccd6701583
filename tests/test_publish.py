"""`sinkzone publish`: the public snapshot of a history store built from the shipped demos (São Tomé accepted, São
Miguel left a draft), read back from its files and compared with the store's own rows (sqlite3, not the code under
test); the hand-made platform store (tests/platform_history.py, a hostile zone name) in a real browser.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import platform_history as ph
import pytest
from builders import ROOT
from cli_support import assert_clean_failure, cli, leftovers
from conftest import DemoRun
from pg_cluster import cluster
from platform_browser import chromium, guarded
from playwright import sync_api

from pipeline.record.ingest import ingest_folder
from pipeline.record.queries import review
from pipeline.record.store import open_store
from pipeline.serve.snapshot import PUBLIC, page_name

REVIEWER = "审核员王工"  # a user name: never in a snapshot
NOTE = "内部备注 internal note"
SCREENS = ROOT / "docs" / "images" / "platform"


class Demo:
    """The demo store: its path, the accepted run (São Tomé) and the draft run (São Miguel)."""

    def __init__(self, history: Path, accepted: str, draft: str, inputs: list[str]) -> None:
        self.history, self.accepted, self.draft, self.inputs = history, accepted, draft, inputs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_run: DemoRun) -> Demo:
    history = tmp_path_factory.mktemp("publish") / "history.gpkg"
    accepted = ingest_folder(demo_run("sao_tome_worldcover").out_dir, target=str(history)).run_id
    draft = ingest_folder(demo_run("demo").out_dir, target=str(history)).run_id
    with open_store(str(history)) as store:
        review(store, accepted, state="accepted", by=REVIEWER, note=NOTE)
    with closing(sqlite3.connect(history)) as db:
        inputs = [p for (p,) in db.execute("SELECT path FROM run_epochs UNION SELECT output_dir FROM runs "
                                           "UNION SELECT sha256 FROM run_epochs") if p]
    return Demo(history, accepted, draft, inputs)


def _publish(history: Path | str, out: Path, *extra: str) -> None:
    result = cli("publish", "--history", str(history), "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    assert f"done: {out.resolve()}" in " ".join(result.output.split())


@pytest.fixture(scope="module")
def published(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("snapshot") / "public"
    _publish(demo.history, out)
    return out


def _cells(page: str, table: str) -> list[list[str]]:
    """The body rows of the page's table `table` (our own templates: one <tr> a row, plain <td> cells)."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, table
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)]


def _zone_page(out: Path, zone_set: str, zone_id: str) -> str:
    return (out / "zones" / f"{page_name(zone_set, zone_id)}.html").read_text(encoding="utf-8")


def _zone_set(history: Path, zone_id: str) -> str:
    with closing(sqlite3.connect(history)) as db:
        return str(db.execute("SELECT zone_set FROM zone_versions WHERE zone_id = ?", (zone_id,)).fetchone()[0])


def _accepted(history: Path, zone_id: str) -> dict[tuple[str, str], str]:
    """The store's accepted zone_series rows of a zone, as four-decimal text, by (year, metric)."""
    with closing(sqlite3.connect(history)) as db:
        rows = db.execute("SELECT year, metric, value FROM zone_series WHERE zone_id = ? AND review = 'accepted'",
                          (zone_id,)).fetchall()
    return {(str(y), m): f"{v:.4f}" for y, m, v in rows}


def test_a_zone_page_shows_the_stores_accepted_figures(demo: Demo, published: Path) -> None:
    zone_set = _zone_set(demo.history, "STP")
    shown = _cells(_zone_page(published, zone_set, "STP"), "figures")
    store = _accepted(demo.history, "STP")
    columns = PUBLIC["figure"]
    assert shown, "no figures on the page"
    for row in (dict(zip(columns, cells, strict=True)) for cells in shown):
        assert row["value"] == store[(row["year"], row["metric"])]
        assert (row["run_id"], row["review"]) == (demo.accepted, "已采纳 accepted")
        if row["metric"].endswith("co2e_t") or row["metric"] in ("co2e_change_t", "co2e_per_year_t"):
            low, high = (store.get((row["year"], row["metric"][:-2] + f"_{side}_t")) for side in ("low", "high"))
            assert (row["low_90"], row["high_90"]) == (low or "", high or "")
    shown_metrics = {r[1] for r in shown}
    # every class area, both pools' stocks per epoch and the change 2020 -> 2021 with its interval are shown
    assert {"forest_ha", "total:co2e_t", "soil:carbon_t", "co2e_per_year_t", "co2e_change_t"} <= shown_metrics
    assert not any(">" in m or m.endswith(("_mu", "_share")) for m in shown_metrics)
    # the CSV is exactly the table shown
    csv_text = (published / "zones" / f"{page_name(zone_set, 'STP')}.csv").read_text(encoding="utf-8-sig")
    assert list(csv.reader(io.StringIO(csv_text))) == [list(columns), *shown]


def test_drafts_are_left_out_unless_asked_for_and_then_marked(demo: Demo, published: Path, tmp_path: Path) -> None:
    with closing(sqlite3.connect(demo.history)) as db:
        draft_zones = [(s, z) for s, z in db.execute("SELECT DISTINCT zone_set, zone_id FROM zone_versions WHERE "
                                                     "first_run = ?", (demo.draft,))]
    assert len(draft_zones) == 6  # São Miguel's six municipalities
    everything = b"".join(p.read_bytes() for p in published.rglob("*") if p.is_file())
    assert demo.draft.encode() not in everything
    assert not any((published / "zones" / f"{page_name(s, z)}.html").exists() for s, z in draft_zones)
    out = tmp_path / "with-drafts"
    _publish(demo.history, out, "--include-drafts")
    zone_set, zone_id = draft_zones[0]
    rows = _cells(_zone_page(out, zone_set, zone_id), "figures")
    assert rows
    assert {(r[-2], r[-1]) for r in rows} == {(demo.draft, "草稿 draft")}
    assert "含未审核草稿数据" in (out / "index.html").read_text(encoding="utf-8")


def test_a_snapshot_holds_no_forbidden_field(demo: Demo, published: Path) -> None:
    files = {p.relative_to(published).as_posix(): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    values = [REVIEWER, NOTE, "/tmp/", str(ROOT), *demo.inputs]  # user names, notes, paths, input fingerprints
    found = {(name, word) for name, data in files.items() for word in values if word.encode() in data}
    # the store's private field names, outside the vendored Leaflet (whose own code says "attributes")
    names = ["reviewed_by", "reviewed_utc", "output_dir", "attributes", "class_map", "config", "notes", "buyer"]
    found |= {(name, word) for name, data in files.items() if not name.startswith("static/leaflet/")
              for word in names if word.encode() in data}
    assert found == set()
    zones = json.loads(files["zones.geojson"])
    assert {k for f in zones["features"] for k in f["properties"]} == set(PUBLIC["zone"])


def test_a_store_without_an_accepted_run_is_refused_with_what_to_do(tmp_path: Path) -> None:
    history = ph.build(tmp_path / "history.gpkg")
    with open_store(str(history)) as store:
        review(store, ph.RUN_A, state="superseded", by="x", note="wrong")
    result = cli("publish", "--history", str(history), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert_clean_failure(result, "no accepted run", f"sinkzone history accept RUN --history {history}",
                         "--include-drafts")
    assert not (tmp_path / "out").exists()


def test_it_replaces_its_own_snapshot_and_refuses_another_folder(tmp_path: Path) -> None:
    history = ph.build(tmp_path / "history.gpkg")
    out = tmp_path / "site"
    with open_store(str(history)) as store:  # run A set aside: run B's draft serves 2023
        review(store, ph.RUN_A, state="superseded", by="x", note="recheck")
    _publish(history, out, "--include-drafts")
    assert "125.2500" in _zone_page(out, "baotou", "Z1")  # run B's 2023 forest, a draft
    (out / "zones" / "stale-page.html").write_text("made by sinkzone? no")  # a user's file is kept
    with open_store(str(history)) as store:
        review(store, ph.RUN_A, state="accepted", by="x", note="rechecked")
    _publish(history, out)
    assert "125.2500" not in _zone_page(out, "baotou", "Z1")
    assert "120.5000" in _zone_page(out, "baotou", "Z1")  # run A's, accepted
    assert (out / "zones" / "stale-page.html").exists()
    assert leftovers(tmp_path) == []
    theirs = tmp_path / "www"
    theirs.mkdir()
    (theirs / "index.html").write_text("the bureau's own site")
    result = cli("publish", "--history", str(history), "--out", str(theirs))
    assert_clean_failure(result, "is not a sinkzone output folder")
    assert (theirs / "index.html").read_text() == "the bureau's own site"
    run_output = tmp_path / "run-output"  # a run's own output folder is sinkzone's, yet never a snapshot's
    run_output.mkdir()
    (run_output / "run.json").write_text("{}")
    assert_clean_failure(cli("publish", "--history", str(history), "--out", str(run_output)),
                         "holds a run's output (run.json)")
    assert (run_output / "run.json").read_text() == "{}"


@pytest.mark.parametrize("zone_ids", [["<img src=x onerror=alert(1)>", "../../etc", "con", "CON", "Con.", "x" * 400,
                                       "九原区", "九原区 ", "a/b", "a\\b", "", ".", "..", "A", "a"]])
def test_zone_page_names_are_safe_and_distinct(zone_ids: list[str]) -> None:
    names = [page_name("set", z) for z in zone_ids]
    assert len(set(names)) == len(zone_ids)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*-[0-9a-f]{16}", n) and len(n) <= 49 for n in names), names


# ---- in a browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The hand-made store's snapshot (run A accepted, run B a draft) served by Python's own static file server."""
    folder = tmp_path_factory.mktemp("site")
    _publish(ph.build(folder / "history.gpkg"), folder / "public")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder / "public")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder / "public"
    server.shutdown()
    server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the standard library's name
        pass


@pytest.fixture
def page(site: tuple[str, Path]) -> Iterator[sync_api.Page]:
    """A browser page that may load the snapshot only: any other host, any dialog or console error fails."""
    url, folder = site
    with chromium() as browser, guarded(browser, url + "/", folder.as_uri() + "/") as (page, foreign, problems):
        yield page
    assert foreign == [], f"requests to other hosts: {foreign}"
    assert problems == []


def test_the_snapshot_in_a_browser(page: sync_api.Page, site: tuple[str, Path]) -> None:
    url, folder = site
    for name in ("zones.geojson", "zones.js"):  # the hostile name as \u escapes: no tag in any file
        assert b"<img" not in (folder / name).read_bytes()
    assert json.loads((folder / "zones.geojson").read_text())["features"][1]["properties"]["name"] == ph.HOSTILE_NAME
    page.goto(url + "/index.html")
    page.wait_for_selector("#map[data-shapes]")
    assert page.locator("#map path.zone-shape").count() == len(ph.ZONES)
    assert ph.HOSTILE_NAME in page.inner_text("#zones")
    assert page.inner_text(".cards .value").startswith("60.5000")  # run A's forest coverage, 181.5 of 300 ha
    page.screenshot(path=str(SCREENS / "publish-index.png"), full_page=True)
    page.click(f"#zones a[href='zones/{page_name('baotou', 'Z2')}.html']")
    page.wait_for_selector("#map[data-shapes='1']")
    assert page.inner_text("#zone-name") == ph.HOSTILE_NAME
    assert [img.get_attribute("src") for img in page.locator("img").all()] == [f"{page_name('baotou', 'Z2')}.png"]
    rows = {(r[0], r[1]): r[3] for r in (c.split("\t") for c in page.locator("#figures tbody tr").all_inner_texts())}
    assert rows[("2023", "forest_ha")] == "49.0000"  # run A's, the accepted run; run B's draft 48 ha is not shown
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.screenshot(path=str(SCREENS / "publish-zone.png"), full_page=False)


def test_the_snapshot_opened_as_files(page: sync_api.Page, site: tuple[str, Path]) -> None:
    """No web server: the browser opens index.html itself; the map reads zones.js, a script file."""
    _, folder = site
    page.goto((folder / "index.html").as_uri())
    page.wait_for_selector("#map[data-shapes]")
    assert page.locator("#map path.zone-shape").count() == len(ph.ZONES)


def test_a_postgis_store_publishes_through_the_reader_role(tmp_path: Path) -> None:
    """The reader role, which may change nothing, is all publish needs; the figures are the hand-made store's."""
    with cluster() as pg:
        pg.new_database("public_site")
        ph.fill(pg.url("public_site", role="sinkzone_owner"))
        _publish(pg.url("public_site", role="sinkzone_reader"), tmp_path / "public")
    rows = {(r[0], r[1]): (r[3], r[7]) for r in _cells(_zone_page(tmp_path / "public", "baotou", "Z1"), "figures")}
    assert rows[("2023", "forest_ha")] == ("120.5000", ph.RUN_A)  # run A accepted; run B's 125.25 is a draft
    assert rows[("2020", "forest_ha")] == ("110.0000", ph.RUN_A)
    assert "postgresql://" not in "".join(p.read_text(errors="replace") for p in (tmp_path / "public").rglob("*.*"))
