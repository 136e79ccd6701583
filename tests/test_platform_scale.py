"""The platform at 小班 scale, by behaviour (its speed is measured by `make bench-parcels`, never here): the map
asks for the zones in view, and what the server reads once per store state follows the store when another process
(`sinkzone history accept`) changes it.

Its own server: the last test accepts a run, which the module-scoped server of test_platform.py must never see.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import platform_history as ph
import pytest
from platform_server import SINKZONE, Server, logged_in, start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start(ph.build(tmp_path_factory.mktemp("scale") / "history.gpkg"))
    yield server
    server.stop()


def _zone_ids(answer: bytes) -> list[str]:
    return sorted(f["properties"]["zone_id"] for f in json.loads(answer)["features"])


def test_the_map_gets_the_zones_in_view(server: Server) -> None:
    client = logged_in(server, "viewer")
    # zones are 0.01° squares with west edges at 109.80, 109.82, 109.84 and south edges at 40.60
    # (platform_history.ZONES): this view reaches 109.805-109.825, so it meets Z1 (to 109.81) and Z2 only
    status, _, body = client.get("/api/v1/zones.geojson?bbox=109.805,40.605,109.825,40.62&zoom=12")
    assert status == 200
    assert _zone_ids(body) == ["Z1", "Z2"]
    assert json.loads(body)["left_out"] == 0
    assert _zone_ids(client.get("/api/v1/zones.geojson?bbox=110.0,41.0,110.1,41.1&zoom=12")[2]) == []
    assert _zone_ids(client.get("/api/v1/zones.geojson")[2]) == ["Z1", "Z2", "Z3"]


@pytest.mark.parametrize("query", ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=nan,0,1,1", "bbox=0,0,1,1&zoom=x"])
def test_a_malformed_view_is_refused(server: Server, query: str) -> None:
    assert logged_in(server, "viewer").get(f"/api/v1/zones.geojson?{query}")[0] == 400


def test_the_overview_frames_the_map_on_all_zones(server: Server) -> None:
    overview = json.loads(logged_in(server, "viewer").get("/api/v1/overview")[2])
    # west of Z1 to east of Z3 (109.84 + 0.01), one row of squares 40.60-40.61
    assert overview["bounds"] == pytest.approx([109.80, 40.60, 109.85, 40.61])
    assert (overview["zone_count"], overview["page"], overview["pages"]) == (3, 1, 1)


def test_a_review_made_outside_the_server_shows_at_once(server: Server) -> None:
    client = logged_in(server, "viewer")
    before = {z["zone_id"]: z["run_id"] for z in json.loads(client.get("/api/v1/zones")[2])["zones"]}
    assert before["Z1"] == ph.RUN_A  # the accepted run A serves 2023 before the draft B
    subprocess.run([SINKZONE, "history", "accept", ph.RUN_B, "--history", str(server.history)], check=True,
                   capture_output=True)
    after = {z["zone_id"]: z["run_id"] for z in json.loads(client.get("/api/v1/zones")[2])["zones"]}
    assert after["Z1"] == ph.RUN_B  # the newer accepted run serves first
    series = json.loads(client.get("/api/v1/zones/Z1")[2])["series"]
    assert {r["value"] for r in series if (r["year"], r["metric"]) == (2023, "forest_ha")} == {"125.2500"}
