"""`sinkzone publish`: a static, read-only public snapshot of the history store (HTML, GeoJSON, PNG, CSV) that any
web server, or a browser opening the files, shows without the database.

What leaves is decided here, once: `PUBLIC` names every field a snapshot may hold, and every row reaches a page,
the GeoJSON or a CSV only through `public()`. Paths, configs, input fingerprints, output folders, user names,
notes, the audit log, ledgers (buyers are personal data) and alerts never do. Figures come from accepted runs
only (zone_series rows with review 'accepted'), drafts only when asked, each marked 草稿 draft. The store is read
through the platform's own queries (`serve/history.py`, `serve/pages.py`); nothing is recomputed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from shapely.geometry import mapping

from pipeline.core.errors import StoreError
from pipeline.core.literal import clean, is_missing
from pipeline.metrics.progress import STATUS_LABELS
from pipeline.present.labels import FIELD_LABELS, class_text
from pipeline.record.backend import utc_now
from pipeline.serve import history as store
from pipeline.serve import pages
from pipeline.serve.history import History, Row

# every field a public snapshot may hold, by the kind of row it belongs to; nothing else leaves
PUBLIC: dict[str, tuple[str, ...]] = {
    "zone": ("zone_id", "name", "area_ha", "year", "plan_status", "review", "page"),
    "figure": ("year", "metric", "label", "value", "low_90", "high_90", "unit", "run_id", "review"),
    "target": ("metric", "unit", "latest_year", "latest_value", "target_value", "target_year", "pct_of_target",
               "status"),
    "indicator": ("region", "indicator", "label_zh", "label_en", "unit", "value", "target", "target_year",
                  "pct_of_target", "meets_target", "year", "run_id"),
    "run": ("run_id", "finished_utc", "review"),
}
REVIEW_TEXT = {"accepted": "已采纳 accepted", "draft": "草稿 draft"}
# the zone page's figures: class areas, each carbon pool's stock, the change and the sink per year; `{pool}:carbon_t`
# and the like are the run's own rows (the store's pool sums would count a run's `total` pool twice)
_AREA = re.compile(r"^[^:>]+_ha$")
_STOCK = re.compile(r"^[^:>]+:(carbon_t|co2e_t)$")
_CHANGE = ("co2e_change_t", "co2e_per_year_t")
_YEARS = frozenset({"year", "latest_year", "target_year"})
_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_CHARS = 32


@dataclass(frozen=True)
class Snapshot:
    """What one publish shows, as plain data: every value public and already text."""

    zones: list[dict[str, str]]  # the zone table, with each zone's page name
    figures: dict[str, list[dict[str, str]]]  # page name -> the zone's figure table
    targets: dict[str, list[dict[str, str]]]  # page name -> the zone's plan targets
    region: list[dict[str, str]]
    runs: list[dict[str, str]]  # the runs whose figures are shown
    shapes: dict[str, Any]  # GeoJSON FeatureCollection of the zones shown
    published_utc: str
    include_drafts: bool
    left_out: int  # current zones with no figure a snapshot may show


def page_name(zone_set: str, zone_id: str) -> str:
    """A zone page's file stem: a short ASCII slug of the id (any text a user typed) and a hash of the zone set and
    id, so two ids differing in case, in characters dropped by the slug, or by length still get files of their own,
    and no id becomes a path (`../`), a device name (`con`) or a name longer than a file system allows."""
    slug = _SLUG.sub("-", zone_id.lower()).strip("-")[:SLUG_CHARS].strip("-") or "zone"
    digest = hashlib.sha256(f"{zone_set}\0{zone_id}".encode()).hexdigest()[:16]
    return f"{slug}-{digest}"


def text(value: object) -> str:
    """A value as every snapshot file shows it: figures as the platform prints them, user text literal."""
    if is_missing(value):
        return ""
    return pages.number(value) if isinstance(value, float) else clean(str(value))


def public(kind: str, row: Row) -> dict[str, str]:
    """Only the whitelisted fields of a row of this kind, as text; years as whole years (a store may keep a target
    year as a real number)."""
    return {field: text(_year(row.get(field)) if field in _YEARS else row.get(field)) for field in PUBLIC[kind]}


def _year(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def read(history: History, *, include_drafts: bool) -> Snapshot:
    """The snapshot of the store: its current zones with figures of accepted runs (and drafts when asked)."""
    reviews = ("accepted", "draft") if include_drafts else ("accepted",)
    if not include_drafts and store.newest_accepted(history) is None:
        raise StoreError(f"{history.target}: the history store has no accepted run, and a public snapshot shows "
                         "figures of accepted runs only: check a run and accept it with `sinkzone history accept RUN "
                         f"--history {history.target}` (`sinkzone history runs` lists them), or publish with "
                         "--include-drafts to show drafts marked 草稿 draft")
    by_zone = {key: list(rows) for key, rows in groupby(store.served(history, reviews=reviews),
                                                        key=lambda r: (r["zone_set"], r["zone_id"]))}
    current = store.zones(history)
    shown = [z for z in current if (z["zone_set"], z["zone_id"]) in by_zone]
    if not shown:
        raise StoreError(f"{history.target}: no zone has figures from an {' or '.join(reviews)} run; ingest a run "
                         f"(`sinkzone ingest OUTPUT --history {history.target}`) and accept it")
    figures = {page_name(z["zone_set"], z["zone_id"]): _figures(by_zone[(z["zone_set"], z["zone_id"])])
               for z in shown}
    targets = {page_name(z["zone_set"], z["zone_id"]): _targets(history, z, figures) for z in shown}
    zones = [_zone(z, figures, targets) for z in shown]
    region = [public("indicator", row) for row in store.region(history, reviews=reviews)]
    return Snapshot(zones=zones, figures=figures, targets=targets, region=region,
                    runs=_runs(history, [*(f for rows in figures.values() for f in rows), *region]),
                    shapes=_shapes(history, [z["zone_id"] for z in shown], zones), published_utc=utc_now(),
                    include_drafts=include_drafts, left_out=len(current) - len(shown))


def _figures(rows: list[Row]) -> list[dict[str, str]]:
    """The zone's figure table: areas, stocks and changes by year, each with its 90 % interval where the store
    has one (`co2e_t` -> `co2e_low_t`, `co2e_high_t`)."""
    by_key = {(r["year"], r["metric"]): r for r in rows}
    picked = sorted((r for r in rows if _group(r["metric"]) is not None),
                    key=lambda r: (r["year"], _group(r["metric"]), r["metric"]))
    return [public("figure", {**r, "label": _label(r["metric"]), "review": REVIEW_TEXT[r["review"]],
                              "low_90": _bound(by_key, r, "low"), "high_90": _bound(by_key, r, "high")})
            for r in picked]


def _group(metric: str) -> int | None:
    if _AREA.match(metric):
        return 0
    if _STOCK.match(metric):
        return 1
    return 2 if metric in _CHANGE else None


def _bound(by_key: dict[tuple[Any, str], Row], row: Row, side: str) -> float | None:
    found = by_key.get((row["year"], f"{row['metric'][:-2]}_{side}_t"))
    return None if found is None else found["value"]


def _label(metric: str) -> str:
    """'森林（乔木林）面积 (ha) / Forest (tree cover) area (ha)', 'total · 碳储量 (t C) / Carbon stock (t C)'."""
    if _AREA.match(metric):
        return f"{class_text(metric[:-3])} (ha)"
    pool, _, figure = metric.rpartition(":")
    zh, en = FIELD_LABELS[figure]
    return f"{pool + ' · ' if pool else ''}{zh} / {en}"


def _serving_run(figures: list[dict[str, str]]) -> str | None:
    """The run serving the zone's latest class area shown (figures are sorted by year)."""
    areas = [f for f in figures if _AREA.match(f["metric"])]
    return areas[-1]["run_id"] if areas else None


