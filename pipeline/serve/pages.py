"""What each page shows, as plain data: the HTML page, its JSON twin under /api/v1/ and its CSV download are
all made from the same dictionaries, so they cannot disagree."""

from __future__ import annotations

from typing import Any

from shapely.geometry import mapping

from pipeline.core.literal import is_missing
from pipeline.serve import alerts
from pipeline.serve import history as store
from pipeline.serve.history import History, Row

MAP_TOLERANCE_DEG = 1e-4  # about 10 m: simplified for the browser; the figures come from the exact boundaries
LATEST_RUNS = 5
_ZONE_FIELDS = ("zone_set", "zone_id", "name", "zone_version", "area_ha", "year", "run_id", "review", "plan_status")


def number(value: object) -> str:
    """A figure as the page, the JSON and the CSV all show it: four decimals (1 m² in hectares), or blank."""
    if is_missing(value):
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _zone_summary(row: Row) -> dict[str, Any]:
    return {key: row.get(key) for key in _ZONE_FIELDS}


def overview(history: History) -> dict[str, Any]:
    return {"zones": [_zone_summary(row) for row in store.zones(history)],
            "region": store.region(history),
            "latest_runs": store.runs(history)[:LATEST_RUNS],
            "open_alerts": [a for a in alerts.alerts(history) if a["state"] == "open"]}


def zone_shapes(history: History, zone_id: str | None = None) -> dict[str, Any]:
    """The current zones (or one) as GeoJSON in WGS 84, simplified for the map."""
    rows = store.zones(history) if zone_id is None else [z for z in [store.zone(history, zone_id)] if z]
    shapes = store.shapes(history, zone_id)
    features = [{"type": "Feature", "properties": _zone_summary(row),
                 "geometry": mapping(shapes[row["zone_id"]].simplify(MAP_TOLERANCE_DEG, preserve_topology=True))}
                for row in rows if shapes.get(row["zone_id"]) is not None]
    return {"type": "FeatureCollection", "features": features}


def zone(history: History, zone_id: str, *, sort: str) -> dict[str, Any] | None:
    row = store.zone(history, zone_id)
    if row is None:
        return None
    series = [{**r, "value": number(r["value"])} for r in store.series(history, zone_id, sort=sort)]
    targets = [{k: number(v) if isinstance(v, float) else v for k, v in r.items()}
               for r in store.targets(history, zone_id, row.get("run_id"))]
    return {"zone": _zone_summary(row), "series": series, "targets": targets,
            "versions": store.versions(history, zone_id)}


def run(history: History, run_id: str) -> dict[str, Any] | None:
    found = store.run(history, run_id)
    if found is None:
        return None
    changes = store.diff_previous(history, run_id)
    if changes is not None:
        changes["figures"] = [{k: number(v) if isinstance(v, float) else v for k, v in row.items()}
                              for row in changes["figures"]]
    return {**found, "epochs": store.epochs(history, run_id), "diff": changes}
