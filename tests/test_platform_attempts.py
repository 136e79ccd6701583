"""失败的定时运行 The failed_run alert and the runs page's attempts, against a real `sinkzone serve` on a store
that real batches (`sinkzone batch --history`) record into: two configs, `good.yaml` runs, `bad.yaml` names a raster
that does not exist. Its name and the missing raster's file name are hostile HTML: the pages show both as text.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from builders import two_config_batch
from cli_support import cli
from platform_browser import chromium, guarded_page, log_in  # no dialog: nothing of the hostile text ran
from platform_server import Client, logged_in, start

HOSTILE_CONFIG = '<script>alert("config")</script>'
HOSTILE_FILE = "<img src=x onerror=alert(2)>.tif"
RULES_ON = {"forest_drop.enabled": "on", "forest_drop.drop_ha": "10", "forest_drop.drop_pct": "5",
            "grassland_drop.enabled": "on", "grassland_drop.drop_ha": "10", "grassland_drop.drop_pct": "5",
            "behind_plan.enabled": "on", "no_accepted_run.enabled": "on", "no_accepted_run.days": "400",
            "failed_run.enabled": "on"}


def _batch(folder: Path, store: Path, *, code: int) -> None:
    result = cli("batch", str(folder), "--history", str(store))
    assert result.exit_code == code, result.output


def _newest_attempt(store: Path, config: Path) -> tuple[str, str]:
    """The id and status of the config's newest attempt, read from the store's table directly."""
    with closing(sqlite3.connect(store)) as db:
        found = db.execute("SELECT attempt_id, status FROM run_attempts WHERE config_path = ? ORDER BY started_utc "
                           "DESC LIMIT 1", (str(config),)).fetchone()
    return str(found[0]), str(found[1])


def _failed_runs(client: Client) -> dict[str, dict[str, str]]:
    alerts = json.loads(client.get("/api/v1/alerts")[2])["alerts"]
    return {a["key"]: a for a in alerts if a["rule"] == "failed_run"}


def _open_on_overview(client: Client) -> set[str]:
    return {a["key"] for a in json.loads(client.get("/api/v1/overview")[2])["open_alerts"]}


@pytest.fixture
def failed_once(tmp_path: Path) -> tuple[Path, Path]:
    """A batch folder and the store its first batch (good done, bad failed) recorded into."""
    folder = two_config_batch(tmp_path, bad_name=HOSTILE_CONFIG, missing=HOSTILE_FILE)
    store = tmp_path / "history.gpkg"
    _batch(folder, store, code=1)
    return folder, store


def test_a_failed_scheduled_run_raises_an_alert_until_the_config_succeeds(failed_once: tuple[Path, Path]) -> None:
    folder, store = failed_once
    server = start(store)
    try:
        analyst = logged_in(server, "analyst")
        first, status = _newest_attempt(store, folder / "bad.yaml")
        assert status == "failed"
        raised = _failed_runs(analyst)
        assert list(raised) == [f"failed_run:{first}"]  # good.yaml's attempt succeeded: no alert for it
        message = raised[f"failed_run:{first}"]["message"]
        assert HOSTILE_CONFIG in message
        assert f"{HOSTILE_FILE}: file not found" in message
        assert f"failed_run:{first}" in _open_on_overview(analyst)
        _shows_as_text(analyst)
        assert analyst.post("/alerts/acknowledge/", {"key": f"failed_run:{first}", "note": "disk swapped"},
                            form_page="/alerts/")[0] == 302
        # the next night fails again: a new alert (good is up to date, so only the attempts changed in the store)
        _batch(folder, store, code=1)
        again, _ = _newest_attempt(store, folder / "bad.yaml")
        assert {k: a["state"] for k, a in _failed_runs(analyst).items()} == {f"failed_run:{again}": "open"}
        statuses = [(a["config_name"], a["status"]) for a in json.loads(analyst.get("/api/v1/runs")[2])["attempts"]]
        assert statuses == [("good", "up to date"), (HOSTILE_CONFIG, "failed"), ("good", "done"),
                            (HOSTILE_CONFIG, "failed")]  # newest first
        assert analyst.post("/alerts/rules/", {**RULES_ON, "failed_run.enabled": ""}, form_page="/alerts/")[0] == 302
        assert _failed_runs(analyst) == {}  # switched off
        assert analyst.post("/alerts/rules/", RULES_ON, form_page="/alerts/")[0] == 302
        # the raster put where bad.yaml expects it: its next attempt succeeds and clears the alert
        (folder.parent / "inputs" / HOSTILE_FILE).write_bytes((folder.parent / "inputs" / "lc.tif").read_bytes())
        _batch(folder, store, code=0)
        assert _newest_attempt(store, folder / "bad.yaml")[1] == "done"
        assert _failed_runs(analyst) == {}
        assert not any(k.startswith("failed_run") for k in _open_on_overview(analyst))
    finally:
        server.stop()


def _shows_as_text(client: Client) -> None:
    """The hostile config name and file name escaped on every page that shows them, and in the JSON."""
    for path in ("/alerts/", "/", "/runs/"):
        page = client.get(path)[2].decode()
        assert "&lt;script&gt;alert(&quot;config&quot;)&lt;/script&gt;" in page, path
        assert "<script>alert" not in page, path
        assert "&lt;img src=x onerror=alert(2)&gt;.tif" in page, path
        assert "<img" not in page, path
    for path in ("/api/v1/alerts", "/api/v1/overview", "/api/v1/runs"):
        raw = client.get(path)[2].decode()
        assert "<script>" not in raw, path
        assert "<img" not in raw, path


def test_the_alert_and_the_attempts_show_as_text_in_a_browser(failed_once: tuple[Path, Path]) -> None:
    folder, store = failed_once
    server = start(store)
    try:
        with chromium() as browser, guarded_page(browser, server) as page:
            log_in(page, server, "viewer")
            page.goto(server.url + "/alerts/")
            row = page.locator(f"#alerts tr[data-key='failed_run:{_newest_attempt(store, folder / 'bad.yaml')[0]}']")
            assert HOSTILE_CONFIG in row.inner_text()
            assert f"{HOSTILE_FILE}: file not found" in row.inner_text()
            page.goto(server.url + "/runs/")
            cells = "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
            listed = page.eval_on_selector_all("#attempts tbody tr", cells)
            assert [(r[1], r[2]) for r in listed] == [("good", "done"), (HOSTILE_CONFIG, "failed")]
            assert page.locator("img").count() == 0
    finally:
        server.stop()
