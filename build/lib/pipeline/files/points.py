"""Sample points for accuracy assessment: read (GeoPackage or any vector file, or CSV with WGS84 lon/lat),
the raster value under each point, and the files an interpreter works in (GeoPackage, CSV, KML)."""

from __future__ import annotations

import warnings
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.errors import InputError
from pipeline.files.paths import require_file
from pipeline.files.rasters import WindowSource, read_window
from pipeline.files.vectors import point_layer_name, read_layer

WGS84 = "EPSG:4326"
SAMPLE_LAYER = "samples"


def read_points(path: Path, *, layer: str | None) -> gpd.GeoDataFrame:
    """Sample points as read: a CSV needs `lon` and `lat` columns (WGS84 degrees), other files a CRS."""
    if path.suffix.lower() == ".csv":
        require_file(path)
        return _points_from_csv(path)
    frame, _ = read_layer(path, layer=layer, encoding=None, what="sample layer", error=InputError,
                          encoding_flag="the file's .cpg (a text file naming its encoding, e.g. GBK)",
                          pick=point_layer_name)
    return frame


def _points_from_csv(path: Path) -> gpd.GeoDataFrame:
    try:
        table = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable CSV of sample points ({exc})") from exc
    missing = [c for c in ("lon", "lat") if c not in table.columns]
    if missing:
        raise InputError(f"{path}: a CSV of sample points needs columns lon and lat (WGS84 degrees); "
                         f"it lacks {missing} and has {list(table.columns)}")
    lon, lat = pd.to_numeric(table["lon"], errors="coerce"), pd.to_numeric(table["lat"], errors="coerce")
    bad = np.flatnonzero((lon.isna() | lat.isna() | (lon.abs() > 180) | (lat.abs() > 90)).to_numpy())
    if len(bad):
        raise InputError(f"{path}: lines {[int(i) + 2 for i in bad[:10]]} have no valid lon/lat in degrees")
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def values_at_cells(source: WindowSource, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.int64]:
    """The raster value of each (row, col) cell, one window per row band the points touch.

    Points are read row by row over the span of columns they use, so a sample of a few thousand points
    costs a few thousand small windowed reads, never the whole raster.
    """
    values = np.zeros(len(rows), dtype=np.int64)
    for row in np.unique(rows):
        at = np.flatnonzero(rows == row)
        first, last = int(cols[at].min()), int(cols[at].max())
        line = read_window(source, int(row), first, 1, last - first + 1)[0]
        values[at] = line[cols[at] - first]
    return values


def write_samples(folder: Path, stem: str, points: gpd.GeoDataFrame) -> list[Path]:
    """The sample as `stem.gpkg` (the points' CRS), `stem.csv` (WGS84 lon, lat) and `stem.kml` (Google Earth)."""
    folder.mkdir(parents=True, exist_ok=True)
    gpkg, csv, kml = (folder / f"{stem}{ext}" for ext in (".gpkg", ".csv", ".kml"))
    for path in (gpkg, csv, kml):
        path.unlink(missing_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        points.to_file(gpkg, layer=SAMPLE_LAYER, driver="GPKG", engine="pyogrio")
    wgs = points.to_crs(WGS84)
    table = pd.DataFrame(wgs.drop(columns=wgs.geometry.name))
    table["lon"], table["lat"] = wgs.geometry.x.round(8), wgs.geometry.y.round(8)
    table.to_csv(csv, index=False, encoding="utf-8")
    kml.write_text(kml_document(table, name=stem), encoding="utf-8")
    return [gpkg, csv, kml]


def kml_document(table: pd.DataFrame, *, name: str) -> str:
    """One KML Placemark per row (lon/lat columns), every other column as ExtendedData, text escaped."""
    fields = [c for c in table.columns if c not in ("lon", "lat")]
    marks = []
    for record in table.to_dict("records"):
        data = "".join(f'<Data name="{escape(f)}"><value>{escape(_text(record[f]))}</value></Data>' for f in fields)
        marks.append(f"<Placemark><name>{escape(_text(record.get('sample_id', '')))}</name>"
                     f"<ExtendedData>{data}</ExtendedData>"
                     f"<Point><coordinates>{record['lon']},{record['lat']}</coordinates></Point></Placemark>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"<name>{escape(name)}</name>{''.join(marks)}</Document></kml>\n")


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

