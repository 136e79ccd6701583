"""Zone layers as read from GeoPackage, Shapefile or GeoJSON, as bureaus keep them.

A Shapefile's attribute text (.dbf) carries no reliable encoding: most exported from an older ArcGIS
in China are GBK with no .cpg file, and GDAL then reads them as Latin-1 (mojibake, without a word).
So the encoding is settled here and handed to GDAL: zones.encoding when given; else the .cpg; else the
.dbf's language-driver byte (byte 29, e.g. 0x4D = code page 936, GBK); and when neither settles it,
or what it says cannot decode the text, UTF-8 if the text is valid UTF-8, else GB18030 with a note.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pyogrio

from pipeline.core.errors import InputError, MissingCRSError, ZoneError
from pipeline.files.paths import require_file

# .dbf language-driver ids that name one code page; 0x00 and 0x57 ("ANSI": whatever the exporting
# Windows used, GBK on a Chinese one) name none (ESRI / dBase language driver table).
_LANGUAGE_DRIVERS = {0x01: "cp437", 0x02: "cp850", 0x03: "cp1252", 0x13: "cp932", 0x4D: "gbk", 0x4E: "cp949",
                     0x4F: "big5", 0x58: "cp1252", 0x59: "cp1252", 0x64: "cp852", 0x65: "cp866", 0x78: "big5",
                     0x79: "cp949", 0x7A: "gbk", 0x7B: "cp932", 0xC8: "cp1250", 0xC9: "cp1251"}
_LINE_TYPES = ("Point", "LineString")


def _sidecar(shp: Path, suffix: str) -> Path | None:
    """A Shapefile's .dbf or .cpg, whatever the case of its suffix."""
    for candidate in (shp.with_suffix(suffix), shp.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def _dbf_text(dbf: Path) -> tuple[bytes, int]:
    """The field names and records of a .dbf (the bytes an encoding must decode), and its language-driver id."""
    data = dbf.read_bytes()
    if len(data) < 32:
        return b"", 0
    count, header_len, record_len = struct.unpack("<IHH", data[4:12])
    names = [data[at:at + 11].split(b"\0")[0] for at in range(32, header_len - 1, 32) if data[at] != 0x0D]
    return b"\n".join(names) + data[header_len:header_len + count * record_len], data[29]


def _codec(name: str) -> str | None:
    """A .cpg's text as a Python codec: 'UTF-8', 'GBK', '936', 'ANSI 936', 'CP936' ...; None when unknown."""
    text = name.strip().upper().removeprefix("ANSI").strip()
    text = {"65001": "utf-8"}.get(text, f"cp{text}" if text.isdigit() else text)
    try:
        return codecs.lookup(text).name
    except LookupError:
        return None


def _decodes(raw: bytes, codec: str) -> bool:
    try:
        raw.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def shapefile_encoding(shp: Path) -> tuple[str | None, list[str]]:
    """The codec of a Shapefile's attribute text, and notes on how it was settled (None: no .dbf)."""
    dbf = _sidecar(shp, ".dbf")
    if dbf is None:
        return None, []
    raw, driver = _dbf_text(dbf)
    cpg = _sidecar(shp, ".cpg")
    said = (_codec(cpg.read_text(encoding="ascii", errors="replace")), f"its .cpg file {cpg.name}") if cpg \
        else (_LANGUAGE_DRIVERS.get(driver), f"its .dbf language-driver byte 0x{driver:02X}")
    codec, where = said
    if codec is not None and _decodes(raw, codec):
        return codec, []
    doubt = f"{where} says {codec}, but the text is not valid {codec}; " if codec else ""
    if _decodes(raw, "utf-8"):
        return "utf-8", [f"{shp}: {doubt}read its attributes as UTF-8"] if doubt else []
    if _decodes(raw, "gb18030"):
        return "gb18030", [f"{shp}: {doubt or 'no .cpg file names its text encoding and the text is not UTF-8; '}"
                           "read its attributes as GB18030 (GBK). Check the names in the output; if they are "
                           "wrong, set zones.encoding (or --zones-encoding) to the right encoding"]
    raise ZoneError(f"{shp}: cannot tell the text encoding of {dbf.name} (not UTF-8, not GB18030); set "
                    "zones.encoding (or --zones-encoding), e.g. Big5 or CP1252")


def _only_layer(path: Path, layer: str | None, *, keep: Callable[[str], bool], kind: str, error: type[InputError],
                what: str) -> str | None:
    """The layer to read: the named one, else the only layer of its kind; several of that kind are refused, since
    a file's first layer is as often an old draft or an unlabelled copy as the one meant."""
    if layer is not None:
        return layer
    found = [str(name) for name, geometry in pyogrio.list_layers(path) if keep(str(geometry))]
    if len(found) > 1:
        raise error(f"{path}: holds {len(found)} {kind} layers: {', '.join(found)}; say which holds {what}")
    return found[0] if found else None


def zone_layer_name(path: Path, layer: str | None) -> str | None:
    """The layer to read: the named one, else the only polygon layer; several polygon layers are refused."""
    return _only_layer(path, layer, keep=lambda g: g != "None" and not any(t in g for t in _LINE_TYPES),
                       kind="polygon", error=ZoneError,
                       what="the zones with zones.layer in the config (or --zones-layer)")


def point_layer_name(path: Path, layer: str | None) -> str | None:
    """The layer to read: the named one, else the only point layer; several point layers are refused."""
    return _only_layer(path, layer, keep=lambda g: "Point" in g, kind="point", error=InputError,
                       what="the labelled sample points with accuracy.layer in the config")


def read_zones(path: Path, *, layer: str | None, encoding: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """A zone layer as read, with notes on how its text was decoded; a missing file, an unreadable file,
    a missing CRS or an unnamed layer among several polygon layers is an error."""
    return read_layer(path, layer=layer, encoding=encoding, what="zone layer", error=ZoneError,
                      pick=zone_layer_name, encoding_flag="zones.encoding (or --zones-encoding)")


def read_layer(path: Path, *, layer: str | None, encoding: str | None, what: str, error: type[InputError],
               encoding_flag: str, pick: Callable[[Path, str | None], str | None] = lambda _, name: name,
               ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """A vector layer as read (Shapefile text decoded as `shapefile_encoding` settles it), with notes.

    `pick` chooses the layer to read from the one asked for; `error` is the error type raised for `what`.
    """
    require_file(path)
    notes: list[str] = []
    try:
        if path.suffix.lower() == ".shp" and encoding is None:
            encoding, notes = shapefile_encoding(path)
        frame = gpd.read_file(path, layer=pick(path, layer), encoding=encoding)
    except UnicodeDecodeError as exc:
        raise error(f"{path}: its text is not {encoding} ({exc}); set {encoding_flag} to the encoding it was "
                    "written in, e.g. GBK or UTF-8") from exc
    except InputError:
        raise
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise error(f"{path}: not a readable vector file ({exc})") from exc
    if frame.crs is None:
        raise MissingCRSError(f"{path}: the {what} has no CRS; define it (e.g. ogr2ogr -a_srs EPSG:4326)")
    return frame, notes
