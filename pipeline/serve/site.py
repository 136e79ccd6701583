"""The Django site built in code for one history store: settings, the platform's own database, the server.

There is no settings module to edit: `sinkzone serve --history TARGET` is the whole configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django
from django.conf import settings

from pipeline.files.platform_state import secret_key, state_paths
from pipeline.serve.history import History

STATIC_DIR = Path(__file__).parent / "static"
LOGIN_ATTEMPTS = 5  # failed logins per user name and address before a pause
LOGIN_PAUSE_S = 15 * 60
CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


def _settings(history: str, *, state: Path | None, hosts: list[str]) -> dict[str, Any]:
    database, key_file = state_paths(history, state=state)
    return {
        "DEBUG": False,
        "SECRET_KEY": secret_key(key_file),
        "ALLOWED_HOSTS": hosts,
        "ROOT_URLCONF": "pipeline.serve.urls",
        "INSTALLED_APPS": ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                           "pipeline.serve.apps.PlatformConfig"],
        "MIDDLEWARE": ["django.middleware.security.SecurityMiddleware",
                       "django.contrib.sessions.middleware.SessionMiddleware",
                       "django.middleware.common.CommonMiddleware",
                       "django.middleware.csrf.CsrfViewMiddleware",
                       "django.contrib.auth.middleware.AuthenticationMiddleware",
                       "django.middleware.clickjacking.XFrameOptionsMiddleware",
                       "pipeline.serve.security.headers",
                       "pipeline.serve.security.login_required",
                       "pipeline.serve.history.one_store_per_request"],
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        "TEMPLATES": [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                       "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                          "django.template.context_processors.csrf",
                                                          "django.contrib.auth.context_processors.auth"]}}],
        # Argon2 first: new and changed passwords are hashed with it; PBKDF2 stays readable
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.Argon2PasswordHasher",
                             "django.contrib.auth.hashers.PBKDF2PasswordHasher"],
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        "SESSION_COOKIE_HTTPONLY": True, "SESSION_COOKIE_SAMESITE": "Strict",
        "CSRF_COOKIE_HTTPONLY": True, "CSRF_COOKIE_SAMESITE": "Strict",
        "CSRF_FAILURE_VIEW": "pipeline.serve.views.csrf_failure",
        "SESSION_COOKIE_AGE": 8 * 3600, "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True, "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin", "X_FRAME_OPTIONS": "DENY",
        "LOGIN_URL": "/login/", "LOGIN_REDIRECT_URL": "/", "LOGOUT_REDIRECT_URL": "/login/",
        "LANGUAGE_CODE": "zh-hans", "USE_I18N": False, "TIME_ZONE": "UTC", "USE_TZ": True,
        "SINKZONE_HISTORY": History(history),
        "SINKZONE_CSP": CSP,
        "LOGGING_CONFIG": None,
    }


def start(history: str, *, state: Path | None, hosts: list[str]) -> None:
    """Django configured for this history store (opened once to check it is one), the platform's own tables
    created or upgraded."""
    from django.core.management import call_command

    with History(history).opened():
        pass  # a missing or foreign store, or one from a newer sinkzone, is refused before anything is made
    settings.configure(**_settings(history, state=state, hosts=hosts))
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def history() -> History:
    store: History = settings.SINKZONE_HISTORY
    return store


def hosts_for(host: str) -> list[str]:
    """The host names the site answers to: the bound address and this machine's own names; any name when bound
    to every address (0.0.0.0), where the bureau's DNS name for the server is not known here."""
    return ["*"] if host in ("0.0.0.0", "::") else [host, "localhost", "127.0.0.1"]


def serve(host: str, port: int) -> None:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import run

    run(host, port, WSGIHandler(), ipv6=":" in host, threading=True)
