"""The web platform over HTTP, against a real `sinkzone serve` on a hand-made history store: every page needs a
login, the pages, JSON and CSV show the store's figures, and each security promise of issue 22 is tried.

Nothing here changes a run's review (the browser tests do that, on their own server), so the tests run in any order.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import stat
import subprocess
import urllib.parse
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import platform_history as ph
import pytest
from cli_support import assert_clean_failure, cli
from platform_server import SINKZONE, USERS, Client, Server, add_user, logged_in, start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    history = ph.build(tmp_path_factory.mktemp("platform") / "history.gpkg")
    server = start(history)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def history(server: Server) -> Path:
    return server.history


def _review(history: Path, run_id: str) -> str:
    with closing(sqlite3.connect(history)) as db:
        return str(db.execute("SELECT review FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])


@pytest.mark.parametrize("path", ["/", "/zones/Z1/", "/zones/Z1/series.csv", "/runs/", f"/runs/{ph.RUN_A}/"])
def test_every_page_sends_a_visitor_to_the_login(server: Server, path: str) -> None:
    status, headers, _ = Client(server.url).get(path)
    assert (status, headers["Location"].split("?")[0]) == (302, "/login/")


def test_the_api_answers_401_without_a_login(server: Server) -> None:
    assert Client(server.url).get("/api/v1/zones")[0] == 401


def test_log_in_and_out(server: Server) -> None:
    client = logged_in(server, "viewer")
    assert client.get("/")[0] == 200
    assert client.get("/logout/")[0] == 405  # a link or image cannot log anyone out: logging out is a POST
    assert client.post("/logout/", {}, form_page="/")[0] == 302
    assert client.get("/")[0] == 302


def test_passwords_are_stored_as_argon2_hashes(server: Server, history: Path) -> None:
    database = history.with_name("history.platform.sqlite3")
    with closing(sqlite3.connect(database)) as db:
        stored = dict(db.execute("SELECT username, password FROM auth_user").fetchall())
    assert set(stored) >= {name for name, _ in USERS.values()}
    for name, password in USERS.values():
        assert stored[name].startswith("argon2$argon2id$")
        assert password not in stored[name]
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_the_secret_key_is_made_on_first_start_readable_by_its_owner_only(server: Server, history: Path) -> None:
    key = history.with_name("history.platform.secret")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) >= 50


def test_log_ins_pause_after_five_failures(server: Server) -> None:
    client = Client(server.url)
    for _ in range(5):
        assert client.login("data_entry", password="wrong-password") == 200
    assert client.login("data_entry") == 429  # the right password, yet paused
    assert logged_in(server, "admin").get("/")[0] == 200  # another user is not


def test_session_and_csrf_cookies_are_httponly_and_samesite(server: Server) -> None:
    client = Client(server.url)
    _, headers, _ = client.get("/login/")
    name, password = USERS["viewer"]
    found = client.post("/login/", {"username": name, "password": password}, form_page="/login/")[1]
    cookies = {c.split("=", 1)[0]: c for c in [*headers.get_all("Set-Cookie", []),
                                               *found.get_all("Set-Cookie", [])]}
    for name in ("sessionid", "csrftoken"):
        flags = {part.strip().lower() for part in cookies[name].split(";")}
        assert "httponly" in flags
        assert "samesite=strict" in flags


@pytest.mark.parametrize("path", ["/login/", "/", "/zones/Z2/", "/runs/", "/api/v1/zones",
                                  "/static/serve/leaflet/leaflet.js", "/no-such-page/"])
def test_every_answer_has_the_content_security_policy(server: Server, path: str) -> None:
    headers = logged_in(server, "viewer").get(path)[1]
    assert headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_debug_is_off(server: Server) -> None:
    status, _, body = logged_in(server, "viewer").get("/no-such-page/")
    assert status == 404
    assert b"DEBUG" not in body
    assert b"Traceback" not in body


def test_a_form_posted_without_its_csrf_token_is_refused(server: Server, history: Path) -> None:
    name, password = USERS["viewer"]
    assert Client(server.url).post("/login/", {"username": name, "password": password}, form_page=None)[0] == 403
    client = logged_in(server, "analyst")
    assert client.post(f"/runs/{ph.RUN_B}/accept/", {"note": "x"}, form_page=None)[0] == 403
    assert _review(history, ph.RUN_B) == "draft"


def test_a_get_changes_nothing(server: Server, history: Path) -> None:
    assert logged_in(server, "analyst").get(f"/runs/{ph.RUN_B}/accept/")[0] == 405
    assert _review(history, ph.RUN_B) == "draft"


@pytest.mark.parametrize("role", ["viewer", "data_entry_fresh", "admin"])
def test_only_an_analyst_may_review_a_run(server: Server, history: Path, role: str) -> None:
    if role == "data_entry_fresh":  # the module's data entry user is paused by the throttle test
        assert add_user(history, "dee2", "data_entry", "entry-pass-2", counties="Donghe").returncode == 0
        client = Client(server.url)
        assert client.post("/login/", {"username": "dee2", "password": "entry-pass-2"}, form_page="/login/")[0] == 302
    else:
        client = logged_in(server, role)
    status, _, _ = client.post(f"/runs/{ph.RUN_B}/accept/", {"note": "x"}, form_page=f"/runs/{ph.RUN_B}/")
    assert status == 403
    assert _review(history, ph.RUN_B) == "draft"


def test_an_analyst_sees_the_review_buttons_and_a_viewer_does_not(server: Server) -> None:
    assert b'id="accept"' in logged_in(server, "analyst").get(f"/runs/{ph.RUN_B}/")[2]
    assert b'id="accept"' not in logged_in(server, "viewer").get(f"/runs/{ph.RUN_B}/")[2]


def test_a_run_page_has_one_diff_table_and_a_plain_title(server: Server) -> None:
    page = logged_in(server, "viewer").get(f"/runs/{ph.RUN_B}/")[2].decode()
    title = page[page.index("<title>") + len("<title>"):page.index("</title>")]
    assert title == f"运行 {ph.RUN_B} · 林草碳汇综合管理平台 sinkzone"
    assert page.count('id="diff"') == 1


def test_sort_names_come_from_a_whitelist(server: Server) -> None:
    client = logged_in(server, "viewer")
    assert client.get("/zones/Z1/?sort=value%3BDROP%20TABLE%20runs")[0] == 400
    assert client.get("/zones/Z1/series.csv?sort=zone_id")[0] == 404
    values = [float(r["value"]) for r in _csv(client.get("/zones/Z1/series.csv?sort=-value")[2])]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("path", ["/zones/Z1' OR '1'='1/", "/api/v1/zones/Z1' OR 1=1 --",
                                  "/runs/x' UNION SELECT 1 --/"])
def test_ids_in_urls_are_parameters_never_sql(server: Server, history: Path, path: str) -> None:
    assert logged_in(server, "viewer").get(urllib.parse.quote(path))[0] == 404
    assert _review(history, ph.RUN_A) == "accepted"


def test_a_hostile_zone_name_is_text_in_html_and_json(server: Server) -> None:
    client = logged_in(server, "viewer")
    for path in ("/", "/zones/Z2/"):
        page = client.get(path)[2].decode()
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "<img" not in page
    raw = client.get("/api/v1/zones")[2].decode()
    assert "<img" not in raw  # < > & leave JSON as \u escapes
    assert {z["zone_id"]: z["name"] for z in json.loads(raw)["zones"]}["Z2"] == ph.HOSTILE_NAME


def _csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_zone_csv_and_json_hold_the_served_figures(server: Server) -> None:
    client = logged_in(server, "viewer")
    rows = _csv(client.get("/zones/Z1/series.csv")[2])
    # run A is accepted, run B a draft: every figure is run A's (platform_history.FIGURES)
    served = {(int(r["year"]), r["metric"]): float(r["value"]) for r in rows}
    assert {k: v for k, v in served.items() if k[1] in ("forest_ha", "grassland_ha", "carbon_t", "agb:carbon_t")} == {
        (2020, "forest_ha"): 110.0, (2020, "grassland_ha"): 30.0, (2020, "carbon_t"): 5000.0,
        (2020, "agb:carbon_t"): 2500.0, (2023, "forest_ha"): 120.5, (2023, "grassland_ha"): 28.0,
        (2023, "carbon_t"): 5400.0, (2023, "agb:carbon_t"): 2700.0}
    assert served[(2023, "co2e_t")] == pytest.approx(5400.0 * 44 / 12, abs=5e-5)  # 19800 t CO2e
    assert {r["run_id"] for r in rows} == {ph.RUN_A}
    api = json.loads(client.get("/api/v1/zones/Z1")[2])
    assert [{k: "" if v is None else str(v) for k, v in r.items()} for r in api["series"]] == rows
    assert api["targets"][0]["target_value"] == "130.0000"


def test_the_api_lists_the_zones_and_the_overview_cards(server: Server) -> None:
    client = logged_in(server, "viewer")
    zones = json.loads(client.get("/api/v1/zones")[2])["zones"]
    assert [(z["zone_id"], z["plan_status"]) for z in zones] == [("Z1", "on track"), ("Z2", "behind"),
                                                                 ("Z3", "reached")]
    (card,) = json.loads(client.get("/api/v1/overview")[2])["region"]
    assert card["value"] == pytest.approx(60.5)  # (120.5 + 49 + 12) ha of 300 ha
    assert b"60.50" in client.get("/")[2]


def test_a_run_page_shows_its_changes_against_the_previous_accepted_run(server: Server) -> None:
    client = logged_in(server, "viewer")
    diff = json.loads(client.get(f"/api/v1/runs/{ph.RUN_B}")[2])["diff"]
    assert diff["previous"] == ph.RUN_A
    # largest first: Z1's CO2e, (5600 - 5400) t C x 44/12 = 733.3333 t CO2e (platform_history.FIGURES)
    first = diff["figures"][0]
    assert (first["zone_id"], first["year"], first["metric"], first["change"]) == ("Z1", 2023, "co2e_t", "733.3333")
    total = next(d for d in diff["figures"] if (d["zone_id"], d["metric"]) == ("Z1", "total:carbon_t"))
    assert (total["value_a"], total["value_b"], total["change"]) == ("5400.0000", "5600.0000", "200.0000")
    # 2020 of three zones, measured by run A only, 10 metrics each: forest and grassland ha, carbon_t and co2e_t
    # of the pools agb, soc and total, and the totals carbon_t and co2e_t
    assert diff["only_previous"] == 3 * 10
    assert json.loads(client.get(f"/api/v1/runs/{ph.RUN_A}")[2])["diff"] is None  # nothing accepted before A
    assert b'id="diff"' in client.get(f"/runs/{ph.RUN_B}/")[2]


def test_only_an_admin_sees_the_users_and_the_audit_log(server: Server) -> None:
    assert logged_in(server, "analyst").get("/audit/")[0] == 403
    status, _, page = logged_in(server, "admin").get("/audit/")
    assert status == 200
    assert page.count(b"user.add") >= len(USERS)  # each user the module's server started with
    assert b"Donghe" in page


def test_users_are_added_with_a_known_role_and_a_long_enough_password(history: Path) -> None:
    for args, message in ((("bob", "boss", "long-enough-1"), "role 'boss' is unknown"),
                          (("bob", "viewer", "short"), "shorter than 8"),
                          (("vic", "viewer", "long-enough-1"), "exists already"),
                          # default deny: a data-entry user without counties would have kept every county's ledger
                          (("dan", "data_entry", "long-enough-1"), "give 'dan' them with --counties")):
        refused = add_user(history, *args)
        assert (refused.returncode, message in refused.stderr) == (2, True)
    listed = subprocess.run([SINKZONE, "users", "list", "--history", str(history)], capture_output=True,
                            text=True, check=True).stdout
    assert "ana" in listed
    assert "Donghe" in listed
    with closing(sqlite3.connect(history.with_name("history.platform.sqlite3"))) as db:
        added = {row[0] for row in db.execute("SELECT target FROM platform_auditentry WHERE action = 'user.add'")}
    assert {name for name, _ in USERS.values()} <= added


# ---- the command line's refusals (in-process: each stops before Django is set up) -----------------------


def test_serve_refuses_a_missing_store_a_foreign_file_and_a_bad_bind(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.gpkg"
    assert_clean_failure(cli("serve", "--history", str(missing)), "no history store here")
    assert not missing.exists()
    foreign = tmp_path / "notes.gpkg"
    with closing(sqlite3.connect(foreign)) as db, db:
        db.execute("CREATE TABLE notes (text TEXT)")
    assert_clean_failure(cli("users", "list", "--history", str(foreign)), "not a sinkzone history store")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.gpkg"]  # nothing made beside it
    assert_clean_failure(cli("serve", "--history", str(foreign), "--bind", "localhost"), "is not HOST:PORT")
