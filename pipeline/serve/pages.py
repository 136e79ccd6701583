"""What each page shows, as plain data: the HTML page, its JSON twin under /api/v1/ and its CSV download are
all made from the same dictionaries, so they cannot disagree. Nothing here needs the platform's own database (the
alerts are added by views.py), so `sinkzone publish` (serve/snapshot.py) reads the store through the same code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import mapping

from pipeline.core.literal import is_missing
from pipeline.serve import history as store
from pipeline.serve.history import History, Row

MAP_TOLERANCE_DEG = 1e-4  # about 10 m: simplified for the browser; the figures come from the exact boundaries
# the most zones one map answer draws, the largest in view first (40,000 parcels would be tens of MB); zooming in
# shows the rest, each boundary simplified to about a screen pixel at that zoom
MAP_FEATURES = 2000
ZONES_PER_PAGE = 100  # rows of the overview's zone table (all zones: /api/v1/zones)
LATEST_RUNS = 5
_ZONE_FIELDS = ("zone_set", "zone_id", "name", "zone_version", "area_ha", "year", "run_id", "review", "plan_status")


def number(value: object) -> str:
    """A figure as the page, the JSON and the CSV all show it: four decimals (1 m² in hectares), or blank."""
    if is_missing(value):
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _zone_summary(row: Row) -> dict[str, Any]:
    return {key: row.get(key) for key in _ZONE_FIELDS}


def overview(history: History, *, page: int = 1) -> dict[str, Any]:
    """The overview with one page of the zone table; `bounds` (west, south, east, north) frames the map."""
    zones = store.zones(history)
    pages = max(1, -(-len(zones) // ZONES_PER_PAGE))
    page = min(max(page, 1), pages)
    shown = zones[(page - 1) * ZONES_PER_PAGE:page * ZONES_PER_PAGE]
    return {"zones": [_zone_summary(row) for row in shown], "zone_count": len(zones), "page": page, "pages": pages,
            "bounds": store.remembered(history, "map bounds", lambda: _bounds(map_shapes(history))),
            "region": store.region(history),
            "latest_runs": store.runs(history)[:LATEST_RUNS]}


def _bounds(outlines: dict[str, Any]) -> list[float] | None:
    return [float(v) for v in shapely.total_bounds(list(outlines.values()))] if outlines else None


def map_shapes(history: History) -> dict[str, Any]:
    """Each current zone's boundary (WGS 84) simplified for the map, read once per store state."""
    return store.remembered(history, "map shapes", lambda: {
        zone_id: shape.simplify(MAP_TOLERANCE_DEG, preserve_topology=True)
        for zone_id, shape in store.shapes(history).items() if shape is not None})


def zone_shapes(history: History, zone_id: str | None = None, *,
                bbox: tuple[float, float, float, float] | None = None, zoom: int | None = None) -> dict[str, Any]:
    """The current zones (or one) as GeoJSON in WGS 84: those meeting `bbox` (west, south, east, north), at most
    MAP_FEATURES of them, the largest first, simplified to a pixel at `zoom`; `left_out` counts the rest in view."""
    rows, bounds = store.remembered(history, "map index", lambda: _map_index(history))
    if zone_id is not None:
        meets = np.array([row["zone_id"] == zone_id for row in rows], dtype=bool)
    elif bbox is not None:
        meets = ((bounds[:, 0] <= bbox[2]) & (bounds[:, 2] >= bbox[0]) & (bounds[:, 1] <= bbox[3])
                 & (bounds[:, 3] >= bbox[1]))
    else:
        meets = np.ones(len(rows), dtype=bool)
    shown = np.flatnonzero(meets)
    # a pixel of a 256-pixel web map tile at this zoom, in degrees of longitude
    tolerance = MAP_TOLERANCE_DEG if zoom is None else max(MAP_TOLERANCE_DEG, 360.0 / (256 * 2.0 ** zoom))
    # each feature made once per store state and tolerance, when a map first asks for it
    made: dict[str, dict[str, Any]] = store.remembered(history, ("map features", tolerance), dict)
    outlines = map_shapes(history)
    features = [made.get(rows[i]["zone_id"]) or made.setdefault(rows[i]["zone_id"], _feature(
        rows[i], outlines[rows[i]["zone_id"]], tolerance)) for i in shown[:MAP_FEATURES]]
    return {"type": "FeatureCollection", "features": features, "left_out": max(0, len(shown) - MAP_FEATURES)}


def _map_index(history: History) -> tuple[list[Row], NDArray[np.float64]]:
    """The zones that have an outline, the largest first, and their outlines' bounds (one row each)."""
    outlines = map_shapes(history)
    rows = sorted((row for row in store.zones(history) if row["zone_id"] in outlines),
                  key=lambda row: -(row["area_ha"] or 0.0))
    bounds = shapely.bounds([outlines[row["zone_id"]] for row in rows]) if rows else np.empty((0, 4))
    return rows, bounds


def _feature(row: Row, outline: Any, tolerance: float) -> dict[str, Any]:
    shape = outline if tolerance <= MAP_TOLERANCE_DEG else outline.simplify(tolerance, preserve_topology=True)
    return {"type": "Feature", "properties": _zone_summary(row), "geometry": mapping(shape)}


def zone(history: History, zone_id: str, *, sort: str) -> dict[str, Any] | None:
    row = store.zone(history, zone_id)
    if row is None:
        return None
    series = [{**r, "value": number(r["value"])} for r in store.series(history, zone_id, sort=sort)]
    targets = [{k: number(v) if isinstance(v, float) else v for k, v in r.items()}
               for r in store.targets(history, zone_id, row.get("run_id"))]
    return {"zone": _zone_summary(row), "series": series, "targets": targets,
            "versions": store.versions(history, zone_id)}


def runs(history: History) -> dict[str, Any]:
    """Every run, newest first, and the newest batch attempts (whether the schedule is working)."""
    return {"runs": store.runs(history), "attempts": store.recent_attempts(history)}


def series_table(series: list[Row]) -> pd.DataFrame:
    """The zone page's series rows as a table of its columns, each figure the number the page prints (four
    decimals), so a workbook holds what the page and the CSV show."""
    table = pd.DataFrame(series, columns=list(store.SERIES_COLUMNS))
    table["value"] = pd.to_numeric(table["value"].replace("", None), errors="raise").astype("float64")
    return table


def run(history: History, run_id: str) -> dict[str, Any] | None:
    found = store.run(history, run_id)
    if found is None:
        return None
    changes = store.diff_previous(history, run_id)
    if changes is not None:
        changes["figures"] = [{k: number(v) if isinstance(v, float) else v for k, v in row.items()}
                              for row in changes["figures"]]
    return {**found, "epochs": store.epochs(history, run_id), "diff": changes}
