"""台账 Ledgers over HTTP, against a real `sinkzone serve`: demonstration forests with uploaded boundaries (GeoJSON,
a zipped GBK Shapefile; zip bombs, paths in members and points refused), the 500 亩 check, subscriptions kept
within a zone's accounted sink, and a data-entry user kept to their own county (dee: Donghe) whatever id they type.

The store is platform_history's, with one stock change added by hand: zone Z1's 2020 -> 2023 change of
(5400 - 5000) t C x 44/12 = 1466.6667 t CO2e; Z3 has none recorded.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import platform_history as ph
import pytest
from platform_server import Client, Server, logged_in, start
from shapely.geometry import Point, box

from pipeline.record.store import open_store

SINK_Z1_T = 1466.6667  # hand arithmetic above, to 4 decimals


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    history = ph.build(tmp_path_factory.mktemp("ledgers") / "history.gpkg")
    with open_store(str(history)) as store, store.writing():
        store.executemany("INSERT INTO change (run_id, zone_id, zone_version, year, year_from, year_to, co2e_change_t) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", [(ph.RUN_A, "Z1", 1, 2023, 2020, 2023, SINK_Z1_T)])
    server = start(history)
    yield server
    server.stop()


def _geojson(*shapes: object, name: str = "示范林") -> bytes:
    return gpd.GeoDataFrame({"name": [name] * len(shapes)}, geometry=list(shapes), crs=4326).to_json().encode()


def _gbk_shapefile(folder: Path, *, without: tuple[str, ...] = (".cpg",)) -> bytes:
    """A zipped Shapefile as an older ArcGIS in China exports it: GBK text, no .cpg, language-driver byte 0."""
    frame = gpd.GeoDataFrame({"名称": ["乌拉山示范林"]}, geometry=[box(109.8, 40.6, 109.81, 40.61)], crs=4326)
    frame.to_file(folder / "forest.shp", encoding="gbk")
    for suffix in without:
        (folder / "forest").with_suffix(suffix).unlink(missing_ok=True)
    dbf = bytearray((folder / "forest.dbf").read_bytes())
    dbf[29] = 0
    (folder / "forest.dbf").write_bytes(bytes(dbf))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for part in folder.glob("forest.*"):
            archive.write(part, part.name)
    return packed.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return packed.getvalue()


def _add_forest(client: Client, *, county: str, mu: str, upload: tuple[str, bytes], name: str = "示范林"):
    return client.upload("/ledgers/forests/new/", {"name": name, "county": county, "year": "2025", "area_mu": mu},
                         {"boundary": upload}, form_page="/ledgers/")


def _entry_id(answer: tuple) -> int:
    status, headers, body = answer
    assert status == 302, body
    found = re.search(r"/ledgers/\w+/(\d+)/$", headers["Location"])
    assert found
    return int(found.group(1))


def _ledgers(client: Client) -> dict:
    return json.loads(client.get("/api/v1/ledgers")[2])


def test_a_gbk_shapefile_boundary_is_read_right(server: Server, tmp_path: Path) -> None:
    dee = logged_in(server, "data_entry")
    entry = _entry_id(_add_forest(dee, county="Donghe", mu="300", upload=("forest.zip", _gbk_shapefile(tmp_path))))
    boundary = json.loads(dee.get(f"/api/v1/ledgers/forests/{entry}")[2])["boundary"]
    assert [f["properties"]["名称"] for f in boundary["features"]] == ["乌拉山示范林"]
    assert boundary["features"][0]["geometry"]["type"] == "Polygon"


def test_the_500_mu_check_per_county_and_year(server: Server) -> None:
    admin = logged_in(server, "admin")
    _entry_id(_add_forest(admin, county="Shiguai", mu="300", upload=("a.geojson", _geojson(box(0, 0, 1, 1)))))
    _entry_id(_add_forest(admin, county="Shiguai", mu="250", upload=("b.geojson", _geojson(box(1, 0, 2, 1)))))
    _entry_id(_add_forest(admin, county="Guyang", mu="499.5", upload=("c.geojson", _geojson(box(0, 0, 1, 1)))))
    check = {(c["county"], c["year"]): (c["total_mu"], c["meets"]) for c in _ledgers(admin)["check"]}
    assert check[("Shiguai", 2025)] == (550.0, True)  # 300 + 250 亩
    assert check[("Guyang", 2025)] == (499.5, False)
    assert "未达标 short" in admin.get("/ledgers/")[2].decode()


@pytest.mark.parametrize(("upload", "message"), [
    (("bomb.zip", _zip({"forest.shp": b"\0" * (4 << 20)})), "zip bomb"),
    (("escape.zip", _zip({"../forest.shp": b"x", "../forest.dbf": b"x"})), "path outside the zip"),
    (("abs.zip", _zip({"/tmp/forest.shp": b"x"})), "path outside the zip"),
    (("two.zip", _zip({"a.shp": b"x", "b.shp": b"x"})), "holds 2 Shapefiles"),
    (("junk.zip", b"not a zip"), "not a readable zip"),
    (("points.geojson", _geojson(Point(109.8, 40.6))), "not polygons"),
    (("forest.kml", b"<kml/>"), "not a .geojson or a .zip"),
    (("vrt.geojson", b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
                     b"</OGRVRTLayer></OGRVRTDataSource>"), "not GeoJSON text"),
    (("list.geojson", b"[1, 2]"), "not a GeoJSON FeatureCollection"),
    (("huge.geojson", b" " * ((10 << 20) + 1)), "more than the 10 MB"),
])
def test_bad_uploads_are_refused_naming_why(server: Server, upload: tuple[str, bytes], message: str) -> None:
    admin = logged_in(server, "admin")
    before = len(_ledgers(admin)["forests"])
    status, _, body = _add_forest(admin, county="Tumed", mu="10", upload=upload)
    assert status == 400
    assert message in body.decode()
    assert len(_ledgers(admin)["forests"]) == before


def test_a_shapefile_without_its_prj_is_refused_by_the_name_it_was_uploaded_as(server: Server,
                                                                              tmp_path: Path) -> None:
    upload = ("乌拉山.zip", _gbk_shapefile(tmp_path, without=(".cpg", ".prj")))
    status, _, body = _add_forest(logged_in(server, "admin"), county="Tumed", mu="10", upload=upload)
    assert status == 400
    assert body.decode() == ("400: 乌拉山.zip: the uploaded boundary has no CRS; define it "
                             "(e.g. ogr2ogr -a_srs EPSG:4326)")


def test_a_data_entry_user_cannot_reach_another_countys_entry_by_its_id(server: Server) -> None:
    admin, dee = logged_in(server, "admin"), logged_in(server, "data_entry")
    other = _entry_id(_add_forest(admin, county="Kundulun", mu="600", upload=("k.geojson", _geojson(box(0, 0, 1, 1)))))
    own = _entry_id(_add_forest(dee, county="Donghe", mu="200", upload=("d.geojson", _geojson(box(0, 0, 1, 1)))))
    assert dee.get(f"/ledgers/forests/{own}/")[0] == 200
    assert dee.get(f"/ledgers/forests/{other}/")[0] == 404
    assert dee.get(f"/api/v1/ledgers/forests/{other}")[0] == 404
    edit = {"name": "taken", "county": "Donghe", "year": "2025", "area_mu": "1"}
    assert dee.upload(f"/ledgers/forests/{other}/", edit, {}, form_page="/ledgers/")[0] == 404
    assert dee.upload(f"/ledgers/forests/{own}/", {**edit, "county": "Kundulun"}, {}, form_page="/ledgers/")[0] == 403
    refused = _add_forest(dee, county="Kundulun", mu="5", upload=("x.geojson", _geojson(box(0, 0, 1, 1))))
    assert refused[0] == 403
    assert {f["county"] for f in _ledgers(dee)["forests"]} == {"Donghe"}
    assert json.loads(admin.get(f"/api/v1/ledgers/forests/{other}")[2])["name"] == "示范林"  # unchanged
    assert dee.upload(f"/ledgers/forests/{own}/", edit, {}, form_page="/ledgers/")[0] == 302  # their own: edited
    assert json.loads(dee.get(f"/api/v1/ledgers/forests/{own}")[2])["name"] == "taken"


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_read_ledgers_but_do_not_edit_them(server: Server, role: str) -> None:
    client = logged_in(server, role)
    assert b'id="new-forest"' not in client.get("/ledgers/")[2]
    answer = client.post("/ledgers/subscriptions/new/", {"county": "Donghe", "buyer": "b", "zone_id": "Z1",
                                                         "co2e_t": "1", "date": "2026-01-01", "certificate": "R-1"},
                         form_page="/ledgers/")
    assert answer[0] == 403


def _subscribe(client: Client, certificate: str, zone: str, tonnes: str, buyer: str = "包头钢铁 Baogang"):
    return client.post("/ledgers/subscriptions/new/", {"county": "Donghe", "buyer": buyer, "zone_id": zone,
                                                       "co2e_t": tonnes, "date": "2026-06-01",
                                                       "certificate": certificate}, form_page="/ledgers/")


def test_subscriptions_stay_within_the_zones_accounted_sink(server: Server) -> None:
    dee = logged_in(server, "data_entry")
    _entry_id(_subscribe(dee, "BT-2026-001", "Z1", "1000"))
    status, _, body = _subscribe(dee, "BT-2026-002", "Z1", "500")  # 1000 + 500 > 1466.6667
    assert status == 400
    assert ("beyond its accounted sink: 1466.6667 t CO2e, of which 1000.0000 t CO2e are already subscribed"
            in body.decode())
    _entry_id(_subscribe(dee, "BT-2026-003", "Z1", "466.6"))  # 1466.6 <= 1466.6667
    assert _subscribe(dee, "BT-2026-004", "Z3", "1")[0] == 400  # no change recorded for Z3: nothing to subscribe
    assert _subscribe(dee, "BT-2026-005", "Z9", "1")[0] == 400  # no such zone
    assert _subscribe(dee, "BT-2026-001", "Z1", "0.01")[0] == 400  # the certificate is already in the ledger
    held = {s["certificate"]: s["co2e_t"] for s in _ledgers(dee)["subscriptions"]}
    assert held == {"BT-2026-001": 1000.0, "BT-2026-003": 466.6}


def test_ledger_text_is_literal_and_every_change_is_audited(server: Server) -> None:
    dee = logged_in(server, "data_entry")
    hostile = "<img src=x onerror=alert(1)>"
    entry = _entry_id(_add_forest(dee, county="Donghe", mu="1", name=hostile,
                                  upload=("h.geojson", _geojson(box(0, 0, 1, 1)))))
    for path in ("/ledgers/", f"/ledgers/forests/{entry}/"):
        page = dee.get(path)[2].decode()
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "<img" not in page
    raw = dee.get("/api/v1/ledgers")[2].decode()
    assert "<img" not in raw
    with closing(sqlite3.connect(server.history.with_name("history.platform.sqlite3"))) as db:
        audited = db.execute("SELECT who, detail FROM platform_auditentry WHERE action = 'forests.add' AND target = ?",
                             (f"forests/{entry}",)).fetchall()
    assert len(audited) == 1
    assert audited[0][0] == "dee"
    assert json.loads(audited[0][1])["name"] == hostile


def test_a_ledger_form_without_its_csrf_token_is_refused(server: Server) -> None:
    dee = logged_in(server, "data_entry")
    answer = dee.post("/ledgers/subscriptions/new/", {"county": "Donghe", "buyer": "b", "zone_id": "Z1",
                                                      "co2e_t": "0.001", "date": "2026-01-01",
                                                      "certificate": "NO-TOKEN"}, form_page=None)
    assert answer[0] == 403
    assert "NO-TOKEN" not in {s["certificate"] for s in _ledgers(dee)["subscriptions"]}
