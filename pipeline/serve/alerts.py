"""预警 Alerts: rules over the figures the history store serves (zone_series, current_zones' plan status, runs) and
over the batch attempts it records (run_attempts); the platform compares stored figures with thresholds and never
recomputes one.

The rules are evaluated when a page that shows alerts is opened, not at ingest: `sinkzone ingest` writes the store on
the machine that ran the run, often where no platform is installed and, for a PostGIS store, without knowing the
platform's state folder, so an alert made at ingest would be missed for every store filled that way. Evaluating on
load costs three small queries, sees each ingest and each review the moment it lands, and applies an analyst's
edited rule at once. Nothing is written by the evaluation (a GET changes nothing): what people do with an alert
(acknowledge, resolve, a note) is kept under the alert's key, which names the rule, the zone and the epochs or run
it is about, so it stays with that alert at every later evaluation and a new epoch raises a new alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby, pairwise
from typing import Any

from pipeline.core.errors import PlatformError
from pipeline.serve import history as store
from pipeline.serve.history import History, Row
from pipeline.serve.models import AlertRule, AlertState

# rule -> (label, the settings it takes with their defaults); a blank threshold is not used
RULES: dict[str, tuple[str, dict[str, float | int | None]]] = {
    "forest_drop": ("森林面积下降 forest area down between epochs", {"drop_ha": 10.0, "drop_pct": 5.0}),
    "grassland_drop": ("草地面积下降 grassland area down between epochs", {"drop_ha": 10.0, "drop_pct": 5.0}),
    "behind_plan": ("片区落后于规划 zone behind its plan", {}),
    # monitoring is yearly: a year and a month without an accepted run means one was missed
    "no_accepted_run": ("长期无采纳运行 no accepted run for N days", {"days": 400}),
    "failed_run": ("失败的定时运行 a failed scheduled run", {}),
}
_DROP_METRICS = {"forest_drop": "forest_ha", "grassland_drop": "grassland_ha"}
ACTIONS = {"acknowledge": "acknowledged", "resolve": "resolved"}


@dataclass(frozen=True)
class Rule:
    rule: str
    enabled: bool
    settings: dict[str, float | int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Raised:
    key: str
    rule: str
    zone_id: str
    message: str
    lost_ha: float = math.inf  # what orders the list: the largest loss first, alerts without an area before them


def rules() -> dict[str, Rule]:
    """Every rule as the analysts last set it, else its default."""
    saved = {row.rule: row for row in AlertRule.objects.all()}
    return {name: Rule(name, saved[name].enabled, {k: getattr(saved[name], k) for k in defaults})
            if name in saved else Rule(name, True, dict(defaults)) for name, (_, defaults) in RULES.items()}


def drops(series: list[Row], *, rule: str, drop_ha: float | None, drop_pct: float | None) -> list[Raised]:
    """Each pair of consecutive epochs where a zone's area fell by more than `drop_ha` hectares or `drop_pct` %."""
    found = []
    for (zone_id, metric), rows in groupby(series, key=lambda r: (r["zone_id"], r["metric"])):
        for before, after in pairwise(r for r in rows if r["value"] is not None):
            lost = before["value"] - after["value"]
            pct = 100 * lost / before["value"] if before["value"] > 0 else 0.0
            if lost > 0 and ((drop_ha is not None and lost > drop_ha) or (drop_pct is not None and pct > drop_pct)):
                found.append(Raised(f"{rule}:{zone_id}:{before['year']}-{after['year']}", rule, zone_id,
                                    f"{metric} {before['year']}→{after['year']}: {before['value']:.4f} → "
                                    f"{after['value']:.4f} ha, 减少 down {lost:.4f} ha ({pct:.2f} %)", lost))
    return found


def behind(zones: list[Row]) -> list[Raised]:
    return [Raised(f"behind_plan:{z['zone_id']}:{z['run_id']}", "behind_plan", z["zone_id"],
                   f"规划状态 plan status: behind (run {z['run_id']})") for z in zones if z["plan_status"] == "behind"]


def failed_runs(latest: list[Row]) -> list[Raised]:
    """An alert for each config whose latest attempt failed or was not stored, keyed by that attempt: its state
    stays with it, and the config's next failure is a new alert."""
    return [Raised(f"failed_run:{a['attempt_id']}", "failed_run", "",
                   f"配置 config {a['config_name']} ({a['config_path']}) {a['status']} at {a['started_utc']} on "
                   f"{a['host']}: {a['detail']}") for a in latest]


def stale(newest: Row | None, *, days: int, now: datetime) -> list[Raised]:
    """The alert when the newest accepted run finished more than `days` days before `now` (or there is none)."""
    if newest is None:
        return [Raised("no_accepted_run:none", "no_accepted_run", "", "尚无采纳的运行 no run has been accepted")]
    finished = newest["finished_utc"]
    when = finished if isinstance(finished, datetime) else datetime.fromisoformat(str(finished))
    age = (now - (when if when.tzinfo else when.replace(tzinfo=UTC))).days
    if age <= days:
        return []
    return [Raised(f"no_accepted_run:{newest['run_id']}", "no_accepted_run", "",
                   f"最近采纳的运行 newest accepted run {newest['run_id']} finished {age} days ago (> {days})")]


