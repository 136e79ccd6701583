"""预警 Alerts over HTTP, against a real `sinkzone serve` on a history store whose figures are chosen so each rule's
answer is known by hand:

- Z1 forest 110 ha (2020) -> 96.8 ha (2023): down 13.2 ha, 12 % of 110;
- Z2 forest 50 ha -> 48.5 ha: down 1.5 ha, 3 % of 50;
- Z3 forest 10 ha -> 12 ha: up;
- grassland: Z1 30 -> 28 ha (down 2 ha, 6.67 %), Z2 60 -> 61.5 (up), Z3 90 -> 88 (down 2 ha, 2.22 %);
- Z2 is behind its plan (platform_history.STATUS); the only accepted run (A) finished 2025-03-01, more than 400 days
  before any day these tests run.
The figures served are run A's (accepted), so run B's 2023 figures take no part.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import platform_history as ph
import pytest
from platform_server import Client, Server, logged_in, start

FIGURES = {**ph.FIGURES, (ph.RUN_A, "Z1", 2023): (96.8, 28.0, 5400.0), (ph.RUN_A, "Z2", 2023): (48.5, 61.5, 1990.0)}
DEFAULTS = {"forest_drop.enabled": "on", "forest_drop.drop_ha": "10", "forest_drop.drop_pct": "5",
            "grassland_drop.enabled": "on", "grassland_drop.drop_ha": "10", "grassland_drop.drop_pct": "5",
            "behind_plan.enabled": "on", "no_accepted_run.enabled": "on", "no_accepted_run.days": "400",
            "failed_run.enabled": "on"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start(ph.build(tmp_path_factory.mktemp("alerts") / "history.gpkg", figures=FIGURES))
    yield server
    server.stop()


def _raised(client: Client) -> dict[str, dict[str, str]]:
    return {a["key"]: a for a in json.loads(client.get("/api/v1/alerts")[2])["alerts"]}


def _set_rules(client: Client, **changes: str) -> int:
    form = {k: v for k, v in {**DEFAULTS, **changes}.items() if v is not None}
    return client.post("/alerts/rules/", form, form_page="/alerts/")[0]


def _audit(server: Server, action: str) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(server.history.with_name("history.platform.sqlite3"))) as db:
        return db.execute("SELECT who, target, detail FROM platform_auditentry WHERE action = ? ORDER BY id",
                          (action,)).fetchall()


def test_the_rules_raise_what_the_figures_say(server: Server) -> None:
    analyst = logged_in(server, "analyst")
    assert _set_rules(analyst) == 302
    # defaults: more than 10 ha or 5 %: Z1's forest (13.2 ha, 12 %) and grassland (6.67 %); not Z2's forest (3 %)
    assert set(_raised(analyst)) == {"forest_drop:Z1:2020-2023", "grassland_drop:Z1:2020-2023",
                                     "behind_plan:Z2:" + ph.RUN_A, "no_accepted_run:" + ph.RUN_A}
    message = _raised(analyst)["forest_drop:Z1:2020-2023"]["message"]
    assert "down 13.2000 ha (12.00 %)" in message
    # by percent alone, 2 %: Z2's 3 % loss now raises too (Z3's grassland 2.22 % as well)
    assert _set_rules(analyst, **{"forest_drop.drop_ha": "", "forest_drop.drop_pct": "2",
                                  "grassland_drop.enabled": ""}) == 302
    assert {k for k in _raised(analyst) if k.startswith("forest_drop")} == {"forest_drop:Z1:2020-2023",
                                                                            "forest_drop:Z2:2020-2023"}
    assert not any(k.startswith("grassland_drop") for k in _raised(analyst))  # unticked: off
    # by hectares alone: 13 ha catches Z1's 13.2 ha, 14 ha does not
    assert _set_rules(analyst, **{"forest_drop.drop_ha": "13", "forest_drop.drop_pct": ""}) == 302
    assert "forest_drop:Z1:2020-2023" in _raised(analyst)
    assert _set_rules(analyst, **{"forest_drop.drop_ha": "14", "forest_drop.drop_pct": ""}) == 302
    assert not any(k.startswith("forest_drop") for k in _raised(analyst))
    # 100000 days: run A is younger than that, so the rule is quiet (at 400 days it raised, above)
    assert _set_rules(analyst, **{"no_accepted_run.days": "100000"}) == 302
    assert not any(k.startswith("no_accepted_run") for k in _raised(analyst))
    edits = _audit(server, "alert_rule.edit")
    assert ("ana", "forest_drop", "enabled=True drop_ha=14.0 drop_pct=") in edits
    assert _set_rules(analyst) == 302


@pytest.mark.parametrize(("field", "value"), [("forest_drop.drop_pct", "five"), ("forest_drop.drop_ha", "-1"),
                                              ("forest_drop.drop_ha", "nan"), ("no_accepted_run.days", ""),
                                              ("no_accepted_run.days", "1.5")])
def test_a_rule_that_is_not_a_number_is_refused_naming_the_field(server: Server, field: str, value: str) -> None:
    analyst = logged_in(server, "analyst")
    status, _, body = analyst.post("/alerts/rules/", {**DEFAULTS, field: value}, form_page="/alerts/")
    assert status == 400
    assert field in body.decode()


@pytest.mark.parametrize("role", ["viewer", "data_entry", "admin"])
def test_only_an_analyst_edits_rules_or_acts_on_alerts(server: Server, role: str) -> None:
    if role == "data_entry":
        client = Client(server.url)
        assert client.login("data_entry") == 302
    else:
        client = logged_in(server, role)
    assert b'id="save-rules"' not in client.get("/alerts/")[2]
    assert client.post("/alerts/rules/", {**DEFAULTS, "behind_plan.enabled": ""}, form_page="/")[0] == 403
    key = "behind_plan:Z2:" + ph.RUN_A
    before = _raised(client)[key]
    assert client.post("/alerts/resolve/", {"key": key, "note": "x"}, form_page="/")[0] == 403
    assert _raised(client)[key] == before


def test_an_analyst_acknowledges_and_resolves_an_alert_with_a_note(server: Server) -> None:
    analyst = logged_in(server, "analyst")
    key = "behind_plan:Z2:" + ph.RUN_A
    note = "县林草局已复核 <b>checked</b> =1+1"
    assert analyst.post("/alerts/acknowledge/", {"key": key, "note": note}, form_page="/alerts/")[0] == 302
    assert (_raised(analyst)[key]["state"], _raised(analyst)[key]["note"]) == ("acknowledged", note)
    assert analyst.post("/alerts/resolve/", {"key": key, "note": "done"}, form_page="/alerts/")[0] == 302
    assert (_raised(analyst)[key]["state"], _raised(analyst)[key]["by"]) == ("resolved", "ana")
    assert [(w, t, d) for w, t, d in _audit(server, "alert.acknowledge") if t == key] == [("ana", key, note)]
    assert ("ana", key, "done") in _audit(server, "alert.resolve")
    # an alert that is not raised, an unknown action and a GET change nothing
    assert analyst.post("/alerts/resolve/", {"key": "behind_plan:Z1:x"}, form_page="/alerts/")[0] == 404
    assert analyst.post("/alerts/delete/", {"key": key}, form_page="/alerts/")[0] == 404
    assert analyst.get("/alerts/resolve/")[0] == 405


def test_the_overview_lists_the_open_alerts(server: Server) -> None:
    analyst = logged_in(server, "analyst")
    assert _set_rules(analyst) == 302
    key = "grassland_drop:Z1:2020-2023"
    listed = {a["key"] for a in json.loads(analyst.get("/api/v1/overview")[2])["open_alerts"]}
    assert (key in listed) == (_raised(analyst)[key]["state"] == "open")
    resolved = analyst.post("/alerts/resolve/", {"key": key, "note": "grazing ban"}, form_page="/alerts/")
    assert resolved[0] == 302
    assert key not in {a["key"] for a in json.loads(analyst.get("/api/v1/overview")[2])["open_alerts"]}
    assert b'id="open-alerts"' in analyst.get("/")[2]


def test_a_form_without_its_csrf_token_is_refused(server: Server) -> None:
    analyst = logged_in(server, "analyst")
    assert analyst.post("/alerts/rules/", {**DEFAULTS, "behind_plan.enabled": ""}, form_page=None)[0] == 403
    assert "behind_plan:Z2:" + ph.RUN_A in _raised(analyst)


def test_zone_names_and_notes_are_text_on_the_alerts_page(server: Server) -> None:
    analyst = logged_in(server, "analyst")
    key = "forest_drop:Z1:2020-2023"
    assert analyst.post("/alerts/acknowledge/", {"key": key, "note": "<script>x</script>"},
                        form_page="/alerts/")[0] == 302
    page = analyst.get("/alerts/")[2].decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # Z2, behind its plan
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<img" not in page
    assert "<script>x" not in page
    raw = analyst.get("/api/v1/alerts")[2].decode()
    assert "<img" not in raw
    assert "<script>" not in raw


def test_alerts_come_largest_loss_first_and_are_counted(server: Server) -> None:
    analyst = logged_in(server, "analyst")
    # every loss raises: Z1 forest 13.2 ha, Z1 grassland 2 ha, Z3 grassland 2 ha, Z2 forest 1.5 ha (module doc)
    assert _set_rules(analyst, **{"forest_drop.drop_ha": "0", "grassland_drop.drop_ha": "0"}) == 302
    listed = json.loads(analyst.get("/api/v1/alerts")[2])
    keys = [a["key"] for a in listed["alerts"]]
    assert (listed["count"], listed["page"], listed["pages"]) == (6, 1, 1)
    # alerts without an area lost (behind plan, no accepted run) lead; then the losses, largest first
    assert set(keys[:2]) == {"behind_plan:Z2:" + ph.RUN_A, "no_accepted_run:" + ph.RUN_A}
    assert keys[2] == "forest_drop:Z1:2020-2023"
    assert set(keys[3:5]) == {"grassland_drop:Z1:2020-2023", "grassland_drop:Z3:2020-2023"}
    assert keys[5] == "forest_drop:Z2:2020-2023"
    overview = json.loads(analyst.get("/api/v1/overview")[2])
    still_open = [a["key"] for a in listed["alerts"] if a["state"] == "open"]  # earlier tests acted on some
    assert overview["open_alert_count"] == len(still_open)
    assert [a["key"] for a in overview["open_alerts"]] == still_open  # fewer than the overview's ten: all of them
    assert _set_rules(analyst) == 302
