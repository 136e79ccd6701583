"""The platform in a real browser: Debian's chromium, headless, driven by Playwright (never `playwright install`:
the browser is the system's). A page may talk to the test server only: any request to another host fails the test,
as does any alert() or console error (a blocked script or style under the content security policy shows as one).
Screenshots go to output/platform-screens/ (look at them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platform_server import USERS, Server
from playwright import sync_api

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
SCREENS = Path(__file__).resolve().parents[1] / "output" / "platform-screens"


@contextmanager
def chromium() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@contextmanager
def guarded(browser: sync_api.Browser, *allowed: str) -> Iterator[tuple[sync_api.Page, list[str], list[str]]]:
    """A fresh browser profile whose requests may start with `allowed` only, with the requests it refused to other
    hosts and the dialogs and console errors it saw, for the caller to check."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    foreign: list[str] = []
    problems: list[str] = []

    def only_allowed(route: sync_api.Route) -> None:
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", only_allowed)
    page = context.new_page()
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    try:
        yield page, foreign, problems
    finally:
        context.close()


@contextmanager
def guarded_page(browser: sync_api.Browser, server: Server) -> Iterator[sync_api.Page]:
    """A fresh browser profile that may talk to the test server only."""
    with guarded(browser, server.url + "/") as (page, foreign, problems):
        yield page
    assert foreign == [], f"requests to other hosts: {foreign}"
    assert [p for p in problems if "403" not in p] == []  # the refused POSTs of the tests log their 403 on purpose


def log_in(page: sync_api.Page, server: Server, role: str) -> None:
    name, password = USERS[role]
    page.goto(server.url + "/login/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_url(server.url + "/")


def shot(page: sync_api.Page, name: str) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)
    return SCREENS / f"{name}.png"


def table(page: sync_api.Page, selector: str) -> list[list[str]]:
    cells = "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    return [[cell.strip() for cell in row] for row in page.eval_on_selector_all(f"{selector} tbody tr", cells)]
