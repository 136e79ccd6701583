"""Land-cover epochs: headers checked against each other, nodata, codes the class map lacks, slow layouts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.core.classmaps import ClassMap
from pipeline.core.config import Epoch, RunConfig
from pipeline.core.errors import SinkzoneError
from pipeline.files.rasters import RasterInfo, check_readable, raster_info

_FILL_LIKE = frozenset({0, 255, 65535, -9999, -32768, -128, 127, 32767})
MAX_BLOCK_CELLS = 1 << 24  # a 4096 x 4096 block: larger ones cost more than the zonal work itself


def epoch_nodata(epoch: Epoch, info: RasterInfo) -> float | None:
    """The epoch's nodata: the config's `nodata:` when given (CLCD files often omit it), else the file's."""
    return epoch.nodata if epoch.nodata is not None else info.nodata


def _check_raster(epoch: Epoch, info: RasterInfo, first: RasterInfo | None) -> list[str]:
    problems = []
    if not np.issubdtype(np.dtype(info.dtype), np.integer):
        problems.append(f"{epoch.path}: land cover must hold integer class codes, but the raster is "
                        f"{info.dtype}; "
                        "give the classified land-cover map (if its values are whole numbers, convert it: "
                        "gdal_translate -ot Int16)")
    if info.band_count > 1:
        problems.append(f"{epoch.path}: the raster has {info.band_count} bands, and land cover is one band of "
                        "class codes; write the band that holds them to its own file "
                        "(gdal_translate -b 1 in.tif out.tif) and give that file")
    if first is not None and info.grid != first.grid:
        problems.append(f"{epoch.path}: its grid differs from {first.path} (CRS, extent or cell size); "
                        "all epochs must share one grid, so warp them (nearest neighbour) to one grid first")
    return problems


def read_rasters(config: RunConfig, problems: list[str]) -> list[RasterInfo]:
    """Every epoch's header, checked against the first; problems are collected, not raised."""
    infos: list[RasterInfo] = []
    for epoch in config.landcover:
        try:
            info = raster_info(epoch.path)
        except SinkzoneError as exc:
            problems.append(str(exc))
            continue
        problems.extend(_check_raster(epoch, info, infos[0] if infos else None))
        infos.append(info)
    return infos


def nodata_clashes(config: RunConfig, infos: Sequence[RasterInfo], class_map: ClassMap) -> list[str]:
    """Epochs whose nodata is a code of a real class: every cell of that class would vanish silently."""
    classes = class_map.code_to_class()
    problems = []
    for epoch, info in zip(config.landcover, infos, strict=False):
        nodata = epoch_nodata(epoch, info)
        if nodata is None or not float(nodata).is_integer() or int(nodata) not in classes:
            continue
        code = int(nodata)
        whose = "the config's `nodata:`" if epoch.nodata is not None else "the raster's declared nodata"
        problems.append(f"{epoch.path}: {whose} is {code}, which is the code of class {classes[code]!r} in class "
                        f"map {class_map.name!r}, so that class would vanish from every zone; set `nodata:` on "
                        "this epoch to the real fill value, or fix the file's nodata "
                        f"(gdal_edit.py -a_nodata <fill> or -unsetnodata)")
    return problems


def version_notes(config: RunConfig) -> list[str]:
    tags = {(e.product, e.version) for e in config.landcover if e.version is not None}
    if len(tags) > 1:
        listed = ", ".join(f"{e.year}: {e.product} {e.version}" for e in config.landcover)
        return [f"epochs come from different product versions ({listed}); part of their difference is a "
                "change of method, not of land"]
    return []


def deep_checks(config: RunConfig, infos: Sequence[RasterInfo], class_map: ClassMap | None,
                problems: list[str]) -> list[str]:
    """Decode every block of every readable raster; note the codes the class map lacks."""
    notes = []
    for info in infos:
        try:
            counts = check_readable(info.path)
        except SinkzoneError as exc:
            problems.append(str(exc))
            continue
        epoch = next(e for e in config.landcover if e.path == info.path)
        if class_map is not None:
            notes.extend(_unmapped_note(epoch, info, counts, class_map))
    return notes


def _unmapped_note(epoch: Epoch, info: RasterInfo, counts: dict[int, int], class_map: ClassMap) -> list[str]:
    known = set(class_map.code_to_class()) | set(class_map.nodata_codes)
    nodata = epoch_nodata(epoch, info)
    missing = {c: n for c, n in counts.items() if c not in known and c != nodata}
    if not missing:
        return []
    listed = ", ".join(f"{c} ({n:,} cells)" for c, n in sorted(missing.items())[:20])
    return [f"{epoch.path}: codes not in class map {class_map.name!r}: {listed}; the run stops if any of "
            f"them lies inside a zone.{nodata_hint(sorted(missing), declared=nodata is not None)}"]


def nodata_hint(codes: Sequence[int], *, declared: bool) -> str:
    """Advice when unmapped codes look like undeclared fill around the data."""
    fill = [c for c in codes if c in _FILL_LIKE]
    if declared or not fill:
        return ""
    return (f" The raster declares no nodata: if {fill[0]} is fill around the data, set `nodata: {fill[0]}` "
            "for this epoch in the config")


def layout_notes(infos: Sequence[RasterInfo]) -> list[str]:
    notes = (slow_layout_note(str(info.path), info.block_shape, info.grid.shape) for info in infos)
    return [note for note in notes if note is not None]


# GDAL decodes whole storage blocks. When one block holds a large part of the raster (an untiled file
# written as one strip, or a single huge tile), every chunk that touches it decodes all of it again, and
# chunks cannot be smaller than a block, so time and memory grow with the block, not with the chunk.
def slow_layout_note(
    source: str,
    block_shape: tuple[int, int],
    shape: tuple[int, int],
    *,
    max_block_cells: int = MAX_BLOCK_CELLS,
) -> str | None:
    """A warning for a raster whose storage blocks are too large to read chunk by chunk, else None."""
    block_rows, block_cols = block_shape
    height, width = shape
    if block_rows * block_cols <= max_block_cells:
        return None
    if block_rows >= height and block_cols >= width:
        kind = "a single block"
    elif block_cols >= width:
        kind = f"strips of {block_rows} rows x the full width"
    else:
        kind = f"blocks of {block_rows} x {block_cols} cells"
    return (
        f"{source}: stored as {kind} ({block_rows * block_cols:,} cells each); every chunk decodes a whole "
        "block, so reading is slow and memory grows with the block. Rewrite it tiled: gdal_translate "
        "-co TILED=YES -co BLOCKXSIZE=512 -co BLOCKYSIZE=512 -co COMPRESS=DEFLATE in.tif out.tif"
    )
