"""A real `sinkzone serve` process on a free local port, its users added by `sinkzone users add`, and a small HTTP
client that logs in as a browser does (cookies, the CSRF token from the form)."""

from __future__ import annotations

import http.cookiejar
import io
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import openpyxl

SINKZONE = str(Path(sys.executable).parent / "sinkzone")
Answer = tuple[int, Message, bytes]
START_S = 30  # the promise for `make serve`
USERS = {"admin": ("ada", "admin-pass-1"), "analyst": ("ana", "analyst-pass-1"),
         "data_entry": ("dee", "entry-pass-1"), "viewer": ("vic", "viewer-pass-1")}


def add_user(history: Path | str, name: str, role: str, password: str, *, counties: str = "",
             state: Path | None = None) -> subprocess.CompletedProcess:
    command = [SINKZONE, "users", "add", name, "--role", role, "--history", str(history), *_state(state)]
    return subprocess.run([*command, *(["--counties", counties] if counties else [])], input=password + "\n",
                          capture_output=True, text=True, check=False)


def _state(state: Path | None) -> list[str]:
    return [] if state is None else ["--state", str(state)]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    history: Path  # a GeoPackage; a postgresql:// store's tests name their URL themselves
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(history: Path | str, *, state: Path | None = None) -> Server:
    """The platform serving `history`, with one user of each role, answering within START_S seconds."""
    for role, (name, password) in USERS.items():
        added = add_user(history, name, role, password, counties="Donghe" if role == "data_entry" else "",
                         state=state)
        assert added.returncode == 0, added.stderr
    port = _free_port()
    log = (state or Path(history).parent) / "serve.log"
    process = subprocess.Popen([SINKZONE, "serve", "--history", str(history), "--bind", f"127.0.0.1:{port}",
                                *_state(state)], stdout=log.open("w"), stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, Path(history), log)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(server.url + "/login/", timeout=2).close()
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # a loaded machine: still starting
            time.sleep(0.2)
    server.stop()
    raise AssertionError(f"the platform did not answer within {START_S} s: {log.read_text()}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Client:
    """A browser-like client: keeps cookies, sends the CSRF token and a same-origin Referer, never follows
    redirects (a test reads them)."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def get(self, path: str) -> Answer:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data: dict[str, str], *, form_page: str | None) -> Answer:
        """POST `data` as the form on `form_page` sends it (with that page's CSRF token); no token without one."""
        if form_page is not None:
            found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(form_page)[2])
            assert found, f"no form with a CSRF token on {form_page}"
            data = {**data, "csrfmiddlewaretoken": found.group(1).decode()}
        return self._open(urllib.request.Request(self.base + path, data=urllib.parse.urlencode(data).encode(),
                                                 headers={"Referer": self.base + (form_page or path)}))

    def upload(self, path: str, data: dict[str, str], files: dict[str, tuple[str, bytes]], *,
               form_page: str) -> Answer:
        """POST `data` and `files` ({field: (file name, bytes)}) as multipart/form-data, with `form_page`'s token."""
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(form_page)[2])
        assert found, f"no form with a CSRF token on {form_page}"
        boundary = "----sinkzone-test-boundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in {**data, "csrfmiddlewaretoken": found.group(1).decode()}.items()]
        parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                  "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
                  for k, (name, content) in files.items()]
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self._open(urllib.request.Request(self.base + path, data=body, headers={
            "Referer": self.base + form_page, "Content-Type": f"multipart/form-data; boundary={boundary}"}))

    def _open(self, request: urllib.request.Request) -> Answer:
        try:
            with self.opener.open(request, timeout=20) as answer:
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def login(self, role: str, *, password: str | None = None) -> int:
        name, right = USERS[role]
        return self.post("/login/", {"username": name, "password": password or right}, form_page="/login/")[0]


def logged_in(server: Server, role: str) -> Client:
    """A client of `server` logged in as the module's user of `role`."""
    client = Client(server.url)
    assert client.login(role) == 302
    return client


def page_overlays(html: bytes) -> list[dict[str, Any]]:
    """The land-cover epochs a zone page carries for its map (its `overlays` JSON)."""
    found = re.search(rb'<script id="overlays" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the zone page carries no overlay data"
    return list(json.loads(found.group(1)))


def workbook_rows(workbook: bytes) -> list[list[str]]:
    """An .xlsx download's first sheet as the page prints it: figures with four decimals, whole numbers as they
    are, a gap blank."""
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    assert sheet is not None
    return [["" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v) for v in row]
            for row in sheet.iter_rows(values_only=True)]
