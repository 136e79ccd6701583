"""The platform's queries on the history store, through the store's own interface (`pipeline/record`), so pages
read a GeoPackage and a PostGIS store alike, by the names issue 20 fixes (`runs`, `zone_versions`, `progress`,
`region_indicators`, `current_zones` and the view `zone_series`).

Every value travels as a bound parameter; the only text put into SQL is a sort order picked from `SERIES_SORTS`.
The one change the platform makes to the store, a run's review, goes through the store's own `review`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from shapely.geometry.base import BaseGeometry

from pipeline.record import attempts, queries
from pipeline.record.backend import Store, rows
from pipeline.record.schema import served_first
from pipeline.record.store import open_store

Row = dict[str, Any]
# the zone page's sort names and the SQL each stands for: nothing a visitor types reaches the SQL text
SERIES_SORTS: dict[str, str] = {
    "year": "year, metric",
    "-year": "year DESC, metric",
    "metric": "metric, year",
    "value": "value, metric, year",
    "-value": "value DESC, metric, year",
}
SERIES_COLUMNS = ("year", "metric", "value", "unit", "run_id", "review", "product", "product_version",
                  "version_break")
REVIEWS = ("accepted", "superseded")
_ZONE_COLUMNS = "zone_set, zone_id, zone_version, area_ha, attributes, year, run_id, review, plan_status"
_JSON_COLUMNS = ("attributes", "config", "inputs", "class_map")


@dataclass(frozen=True)
class History:
    """A history store named by its target: a GeoPackage path or a postgresql:// URL."""

    target: str

    @contextmanager
    def opened(self) -> Iterator[Store]:
        """The store: within a request (`one_store_per_request`) the one it opened first, else a fresh one."""
        if getattr(_REQUEST, "active", False):
            if _REQUEST.store is None:
                _REQUEST.store = open_store(self.target, create=False)
            yield _REQUEST.store
            return
        store = open_store(self.target, create=False)
        try:
            yield store
        finally:
            store.close()

    def rows(self, sql: str, *params: Any) -> list[Row]:
        with self.opened() as store:
            frame = store.query(sql, params)
        return [{k: _decoded(k, v) for k, v in zip(frame.columns, row, strict=True)} for row in rows(frame)]


# what was read from each store, by the store's state when it was read (see `remembered`)
_REMEMBERED: dict[str, tuple[str, dict[Hashable, Any]]] = {}
# the request this thread serves: its open store and the store's state, read once (a page asks for both a dozen times)
_REQUEST = threading.local()


