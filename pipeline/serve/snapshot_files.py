"""The public snapshot's files, made in memory from `snapshot.Snapshot` and written through the one writer:
index.html, about.html, one page, PNG chart and CSV per zone, zones.geojson, zones.js and the static files.

Pages are rendered by Django's template engine on its own (no settings, no database), escaping every value; each
page carries the content security policy `default-src 'self'`, so its scripts are files, never inline.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from django.template import Context, Engine

from pipeline.core.literal import csv_text, json_text
from pipeline.files.publish import publish_folder
from pipeline.present.report import chart_style, class_area_chart
from pipeline.serve.history import History
from pipeline.serve.snapshot import PUBLIC, REVIEW_TEXT, Snapshot, read, status_text, store_inputs

_HERE = Path(__file__).parent
STATIC = _HERE / "static" / "serve"
_ENGINE = Engine(dirs=[str(_HERE / "templates")], autoescape=True, debug=False)
# the static files a snapshot carries, by their path in it: the vendored Leaflet and the snapshot's own script
STATIC_FILES: dict[str, Path] = {
    **{f"static/leaflet/{p.relative_to(STATIC / 'leaflet').as_posix()}": p
       for p in sorted((STATIC / "leaflet").rglob("*")) if p.is_file()},
    **{f"static/{name}": STATIC / name for name in ("app.css", "snapshot.css", "snapshot.js", "favicon.svg")},
}
MARKER = ("This folder is a sinkzone public snapshot (sinkzone publish): each publish replaces it whole, keeping "
          "only files it did not write itself.\n")


def publish(target: str, *, out: Path, include_drafts: bool) -> tuple[Path, Snapshot]:
    """The snapshot of the store at `target` written to `out`; the folder and what it shows."""
    shown = read(History(target), include_drafts=include_drafts)
    folder = publish_folder(out, files(shown), copies=STATIC_FILES, inputs=store_inputs(target), marker=MARKER)
    return folder, shown


def files(shown: Snapshot) -> dict[str, bytes]:
    """Every file the snapshot makes, by its path in the folder."""
    common = {"published_utc": shown.published_utc, "include_drafts": shown.include_drafts,
              "accepted": REVIEW_TEXT["accepted"]}
    zones = [{**z, "status_text": status_text(z["plan_status"]) if z["plan_status"] else ""} for z in shown.zones]
    made = {
        "index.html": _render("index", {**common, "root": "", "zones": zones, "region": shown.region,
                                        "left_out": shown.left_out}),
        "about.html": _render("about", {**common, "root": "", "runs": shown.runs}),
        "zones.geojson": json_text(shown.shapes).encode(),
        "zones.js": f'"use strict";\nwindow.SINKZONE_ZONES = {json_text(shown.shapes)};\n'.encode(),
    }
    for zone in zones:
        made.update(_zone_files(zone, shown, common))
    return made


def _zone_files(zone: dict[str, str], shown: Snapshot, common: Mapping[str, Any]) -> dict[str, bytes]:
    name = zone["page"]
    figures = shown.figures[name]
    targets = [{**t, "status_text": status_text(t["status"])} for t in shown.targets[name]]
    return {f"zones/{name}.html": _render("zone", {**common, "root": "../", "zone": zone, "figures": figures,
                                                   "targets": targets}),
            f"zones/{name}.csv": table_csv(figures),
            f"zones/{name}.png": _chart(zone, figures)}


def _render(page: str, context: dict[str, Any]) -> bytes:
    """A page, every value escaped; numbers unlocalised (no Django settings: the engine runs on its own)."""
    template = _ENGINE.get_template(f"snapshot/{page}.html")
    return template.render(Context(context, autoescape=True, use_l10n=False, use_tz=False)).encode()


def table_csv(figures: list[dict[str, str]]) -> bytes:
    """The zone page's figure table as CSV: the same columns, rows and text; a byte-order mark for Excel."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PUBLIC["figure"])
    writer.writerows([csv_text(row[c]) for c in PUBLIC["figure"]] for row in figures)
    return ("\ufeff" + buffer.getvalue()).encode()


def _chart(zone: dict[str, str], figures: list[dict[str, str]]) -> bytes:
    """The zone's class areas by year, from the figures the page shows (nodata left out by the chart)."""
    areas = pd.DataFrame([{"class": f["metric"][:-3], "year": f["year"], "area_ha": float(f["value"])}
                          for f in figures if f["unit"] == "ha"], columns=["class", "year", "area_ha"])
    with chart_style():
        return class_area_chart(areas, title=f"{zone['zone_id']} · {zone['name']}: 地类面积 land-cover area (ha)")
