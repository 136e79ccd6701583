"""Zone layers as read from GeoPackage, Shapefile or GeoJSON."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from pipeline.errors import MissingCRSError, ZoneError
from pipeline.io.files import require_file


def read_zones(path: Path, *, layer: str | None) -> gpd.GeoDataFrame:
    """A zone layer as read; a missing file, an unreadable file or a missing CRS is an error."""
    require_file(path)
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise ZoneError(f"{path}: not a readable vector file ({exc})") from exc
    if frame.crs is None:
        raise MissingCRSError(f"{path}: the zone layer has no CRS; define it (e.g. ogr2ogr -a_srs EPSG:4326)")
    return frame
