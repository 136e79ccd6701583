"""Roles as Django groups, the users the command line adds, and the audit log every change writes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, User
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from pipeline.core.errors import PlatformError
from pipeline.serve.models import AuditEntry, Profile

ROLES: dict[str, tuple[str, str]] = {
    "admin": ("管理员", "administrator: users, groups, audit log"),
    "analyst": ("分析员", "analyst: accepts and supersedes runs"),
    "data_entry": ("填报员", "data entry: ledgers of their own counties"),
    "viewer": ("查看者", "viewer: reads every page"),
}
MIN_PASSWORD = 8


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    if not user.is_authenticated:
        return None
    names = set(Group.objects.filter(user=user).values_list("name", flat=True))
    return next((role for role in ROLES if role in names), None)


def audit(who: str, action: str, target: str, detail: str = "") -> None:
    AuditEntry.objects.create(who=who, action=action, target=target, detail=detail)


View = Callable[..., HttpResponse]


def requires(*roles: str) -> Callable[[View], View]:
    """A view only users of these roles may use; others get 403 (the login itself is checked for every page)."""
    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if role_of(request.user) not in roles:
                return HttpResponseForbidden("403: 无权限 not allowed for your role")
            return view(request, *args, **kwargs)
        return guarded
    return decorate


def add_user(name: str, *, role: str, counties: list[str], password: str, by: str) -> None:
    """A new user with one role (hashed password, counties), in the audit log."""
    if role not in ROLES:
        raise PlatformError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise PlatformError(f"the password for {name!r} is shorter than {MIN_PASSWORD} characters; "
                            "give a longer one on standard input")
    if role == "data_entry" and not counties:
        raise PlatformError(f"a data-entry user keeps the ledgers of their own counties: give {name!r} them with "
                            "--counties A,B")
    if User.objects.filter(username=name).exists():
        raise PlatformError(f"user {name!r} exists already; `sinkzone users list` shows who is there")
    with transaction.atomic():
        user = User.objects.create_user(username=name, password=password, is_staff=role == "admin")
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        Profile.objects.create(user=user, counties=counties)
        audit(by, "user.add", name, f"role={role} counties={','.join(counties)}")


def list_users() -> list[tuple[str, str, list[str]]]:
    """(name, role, counties) of every user, by name."""
    return [(user.username, role_of(user) or "-", list(getattr(getattr(user, "profile", None), "counties", [])))
            for user in User.objects.order_by("username")]


def counties_of(user: AbstractBaseUser | AnonymousUser) -> list[str] | None:
    """The counties whose ledgers the user sees: a data-entry user's own (none when none were given: a profile
    that lost its counties opens nothing), else all (None)."""
    if role_of(user) != "data_entry":
        return None
    return list(getattr(getattr(user, "profile", None), "counties", []))


def may_edit_ledger(user: AbstractBaseUser | AnonymousUser, county: str) -> bool:
    """Admins edit every county's ledgers, data-entry users their own counties'; analysts and viewers read."""
    role = role_of(user)
    counties = counties_of(user)
    return role == "admin" or (role == "data_entry" and counties is not None and county in counties)
