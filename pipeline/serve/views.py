"""The pages (总览, 片区, 监测运行, 预警, 台账), their JSON twins under /api/v1/, and the login with its throttle.

Reading is GET; each change (a run's review, an alert rule, an alert's acknowledgement or resolution by analysts; a
ledger entry by admins and data-entry users of its county) is a POST with its CSRF token, audited."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from django import forms
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline.core.errors import PlatformError, SinkzoneError
from pipeline.core.literal import csv_text, json_text
from pipeline.files.output import write_workbook
from pipeline.serve import alerts, ledgers, overlay, pages
from pipeline.serve import history as store
from pipeline.serve.models import AuditEntry, DemoForest, Subscription
from pipeline.serve.roles import ROLES, audit, counties_of, list_users, may_edit_ledger, requires, role_of
from pipeline.serve.site import LOGIN_ATTEMPTS, LOGIN_PAUSE_S, history

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_REVIEWS = {"accept": "accepted", "supersede": "superseded"}


class ThrottledLogin(LoginView):
    """Django's login, paused for a user name and address after LOGIN_ATTEMPTS failures in a row."""

    template_name = "serve/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = f"login-failures:{request.META.get('REMOTE_ADDR', '')}:{request.POST.get('username', '')}"
        if cache.get(key, 0) >= LOGIN_ATTEMPTS:
            return render(request, self.template_name, {"form": self.get_form(), "paused": LOGIN_PAUSE_S // 60},
                          status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: wrong name or password
            cache.set(key, cache.get(key, 0) + 1, LOGIN_PAUSE_S)
        else:
            cache.delete(key)
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its CSRF token (Django's own page styles itself inline, which the CSP blocks)."""
    return HttpResponseForbidden("403: 表单已过期或来源不明，请返回重新提交。The form is stale or not from this site: "
                                 "go back, reload and send it again.", content_type="text/plain; charset=utf-8")


def _json(data: dict[str, Any], *, status: int = 200) -> HttpResponse:
    return HttpResponse(json_text(data), content_type="application/json; charset=utf-8", status=status)


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    role = role_of(request.user)
    return render(request, template, {**context, "role": role, "role_label": ROLES.get(role or "", ("", ""))})


def _sort(request: HttpRequest) -> str | None:
    sort = request.GET.get("sort", "year")
    return sort if sort in store.SERIES_SORTS else None


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """The overview; `?wall=1` is the wall screen (大屏): no menu, a large map and cards, reloaded every 5 minutes."""
    return _page(request, "serve/overview.html", {**_overview(request), "wall": request.GET.get("wall") == "1"})


def _overview(request: HttpRequest) -> dict[str, Any]:
    """The overview's data with its open alerts (the alerts live in the platform's own database)."""
    found = alerts.alerts(history(), open_only=True, per_page=OVERVIEW_ALERTS)
    return {**pages.overview(history(), page=_page_number(request)), "open_alerts": found["alerts"],
            "open_alert_count": found["count"]}


OVERVIEW_ALERTS = 10  # the open alerts the overview lists, the largest losses first; /alerts/ has them all


def _page_number(request: HttpRequest) -> int:
    """`?page=N` of a listed table (the overview's zones, the alerts); anything else is the first page."""
    text = request.GET.get("page", "1")
    return int(text) if text.isdigit() else 1


@require_GET
def zone(request: HttpRequest, zone_id: str) -> HttpResponse:
    sort = _sort(request)
    if sort is None:
        return HttpResponseBadRequest(f"sort must be one of {', '.join(store.SERIES_SORTS)}")
    data = pages.zone(history(), zone_id, sort=sort)
    if data is None:
        raise Http404("no such zone 无此片区")
    return _page(request, "serve/zone.html", {**data, "sort": sort, "sorts": list(store.SERIES_SORTS),
                                              "overlays": overlay.for_page(history(), zone_id)})


@require_GET
def zone_landcover(request: HttpRequest, zone_id: str, year: int) -> HttpResponse:
    """The zone's land cover of one year as a PNG for the zone map's overlay (see serve/overlay.py)."""
    if store.zone(history(), zone_id) is None:
        raise Http404("no such zone 无此片区")
    try:
        found = overlay.drawn(history(), zone_id, year)
    except SinkzoneError as exc:  # the recorded file moved or deleted: the page shows the same as a note
        return _text(f"{year} 年地类图无法读取 the land cover of {year} cannot be read: {exc}", 404)
    if found is None:
        raise Http404("no land cover of this year for this zone 该片区无此年份")
    return HttpResponse(found.png(), content_type="image/png")


def _zone_series(request: HttpRequest, zone_id: str) -> list[dict[str, Any]]:
    """The zone page's series table in the order asked for, as the page shows it; 404 for an unknown zone."""
    sort = _sort(request)
    data = pages.zone(history(), zone_id, sort=sort) if sort else None
    if data is None:
        raise Http404("no such zone 无此片区")
    series: list[dict[str, Any]] = data["series"]
    return series


@require_GET
def zone_csv(request: HttpRequest, zone_id: str) -> HttpResponse:
    """The zone page's series table as CSV: the same rows, order and figures the page shows."""
    series = _zone_series(request, zone_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="zone_series.csv"'
    response.write("\ufeff")  # Excel reads UTF-8 (Chinese class names) only after a byte-order mark
    writer = csv.writer(response, lineterminator="\n")
    writer.writerow(store.SERIES_COLUMNS)
    writer.writerows([csv_text(str(row[c] if row[c] is not None else "")) for c in store.SERIES_COLUMNS]
                     for row in series)
    return response


@require_GET
def zone_xlsx(request: HttpRequest, zone_id: str) -> HttpResponse:
    """The zone page's series table as a workbook: the rows, order and figures of the page and the CSV, figures
    as numbers (text never a formula: files/xlsx.py)."""
    workbook = io.BytesIO()
    write_workbook(workbook, {"zone_series": pages.series_table(_zone_series(request, zone_id))})
    response = HttpResponse(workbook.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = 'attachment; filename="zone_series.xlsx"'
    return response


@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    return _page(request, "serve/runs.html", pages.runs(history()))


@require_GET
def run(request: HttpRequest, run_id: str) -> HttpResponse:
    data = pages.run(history(), run_id)
    if data is None:
        raise Http404("no such run 无此运行")
    return _page(request, "serve/run.html", {"run": data, "may_review": role_of(request.user) == "analyst"})


@require_POST
@requires("analyst")
def review(request: HttpRequest, run_id: str, action: str) -> HttpResponse:
    if action not in _REVIEWS or pages.run(history(), run_id) is None:
        raise Http404("no such run or action")
    note = request.POST.get("note", "").strip()
    try:
        store.review(history(), run_id, state=_REVIEWS[action], by=request.user.get_username(), note=note)
    except SinkzoneError as exc:  # e.g. the platform reads a PostGIS store as its reader role
        return _text(str(exc), 503)
    audit(request.user.get_username(), f"run.{action}", run_id, note)
    return redirect("run", run_id=run_id)


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(f"{status}: {message}", status=status, content_type="text/plain; charset=utf-8")


def _alerts_data(request: HttpRequest) -> dict[str, Any]:
    rules = alerts.rules()
    return {**alerts.alerts(history(), page=_page_number(request)),
            "rules": [{"rule": name, "label": label, "enabled": rules[name].enabled,
                       "settings": rules[name].settings} for name, (label, _) in alerts.RULES.items()]}


@require_GET
def alerts_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "serve/alerts.html", {**_alerts_data(request),
                                                "may_edit": role_of(request.user) == "analyst",
                                                "actions": [("acknowledge", "确认 Acknowledge"),
                                                            ("resolve", "解决 Resolve")]})


@require_GET
def api_alerts(request: HttpRequest) -> HttpResponse:
    return _json(_alerts_data(request))


@require_POST
@requires("analyst")
def alert_rules(request: HttpRequest) -> HttpResponse:
    try:
        new = alerts.rule_settings(request.POST.dict())
    except PlatformError as exc:
        return _text(str(exc), 400)
    for rule in alerts.save_rules(new):
        settings = " ".join(f"{k}={'' if v is None else v}" for k, v in rule.settings.items())
        audit(request.user.get_username(), "alert_rule.edit", rule.rule, f"enabled={rule.enabled} {settings}")
    return redirect("alerts")


@require_POST
@requires("analyst")
def alert_state(request: HttpRequest, action: str) -> HttpResponse:
    key, note = request.POST.get("key", ""), request.POST.get("note", "").strip()
    if not alerts.set_state(history(), key, action=action, note=note, by=request.user.get_username()):
        raise Http404("no such alert or action 无此预警")
    audit(request.user.get_username(), f"alert.{action}", key, note)
    return redirect("alerts")


AUDIT_ROWS = 500


@require_GET
@requires("admin")
def audit_log(request: HttpRequest) -> HttpResponse:
    """管理: the newest changes first, with who and when; and the users with their roles."""
    return _page(request, "serve/audit.html", {"entries": AuditEntry.objects.all()[:AUDIT_ROWS],
                                               "users": list_users()})


@require_GET
def api_zones(request: HttpRequest) -> HttpResponse:
    return _json({"zones": pages.overview(history())["zones"]})


@require_GET
def api_zone_shapes(request: HttpRequest) -> HttpResponse:
    """The map's zones; `?bbox=west,south,east,north&zoom=Z` (degrees, a web map zoom) those in view at that zoom."""
    try:
        bbox = _bbox(request.GET.get("bbox"))
        zoom = min(max(int(request.GET["zoom"]), 0), 30) if "zoom" in request.GET else None
    except ValueError:
        return _json({"error": "bbox is west,south,east,north in degrees and zoom a whole number"}, status=400)
    return _json(pages.zone_shapes(history(), request.GET.get("zone"), bbox=bbox, zoom=zoom))


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    west, south, east, north = (float(v) for v in text.split(","))
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ValueError(text)
    return west, south, east, north


@require_GET
def api_overview(request: HttpRequest) -> HttpResponse:
    return _json(_overview(request))


@require_GET
def api_zone(request: HttpRequest, zone_id: str) -> HttpResponse:
    sort = _sort(request)
    data = pages.zone(history(), zone_id, sort=sort) if sort else None
    if data is None:
        return _json({"error": "no such zone or sort"}, status=404)
    return _json(data)


@require_GET
def api_runs(request: HttpRequest) -> HttpResponse:
    return _json(pages.runs(history()))


@require_GET
def api_run(request: HttpRequest, run_id: str) -> HttpResponse:
    data = pages.run(history(), run_id)
    if data is None:
        return _json({"error": "no such run"}, status=404)
    return _json(data)


_LEDGERS: dict[str, tuple[type[DemoForest] | type[Subscription], type[forms.Form], str]] = {
    "forests": (DemoForest, ledgers.ForestForm, "serve/forest.html"),
    "subscriptions": (Subscription, ledgers.SubscriptionForm, "serve/subscription.html"),
}


def _ledgers_data(request: HttpRequest) -> dict[str, Any]:
    counties = counties_of(request.user)
    forests = ledgers.visible(DemoForest, counties)
    return {"counties": counties, "check": ledgers.mu_check(forests),
            "forests": [ledgers.forest_row(f) for f in forests],
            "subscriptions": [ledgers.subscription_row(s) for s in ledgers.visible(Subscription, counties)]}


@require_GET
def ledgers_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "serve/ledgers.html", {**_ledgers_data(request),
                                                 "may_add": role_of(request.user) in ("admin", "data_entry")})


@require_GET
def api_ledgers(request: HttpRequest) -> HttpResponse:
    return _json(_ledgers_data(request))


def _entry(request: HttpRequest, kind: str, entry_id: int) -> Any:
    """The entry when the user may see its county; another county's entry is not found, whatever its id."""
    if kind not in _LEDGERS:
        raise Http404("no such ledger 无此台账")
    found = ledgers.visible(_LEDGERS[kind][0], counties_of(request.user)).filter(pk=entry_id).first()
    if found is None:
        raise Http404("no such entry 无此条目")
    return found


@require_GET
def api_forest(request: HttpRequest, entry_id: int) -> HttpResponse:
    forest = _entry(request, "forests", entry_id)
    return _json({**ledgers.forest_row(forest), "boundary": forest.boundary})


@require_http_methods(["GET", "POST"])
def ledger_entry(request: HttpRequest, kind: str, entry_id: int | None = None) -> HttpResponse:
    """One entry: shown on GET; on POST created (no id) or changed, by a user who may edit its county."""
    entry = None if entry_id is None else _entry(request, kind, entry_id)
    if kind not in _LEDGERS:
        raise Http404("no such ledger 无此台账")
    if request.method == "POST":
        return _save_entry(request, kind, entry)
    if entry is None:
        raise Http404("a new entry is made from the ledgers page 新条目请在台账页填写")
    row = ledgers.forest_row(entry) if kind == "forests" else ledgers.subscription_row(entry)
    return _page(request, _LEDGERS[kind][2], {"entry": row, "may_edit": may_edit_ledger(request.user, entry.county)})


def _save_entry(request: HttpRequest, kind: str, entry: Any) -> HttpResponse:
    form = _LEDGERS[kind][1](request.POST, request.FILES)
    if not form.is_valid():
        return _text("; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()), 400)
    data = form.cleaned_data
    if not may_edit_ledger(request.user, data["county"]) or (entry and not may_edit_ledger(request.user,
                                                                                           entry.county)):
        return HttpResponseForbidden("403: 无权编辑该县台账 not allowed to edit this county's ledger")
    by = request.user.get_username()
    try:
        saved = (ledgers.save_forest(data, entry=entry, by=by) if kind == "forests"
                 else ledgers.save_subscription(history(), data, entry=entry, by=by))
    except SinkzoneError as exc:
        return _text(str(exc), 400)
    detail = {k: str(v) for k, v in data.items() if k != "boundary"}
    audit(by, f"{kind}.{'edit' if entry else 'add'}", f"{kind}/{saved.pk}", json.dumps(detail, ensure_ascii=False))
    return redirect("ledger_entry", kind=kind, entry_id=saved.pk)