def one_store_per_request(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Middleware: each request opens the store once and reads its state once, and closes it when answered."""
    def middleware(request: Any) -> Any:
        _REQUEST.active, _REQUEST.store, _REQUEST.state = True, None, None
        try:
            return get_response(request)
        finally:
            if _REQUEST.store is not None:
                _REQUEST.store.close()
            _REQUEST.active, _REQUEST.store, _REQUEST.state = False, None, None
    return middleware


def state(history: History) -> str:
    """The store's state: its runs and their reviews, and the batch attempts recorded. Figures, zones and plans enter
    the store only with a run (ingest) and change what they serve only with a review; attempts are only ever added,
    so their count and newest start say whether one came. The same state means the same answers."""
    if getattr(_REQUEST, "state", None) is not None:
        return str(_REQUEST.state)
    with history.opened() as opened:
        found = [rows(opened.query("SELECT run_id, review, reviewed_utc FROM runs ORDER BY run_id")),
                 rows(opened.query("SELECT COUNT(*) AS n, MAX(started_utc) AS newest FROM run_attempts"))]
    now = hashlib.sha256(json.dumps(found, default=str).encode()).hexdigest()
    if getattr(_REQUEST, "active", False):
        _REQUEST.state = now
    return now


def remembered(history: History, key: Hashable, make: Callable[[], Any]) -> Any:
    """`make()` read once per store state: at 小班 scale (40,000 zones) the zone list, its outlines and the alerts
    take a second or more to read, and every overview needs them; a new run or review (from this server or from
    `sinkzone ingest`) reads afresh. Callers must not change what they get, but may fill a dict `make` gave them
    with what follows from the same state alone (features made when first asked for)."""
    now = state(history)
    stamp, values = _REMEMBERED.get(history.target, ("", {}))
    if stamp != now:
        values = {}
        _REMEMBERED[history.target] = (now, values)
    if key not in values:
        values[key] = make()
    return values[key]


def _decoded(column: str, value: Any) -> Any:
    """JSON columns as Python values: text in a GeoPackage, already decoded from PostGIS's jsonb."""
    return json.loads(value) if column in _JSON_COLUMNS and isinstance(value, str) else value


def zones(history: History) -> list[Row]:
    """Every current zone with its name, plan status and the run serving its latest figures."""
    return remembered(history, "zones", lambda: [_named(row) for row in history.rows(
        f"SELECT {_ZONE_COLUMNS} FROM current_zones ORDER BY zone_id")])


def zone(history: History, zone_id: str) -> Row | None:
    by_id = remembered(history, "zones by id", lambda: {row["zone_id"]: row for row in zones(history)})
    return by_id.get(zone_id)


def _named(row: Row) -> Row:
    """The zone with a `name`: the zone layer's name field as the run recorded it, else its id."""
    attributes = row.get("attributes") or {}
    name = next((attributes[k] for k in ("name", "名称", "片区名称") if attributes.get(k) is not None), None)
    return {**row, "name": str(name) if name is not None else row["zone_id"]}


def shapes(history: History, zone_id: str | None = None) -> dict[str, BaseGeometry]:
    """Each current zone's boundary (WGS 84) by zone id."""
    with history.opened() as store:
        found = queries.zone_shapes(store, zone=zone_id)
    return dict(zip(found["zone_id"], found.geometry, strict=True))


def series(history: History, zone_id: str, *, sort: str = "year") -> list[Row]:
    """The zone's served series (zone_series), in one of the whitelisted orders."""
    order = SERIES_SORTS[sort]
    return history.rows(f"SELECT {', '.join(SERIES_COLUMNS)} FROM zone_series WHERE zone_id = ? ORDER BY {order}",
                        zone_id)


def targets(history: History, zone_id: str, run_id: str | None) -> list[Row]:
    """The plan targets against what was achieved, from the run that serves the zone's latest figures."""
    return history.rows("SELECT metric, unit, latest_year, latest_value, target_value, target_year, pct_of_target, "
                        "status FROM progress WHERE zone_id = ? AND run_id = ? ORDER BY metric", zone_id, run_id)


def versions(history: History, zone_id: str) -> list[Row]:
    return history.rows("SELECT version, area_ha, geom_sha256, first_run, last_run FROM zone_versions "
                        "WHERE zone_id = ? ORDER BY version", zone_id)


def runs(history: History) -> list[Row]:
    return history.rows("SELECT run_id, name, finished_utc, code_version, review, reviewed_by, reviewed_utc, notes "
                        "FROM runs ORDER BY finished_utc DESC, run_id")


RECENT_ATTEMPTS = 20  # the batch attempts the runs page lists; `sinkzone history attempts` gives them all


def recent_attempts(history: History) -> list[Row]:
    """The newest batch attempts, whatever became of them."""
    with history.opened() as opened:
        return _listed(attempts.recent(opened, limit=RECENT_ATTEMPTS))


def failing_attempts(history: History) -> list[Row]:
    """Each config whose latest attempt that ran failed or was not stored."""
    with history.opened() as opened:
        return _listed(attempts.failing(opened))


def _listed(frame: pd.DataFrame) -> list[Row]:
    return [dict(zip(frame.columns, row, strict=True)) for row in rows(frame)]


def run(history: History, run_id: str) -> Row | None:
    found = history.rows("SELECT run_id, name, finished_utc, code_version, config, inputs, class_map, review, "
                         "reviewed_by, reviewed_utc, notes FROM runs WHERE run_id = ?", run_id)
    return found[0] if found else None


def epochs(history: History, run_id: str) -> list[Row]:
    """The run's inputs, one per epoch: file, fingerprint, product and version."""
    return history.rows("SELECT year, product, product_version, path, sha256 FROM run_epochs WHERE run_id = ? "
                        "ORDER BY year", run_id)


DIFF_ROWS = 20  # the largest changes a run page lists; `sinkzone history diff` gives them all


def diff_previous(history: History, run_id: str) -> Row | None:
    """The run against the newest accepted run that finished before it: its largest figure changes and the inputs
    that differ (the store's own diff), or None when no accepted run came before."""
    found = history.rows("SELECT p.run_id FROM runs p, runs r WHERE r.run_id = ? AND p.review = 'accepted' AND "
                         "p.finished_utc < r.finished_utc ORDER BY p.finished_utc DESC LIMIT 1", run_id)
    if not found:
        return None
    with history.opened() as store:
        changes = queries.diff(store, found[0]["run_id"], run_id)
    # figures only the previous run has (years this run did not measure) are counted, not listed as changes
    measured = changes.figures["value_b"].notna()
    figures, inputs = changes.figures[measured].head(DIFF_ROWS), changes.inputs
    return {"previous": found[0]["run_id"], "only_previous": int((~measured).sum()),
            "figures": _listed(figures), "inputs": _listed(inputs)}


SERVING = ("accepted", "draft")  # the review states whose figures zone_series serves (superseded serve nothing)


def region(history: History, *, reviews: tuple[str, ...] = SERVING) -> list[Row]:
    """The region's indicators of its latest year against its targets, from the newest accepted run that has them,
    else the newest draft (superseded runs serve nothing, as in zone_series); only runs of `reviews` are read."""
    marks = ", ".join("?" for _ in reviews)
    return history.rows(
        "SELECT i.region, i.indicator, i.label_zh, i.label_en, i.unit, i.value, i.target, i.target_year, "
        "i.pct_of_target, i.meets_target, i.year, i.run_id FROM region_indicators i WHERE i.run_id = (SELECT "
        f"r.run_id FROM runs r WHERE r.review IN ({marks}) AND r.run_id IN (SELECT run_id FROM region_indicators) "
        "ORDER BY CASE r.review WHEN 'accepted' THEN 0 ELSE 1 END, r.finished_utc DESC LIMIT 1) "
        "AND i.year = (SELECT MAX(y.year) FROM region_indicators y WHERE y.run_id = i.run_id) "
        "ORDER BY i.region, i.indicator", *reviews)


def served(history: History, *, reviews: tuple[str, ...]) -> list[Row]:
    """Every zone's served series (zone_series) whose rows come from runs of `reviews`, in one read, by zone set,
    zone, year and metric (one query per zone would read the view once per zone)."""
    marks = ", ".join("?" for _ in reviews)
    return history.rows(f"SELECT zone_set, zone_id, {', '.join(SERIES_COLUMNS)} FROM zone_series WHERE review IN "
                        f"({marks}) ORDER BY zone_set, zone_id, year, metric", *reviews)


def review(history: History, run_id: str, *, state: str, by: str, note: str) -> None:
    """A run accepted or superseded, with who and when (the store's own review; figures never change)."""
    with history.opened() as store:
        queries.review(store, run_id, state=state, by=by, note=note or None)
    _REQUEST.state = None  # the store's state changed: what this request reads after it is read afresh


def area_series(history: History, metrics: tuple[str, ...]) -> list[Row]:
    """The served areas of these metrics (e.g. forest_ha) for every zone, epoch by epoch."""
    with history.opened() as store:
        return _listed(queries.served_class_areas(store, tuple(m.removesuffix("_ha") for m in metrics)))


def newest_accepted(history: History) -> Row | None:
    found = history.rows("SELECT run_id, finished_utc FROM runs WHERE review = 'accepted' "
                         "ORDER BY finished_utc DESC LIMIT 1")
    return found[0] if found else None


def accounted_sink(history: History, zone_id: str) -> float | None:
    """The zone's accounted sink, t CO2e: the served stock changes between its epochs (co2e_change_t), added
    up; None when the store holds no change for it."""
    found = history.rows("SELECT SUM(value) AS sink FROM zone_series WHERE zone_id = ? AND metric = 'co2e_change_t'",
                         zone_id)
    return None if not found or found[0]["sink"] is None else float(found[0]["sink"])


def landcover_epochs(history: History, zone_id: str) -> list[Row]:
    """Each year of the zone's served areas with the land-cover file the serving run read for it (its run_epochs
    path) and that run's config; the serving run is picked as current_zones picks it (of the runs serving the
    year's areas, accepted first, then the newest)."""
    ranked = ("SELECT z.year, z.run_id, ROW_NUMBER() OVER (PARTITION BY z.year ORDER BY "
              f"{served_first('r')}) AS pick FROM zone_series z JOIN runs r ON r.run_id = z.run_id WHERE "
              "z.zone_id = ? AND z.metric LIKE '%\\_ha' ESCAPE '\\'")
    served = f"SELECT year, run_id FROM ({ranked}) t WHERE pick = 1"
    return history.rows(f"SELECT e.year, e.run_id, e.path, r.config FROM ({served}) s JOIN run_epochs e ON "
                        "e.run_id = s.run_id AND e.year = s.year JOIN runs r ON r.run_id = e.run_id ORDER BY e.year",
                        zone_id)
