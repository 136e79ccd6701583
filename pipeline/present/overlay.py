"""A land-cover picture for a web map: each cell in its class colour (the colours of the QGIS raster style,
palette.palette_entries), transparent where there is no data or the code is mapped to no class (as QGIS draws it),
encoded as PNG."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pipeline.core.classmaps import ClassMap
from pipeline.present.palette import palette_entries

Entry = tuple[int, str, str]  # code, colour (#rrggbb), legend label


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _matched(values: NDArray[Any], valid: NDArray[np.bool_], codes: NDArray[np.int64],
             nodata: float | None) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Each cell's position in `codes` (sorted), and whether the cell holds data and one of those codes."""
    at = np.clip(np.searchsorted(codes, values), 0, len(codes) - 1)
    hit = valid & (codes[at] == values)
    return at, hit if nodata is None else hit & (values != nodata)


def painted(values: NDArray[Any], valid: NDArray[np.bool_], class_map: ClassMap, *,
            nodata: float | None = None) -> NDArray[np.uint8]:
    """Rows x columns x RGBA: each valid cell of a mapped code in its colour, the rest transparent; `nodata` is the
    run's own nodata value for the epoch, when its config gave one."""
    entries = palette_entries(class_map)
    codes = np.array([code for code, _, _ in entries], dtype=np.int64)
    colours = np.array([(*_rgb(colour), 255) for _, colour, _ in entries], dtype=np.uint8)
    picture = np.zeros((*values.shape, 4), dtype=np.uint8)
    if len(entries):
        at, hit = _matched(values, valid, codes, nodata)
        picture[hit] = colours[at[hit]]
    return picture


def legend(values: NDArray[Any], valid: NDArray[np.bool_], class_map: ClassMap, *,
           nodata: float | None = None) -> list[Entry]:
    """The (code, colour, label) of each class code the picture shows, in code order."""
    entries = palette_entries(class_map)
    if not entries:
        return []
    codes = np.array([code for code, _, _ in entries], dtype=np.int64)
    at, hit = _matched(values, valid, codes, nodata)
    return [entries[i] for i in np.unique(at[hit]).tolist()]


def png(picture: NDArray[np.uint8]) -> bytes:
    """An RGBA picture as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG", optimize=False)
    return out.getvalue()
