"""What every response gets: a login for every page but the login page and the static files, and the headers
that keep a browser to this one host (content security policy `default-src 'self'`)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse

Handler = Callable[[HttpRequest], HttpResponse]
_OPEN = ("/login/", "/static/")


def login_required(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated or request.path.startswith(_OPEN):
            return get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"error": "login required 请登录"}, status=401)
        return redirect_to_login(request.get_full_path())
    return middleware


def headers(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response["Content-Security-Policy"] = settings.SINKZONE_CSP
        response.setdefault("Cache-Control", "no-store" if not request.path.startswith("/static/") else "max-age=3600")
        return response
    return middleware
