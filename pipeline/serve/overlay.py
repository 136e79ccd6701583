"""The zone page's land-cover overlay: for each year of the zone's figures, the land-cover file the serving run read
(as the store records it), around the zone, warped to the web map's projection and painted in the class colours of
the run's QGIS style. Nothing is recomputed: a picture only.

The store records each file's absolute path (a config's relative paths are made absolute against the config's
folder when it is read, command-line paths against the working folder), so what the server's own working folder is
does not matter. A file moved, deleted or on another machine leaves a note naming it instead of a picture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.urls import reverse

from pipeline.core.classmaps import ClassMap
from pipeline.core.errors import PlatformError, SinkzoneError
from pipeline.files.rasters import MercatorPicture, read_web_mercator
from pipeline.inputs.run_config import load_class_map
from pipeline.present import overlay as paint
from pipeline.serve import history as store
from pipeline.serve.history import History, Row

MAX_SIDE = 1024  # pixels on the picture's long side: a zone of 小班 size shows its cells, a county stays light
MARGIN = 0.1  # of the zone's larger side, shown around it


@dataclass(frozen=True)
class Overlay:
    picture: MercatorPicture
    class_map: ClassMap
    nodata: float | None  # the run config's own nodata value for the epoch, if it gave one

    def legend(self) -> list[paint.Entry]:
        return paint.legend(self.picture.values, self.picture.valid, self.class_map, nodata=self.nodata)

    def png(self) -> bytes:
        return paint.png(paint.painted(self.picture.values, self.picture.valid, self.class_map, nodata=self.nodata))


def _epochs(history: History, zone_id: str) -> dict[int, Row]:
    return {int(row["year"]): row for row in store.landcover_epochs(history, zone_id)}


def _around(history: History, zone_id: str) -> tuple[float, float, float, float] | None:
    """The zone's bounds (degrees) with a margin; None for a zone without a boundary."""
    shape = store.shapes(history, zone_id).get(zone_id)
    if shape is None or shape.is_empty:
        return None
    west, south, east, north = shape.bounds
    pad = MARGIN * max(east - west, north - south)
    return west - pad, south - pad, east + pad, north + pad


def _epoch_entry(epoch: Row) -> dict[str, Any]:
    """The run config's land-cover entry for the epoch's year (its nodata override), or none."""
    entries = (epoch["config"] or {}).get("landcover") or []
    return next((e for e in entries if isinstance(e, dict) and e.get("year") == epoch["year"]), {})


def _drawn(epoch: Row, bounds: tuple[float, float, float, float]) -> Overlay:
    path = Path(str(epoch["path"]))
    if not path.is_absolute():
        raise PlatformError(f"{path}: recorded as a relative path, so the folder it was relative to is unknown")
    picture = read_web_mercator(path, bounds=bounds, max_side=MAX_SIDE)
    classes = (epoch["config"] or {}).get("classes")
    if not isinstance(classes, str):
        raise PlatformError(f"run {epoch['run_id']} recorded no class map, so its classes have no colours")
    return Overlay(picture=picture, class_map=load_class_map(classes), nodata=_epoch_entry(epoch).get("nodata"))


def drawn(history: History, zone_id: str, year: int) -> Overlay | None:
    """The zone's land cover of `year` as a picture; None when the zone has no figures of that year. A file that
    cannot be read raises (a SinkzoneError naming it)."""
    epoch, bounds = _epochs(history, zone_id).get(year), _around(history, zone_id)
    return None if epoch is None or bounds is None else _drawn(epoch, bounds)


def _shown(zone_id: str, epoch: Row, bounds: tuple[float, float, float, float]) -> dict[str, Any]:
    """What the page shows for one epoch: the picture's address, corners and legend, or a note."""
    year = int(epoch["year"])
    try:
        found = _drawn(epoch, bounds)
    except SinkzoneError as exc:  # the note names the path once: messages about a file start with it
        return {"year": year, "path": str(epoch["path"]), "problem": str(exc).removeprefix(f"{epoch['path']}: ")}
    west, south, east, north = found.picture.bounds
    return {"year": year, "url": reverse("zone_landcover", kwargs={"zone_id": zone_id, "year": year}),
            "corners": [[south, west], [north, east]], "legend": found.legend()}


def for_page(history: History, zone_id: str) -> list[dict[str, Any]]:
    """The zone's epochs, oldest first, each as `_shown` gives it."""
    epochs, bounds = _epochs(history, zone_id), _around(history, zone_id)
    if bounds is None:
        return []
    return [_shown(zone_id, epoch, bounds) for epoch in epochs.values()]
