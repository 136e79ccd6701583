"""Storage layouts that make chunked reading slow, told apart from the header alone.

GDAL decodes whole storage blocks. When one block holds a large part of the raster (an untiled file
written as one strip, or a single huge tile), every chunk that touches it decodes all of it again, and
chunks cannot be smaller than a block, so time and memory grow with the block, not with the chunk.
"""

from __future__ import annotations

MAX_BLOCK_CELLS = 1 << 24  # a 4096 x 4096 block: larger ones cost more than the zonal work itself


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
