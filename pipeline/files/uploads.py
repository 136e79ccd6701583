"""Boundaries uploaded to the platform's ledgers: a GeoJSON file or a zipped Shapefile, checked before it is read.

An upload comes from anyone with a data-entry login, so it is bounded before any byte is parsed: its size, the
size the zip says it unpacks to (the .xlsx zip-bomb check, `tables.zip_too_large`), and every member's name (an
absolute path or `..` is refused, though only the Shapefile's own parts are ever written, flat, into a private
temporary folder). It is then read by the zone reader (`vectors.read_layer`), so a GBK .dbf without a .cpg is
decoded as it is for zones, and anything but polygons is refused.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path, PurePosixPath

import geopandas as gpd

from pipeline.core.errors import InputError, ZoneError
from pipeline.files.tables import zip_too_large
from pipeline.files.vectors import read_layer, zone_layer_name

MAX_UPLOAD_BYTES = 10 << 20  # a county's demonstration-forest boundaries take kilobytes; a whole county's 小班 a few MB
MAX_UNPACKED_BYTES = 50 << 20
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".cpg", ".prj")
_POLYGONS = ("Polygon", "MultiPolygon")
_GEOJSON_TYPES = ("FeatureCollection", "Feature", "Polygon", "MultiPolygon", "Point", "MultiPoint", "LineString",
                  "MultiLineString", "GeometryCollection")
_WHAT = "uploaded boundary"


def read_boundary(data: bytes, *, name: str) -> gpd.GeoDataFrame:
    """The polygons of an uploaded `name` (.geojson / .json, or .zip holding one Shapefile), in WGS 84."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ZoneError(f"{name}: {len(data):,} bytes, more than the {MAX_UPLOAD_BYTES >> 20} MB an upload may be; "
                        "upload the demonstration forest's own boundary, not a whole layer")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in (".geojson", ".json", ".zip"):
        raise ZoneError(f"{name}: not a .geojson or a .zip (a zipped Shapefile); export the boundary as one of them")
    with tempfile.TemporaryDirectory(prefix="sinkzone-upload-") as folder:
        if suffix == ".zip":
            path = _unzipped_shapefile(data, name=name, folder=Path(folder))
        else:
            path = Path(folder) / "boundary.geojson"
            path.write_bytes(_geojson(data, name=name))
        try:
            frame, _ = read_layer(path, layer=None, encoding=None, what=_WHAT, error=ZoneError, pick=zone_layer_name,
                                  encoding_flag="a .cpg file in the zip naming the encoding (e.g. GBK)")
        except InputError as exc:  # named as the user knows it, not by the private scratch copy
            raise ZoneError(str(exc).replace(str(path), name)) from exc
    return _polygons(frame, name=name).to_crs(4326)


def _geojson(data: bytes, *, name: str) -> bytes:
    """The upload when it is GeoJSON text: GDAL picks a driver by a file's content, not its name, so anything else
    (a VRT pointing at files on the server, say) must not reach it under a .geojson name."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ZoneError(f"{name}: not GeoJSON text ({exc}); export the boundary as GeoJSON") from exc
    if not isinstance(parsed, dict) or parsed.get("type") not in _GEOJSON_TYPES:
        raise ZoneError(f"{name}: not a GeoJSON FeatureCollection, Feature or geometry; export the boundary as GeoJSON")
    return data


def _unzipped_shapefile(data: bytes, *, name: str, folder: Path) -> Path:
    """The one Shapefile in the zip, its parts written flat into `folder`, after the zip's checks."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ZoneError(f"{name}: not a readable zip ({exc}); zip the Shapefile's .shp, .shx, .dbf and .prj") from exc
    with archive:
        members = archive.infolist()
        sizes = zip_too_large(members, limit=MAX_UNPACKED_BYTES)
        if sizes:
            raise ZoneError(f"{name}: unpacks to {sizes[0]:,} bytes from {sizes[1]:,} (more than "
                            f"{MAX_UNPACKED_BYTES >> 20} MB, or packed like a zip bomb); not read")
        unsafe = [m.filename for m in members if _unsafe(m.filename)]
        if unsafe:
            raise ZoneError(f"{name}: members with a path outside the zip: {', '.join(unsafe)}; zip the Shapefile's "
                            "files alone, without folders above them")
        parts = [m for m in members if PurePosixPath(m.filename).suffix.lower() in _SHAPEFILE_PARTS]
        shps = [m.filename for m in parts if m.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            raise ZoneError(f"{name}: holds {len(shps)} Shapefiles ({', '.join(shps) or 'no .shp'}); upload one")
        stem = PurePosixPath(shps[0]).with_suffix("").as_posix()
        for member in parts:
            if PurePosixPath(member.filename).with_suffix("").as_posix() == stem:
                suffix = PurePosixPath(member.filename).suffix.lower()
                # read no more than the directory promised: a member whose header lies stops at the limit
                (folder / f"boundary{suffix}").write_bytes(archive.open(member).read(MAX_UNPACKED_BYTES + 1))
    return folder / "boundary.shp"


def _unsafe(member: str) -> bool:
    path = PurePosixPath(member.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or ":" in member


def _polygons(frame: gpd.GeoDataFrame, *, name: str) -> gpd.GeoDataFrame:
    kinds = sorted({str(kind) for kind in frame.geometry.geom_type.dropna()} - set(_POLYGONS))
    if frame.empty or kinds or frame.geometry.isna().any():
        found = ", ".join(kinds) if kinds else "no geometry"
        raise ZoneError(f"{name}: holds {found}, not polygons; upload the demonstration forest's boundary polygons")
    return frame