def _targets(history: History, zone: Row, figures: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
    """The plan's targets against what was achieved, from the run serving the zone's latest figures shown."""
    run_id = _serving_run(figures[page_name(zone["zone_set"], zone["zone_id"])])
    rows = store.targets(history, zone["zone_id"], run_id) if run_id else []
    return [public("target", row) for row in rows]


def _zone(row: Row, figures: dict[str, list[dict[str, str]]],
          targets: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """A zone's public summary; its plan status as current_zones picks it (the share target's, else the first's),
    from the targets shown; its review draft when any figure shown is a draft's."""
    name = page_name(row["zone_set"], row["zone_id"])
    own = targets[name]
    status = next((t["status"] for t in own if t["metric"] == "share"), own[0]["status"] if own else "")
    drafts = any(f["review"] == REVIEW_TEXT["draft"] for f in figures[name])
    return public("zone", {**row, "page": name, "year": figures[name][-1]["year"] if figures[name] else None,
                           "plan_status": status, "review": REVIEW_TEXT["draft" if drafts else "accepted"]})


def status_text(status: str) -> str:
    zh, en = STATUS_LABELS.get(status, (status, status))
    return f"{zh} {en}" if zh != en else zh


def _runs(history: History, shown: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    used = {row["run_id"] for row in shown}
    return [public("run", row) for row in store.runs(history) if row["run_id"] in used]


def _shapes(history: History, ids: list[str], zones: list[dict[str, str]]) -> dict[str, Any]:
    """The zones shown (by their stored ids) as GeoJSON in WGS 84, simplified as the platform's map draws them,
    with their public fields only."""
    outlines = pages.map_shapes(history)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": zone, "geometry": mapping(outlines[zone_id])}
        for zone_id, zone in zip(ids, zones, strict=True) if zone_id in outlines]}


def store_inputs(target: str) -> list[Path]:
    """The files the publish reads: a GeoPackage store (never inside the folder it replaces)."""
    return [] if "://" in target else [Path(target)]
