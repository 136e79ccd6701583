"""The web platform on a PostGIS store (issue 20's other back end), in a throwaway PostgreSQL 15 cluster: the
same pages and figures as on a GeoPackage, its own database and key in the --state folder, and an analyst's
accept written through the writer role."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime

import platform_history as ph
import pytest
from pg_cluster import cluster
from platform_server import Client, Server, page_overlays, start, workbook_rows


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with cluster() as pg:
        pg.new_database("platform")
        ph.fill(pg.url("platform", role="sinkzone_owner"))
        state = tmp_path_factory.mktemp("platform-state")
        server = start(pg.url("platform", role="sinkzone_writer"), state=state)
        try:
            yield server
        finally:
            server.stop()


def _series(client: Client) -> dict[tuple[str, str], tuple[str, str]]:
    body = client.get("/zones/Z1/series.csv")[2].decode("utf-8-sig")
    return {(r["year"], r["metric"]): (r["value"], r["run_id"]) for r in csv.DictReader(io.StringIO(body))}


def _analyst(server: Server) -> Client:
    client = Client(server.url)
    assert client.login("analyst") == 302
    return client


def test_the_platform_keeps_its_own_files_in_the_state_folder(server: Server) -> None:
    state = server.log.parent
    assert stat.S_IMODE((state / "platform.secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "platform.sqlite3").stat().st_mode) == 0o600


def test_pages_show_the_postgis_store_and_an_accept_changes_the_series(server: Server) -> None:
    client = _analyst(server)
    assert b"&lt;img src=x onerror=alert(1)&gt;" in client.get("/")[2]
    before = _series(client)
    # hand figures (platform_history.FIGURES): run A accepted; run B is a draft until accepted
    assert before[("2020", "forest_ha")] == ("110.0000", ph.RUN_A)
    was_accepted = before[("2023", "forest_ha")] == ("125.2500", ph.RUN_B)
    if not was_accepted:
        assert before[("2023", "forest_ha")] == ("120.5000", ph.RUN_A)
        status, _, _ = client.post(f"/runs/{ph.RUN_B}/accept/", {"note": "checked"}, form_page=f"/runs/{ph.RUN_B}/")
        assert status == 302
    after = _series(client)
    assert after[("2023", "forest_ha")] == ("125.2500", ph.RUN_B)
    assert after[("2020", "forest_ha")] == ("110.0000", ph.RUN_A)
    assert b"accepted" in client.get(f"/runs/{ph.RUN_B}/")[2]


def test_the_map_gets_every_zone_from_postgis(server: Server) -> None:
    shapes = json.loads(_analyst(server).get("/api/v1/zones.geojson")[2])
    assert sorted(f["properties"]["zone_id"] for f in shapes["features"]) == sorted(ph.ZONES)
    # each zone a 0.01° square (platform_history.ZONES): its bounds survive the map's simplification
    x, y = ph.ZONES["Z1"][1]
    ring = next(f for f in shapes["features"] if f["properties"]["zone_id"] == "Z1")["geometry"]["coordinates"]
    flat = [p for part in (ring if isinstance(ring[0][0][0], list) else [ring]) for r in part for p in r]
    assert (min(p[0] for p in flat), min(p[1] for p in flat)) == pytest.approx((x, y))
    assert (max(p[0] for p in flat), max(p[1] for p in flat)) == pytest.approx((x + 0.01, y + 0.01))


def test_alerts_and_the_accounted_sink_read_postgis(server: Server) -> None:
    client = _analyst(server)
    keys = {a["key"].rsplit(":", 1)[0] if a["rule"] != "grassland_drop" else a["key"]
            for a in json.loads(client.get("/api/v1/alerts")[2])["alerts"]}
    # Z1's grassland 30 -> 28 ha (or 27 once run B is accepted), over 5 %; Z2 behind; and the newest accepted run
    # (A, 2025-03-01; or B, 2026-03-01 once the test above accepted it) when it finished over 400 days ago
    newest = max(r["finished_utc"] for r in json.loads(client.get("/api/v1/runs")[2])["runs"]
                 if r["review"] == "accepted")
    old = (datetime.now(UTC) - datetime.fromisoformat(newest)).days > 400
    assert keys == {"grassland_drop:Z1:2020-2023", "behind_plan:Z2", *(["no_accepted_run"] if old else [])}
    entry = Client(server.url)
    assert entry.login("data_entry") == 302
    status, _, body = entry.post("/ledgers/subscriptions/new/", {
        "county": "Donghe", "buyer": "b", "zone_id": "Z1", "co2e_t": "1", "date": "2026-01-01",
        "certificate": "PG-1"}, form_page="/ledgers/")
    assert status == 400
    assert "beyond its accounted sink: none recorded" in body.decode()  # the store holds no carbon change


def test_the_zone_pages_land_cover_and_workbook_read_postgis(server: Server) -> None:
    client = _analyst(server)
    # platform_history's runs record files that do not exist here: each year a note naming its file
    epochs = page_overlays(client.get("/zones/Z1/")[2])
    assert [(e["year"], e["path"]) for e in epochs] == [(2020, "/data/clcd_2020.tif"), (2023, "/data/clcd_2023.tif")]
    assert all("url" not in e and "file not found" in e["problem"] for e in epochs)
    assert client.get("/zones/Z1/landcover/2020.png")[0] == 404
    from_csv = list(csv.reader(io.StringIO(client.get("/zones/Z1/series.csv")[2].decode("utf-8-sig"))))
    assert workbook_rows(client.get("/zones/Z1/series.xlsx")[2]) == from_csv