def raised(history: History, *, now: datetime | None = None) -> list[Raised]:
    """The alerts the enabled rules raise on the store's figures now, the largest losses first."""
    active = {name: rule for name, rule in rules().items() if rule.enabled}
    settings = tuple((name, tuple(sorted(rule.settings.items()))) for name, rule in sorted(active.items()))
    by_figures: list[Raised] = store.remembered(history, ("alerts", settings), lambda: sorted(
        _on_figures(history, active), key=lambda a: -a.lost_ha))
    timely = stale(store.newest_accepted(history), days=int(active["no_accepted_run"].settings["days"] or 0),
                   now=now or datetime.now(UTC)) if "no_accepted_run" in active else []
    return [*timely, *by_figures]  # neither has an area lost: they lead


def _on_figures(history: History, active: dict[str, Rule]) -> list[Raised]:
    """The alerts raised by what the store holds (drops, plans behind, failed attempts): the same while the store's
    state is."""
    found: list[Raised] = []
    metrics = tuple(_DROP_METRICS[name] for name in _DROP_METRICS if name in active)
    series = store.area_series(history, metrics) if metrics else []
    for name, metric in _DROP_METRICS.items():
        if name in active:
            found += drops([r for r in series if r["metric"] == metric], rule=name,
                           drop_ha=_float(active[name].settings["drop_ha"]),
                           drop_pct=_float(active[name].settings["drop_pct"]))
    if "behind_plan" in active:
        found += behind(store.zones(history))
    if "failed_run" in active:
        found += failed_runs(store.failing_attempts(history))
    return found


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


ALERTS_PER_PAGE = 100  # a 小班 store's drop rules can raise a hundred thousand alerts: they are listed a page at a time


def alerts(history: History, *, open_only: bool = False, page: int = 1,
           per_page: int = ALERTS_PER_PAGE) -> dict[str, Any]:
    """One page of the raised alerts (all, or the open ones) with what people did with them (state open,
    acknowledged or resolved; note; who), and how many there are."""
    states = {s.key: s for s in AlertState.objects.all()}  # only alerts someone acted on have a row
    closed = {key for key, s in states.items() if s.state != "open"}
    found = raised(history)
    if open_only and closed:
        found = [a for a in found if a.key not in closed]
    pages = max(1, -(-len(found) // per_page))
    page = min(max(page, 1), pages)
    return {"count": len(found), "page": page, "pages": pages,
            "alerts": [_listed(history, a, states.get(a.key)) for a in found[(page - 1) * per_page:page * per_page]]}


def _listed(history: History, alert: Raised, state: AlertState | None) -> dict[str, Any]:
    return {"key": alert.key, "rule": alert.rule, "label": RULES[alert.rule][0], "zone_id": alert.zone_id,
            "zone_name": _name(history, alert.zone_id), "message": alert.message,
            "state": state.state if state else "open", "note": state.note if state else "",
            "by": state.by if state else "", "when_utc": state.when_utc.isoformat() if state else ""}


def _name(history: History, zone_id: str) -> str:
    found = store.zone(history, zone_id) if zone_id else None
    return str(found["name"]) if found else zone_id


def rule_settings(form: dict[str, str]) -> dict[str, Rule]:
    """The rules as a posted form sets them (`<rule>.enabled`, `<rule>.drop_ha` ...): a blank threshold is not used;
    a value that is not a number, negative or not finite is refused naming the field."""
    return {name: Rule(name, form.get(f"{name}.enabled") == "on",
                       {key: _setting(f"{name}.{key}", form.get(f"{name}.{key}", "")) for key in defaults})
            for name, (_, defaults) in RULES.items()}


def _setting(name: str, text: str) -> float | int | None:
    text = text.strip()
    if not text and name.endswith(".days"):
        raise PlatformError(f"{name} is blank; give the number of days without an accepted run that raises the alert")
    if not text:
        return None
    try:
        value = int(text) if name.endswith(".days") else float(text)
    except ValueError as exc:
        raise PlatformError(f"{name} = {text!r} is not a number; give a "
                            f"{'whole number of days' if name.endswith('.days') else 'number'} or leave it blank"
                            ) from exc
    if not math.isfinite(value) or value < 0:
        raise PlatformError(f"{name} = {text!r} must be a number of at least 0")
    return value


def save_rules(new: dict[str, Rule]) -> list[Rule]:
    """The rules saved; those that changed are returned (for the audit log)."""
    old = rules()
    changed = [rule for name, rule in new.items() if rule != old[name]]
    for rule in changed:
        AlertRule.objects.update_or_create(rule=rule.rule, defaults={"enabled": rule.enabled, **rule.settings})
    return changed


def set_state(history: History, key: str, *, action: str, note: str, by: str) -> bool:
    """An alert raised now acknowledged or resolved, with a note; False when no such alert is raised."""
    if action not in ACTIONS or key not in {a.key for a in raised(history)}:
        return False
    AlertState.objects.update_or_create(key=key, defaults={"state": ACTIONS[action], "note": note, "by": by})
    return True
