"""Generate the benchmark case deterministically: CLCD-coded annual land cover near Baotou, and zones.

Like issue 14's case: uint8 GeoTIFFs in EPSG:4326 with 1 arc-second cells (CLCD's 30 m), tiled
256 x 256 and DEFLATE-compressed, 12288 x 12288 cells (151 M), and 2,022 zones (22 districts tiling
the area, 2,000 parcels on top of them).

The first epoch is smoothed value noise (bilinear upsampling of seeded coarse grids, several octaves)
cut at quantiles matching a Baotou-like class mix. Every later epoch is that base with a seeded
perturbation: patches of change (a smooth per-epoch field over a threshold) move to a successor
class, and a sprinkle of single cells is reclassified at random, like annual products' noise. Each
epoch costs one read of the base plus cheap per-band arithmetic, so twenty epochs stay affordable;
rows are generated one band of blocks at a time, so memory stays bounded whatever the size.

Also written: the multi-band VRTs (epochs as bands) that exactextract reads in one call, and a tile
mosaic of the first epoch (copies moved east and south) for the memory-versus-raster-size row.

    python bench/make_case.py --out bench/work --size 12288 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.transform import from_origin
from rasterio.windows import Window

CELL_DEG = 1.0 / 3600.0  # 1 arc-second, about CLCD's 30 m
WEST, NORTH = 109.6, 41.35  # Baotou
BLOCK = 256
FIRST_YEAR = 2004
# CLCD codes (1 cropland, 2 forest, 3 shrub, 4 grassland, 5 water, 7 barren, 8 impervious, 9 wetland)
# and a Baotou-like share of each: grassland and barren steppe dominate.
CLASS_SHARES = ((4, 0.45), (7, 0.14), (1, 0.18), (2, 0.08), (3, 0.04), (8, 0.05), (5, 0.03), (9, 0.03))
# Where a patch of change lands, the class it becomes (afforestation, urban growth, re-greening ...).
SUCCESSOR = {1: 8, 2: 3, 3: 2, 4: 2, 5: 9, 7: 4, 8: 8, 9: 5}
OCTAVES = ((2048, 1.0), (512, 0.55), (128, 0.3), (32, 0.18), (8, 0.08))
CHANGE_OCTAVES = ((256, 1.0), (64, 0.5))
CHANGE_SHARE = 0.04  # of cells in a patch of change, per epoch
RECLASSIFIED = 0.01  # of cells reclassified at random, per epoch
NODATA = 0
SPECKLE = 0.1
VERSION = 3  # bump when the generated data change


def _coarse_grids(seed: int, size: int, octaves: tuple[tuple[int, float], ...]) -> list[tuple[int, float, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(step, amp, rng.standard_normal((size // step + 2, size // step + 2))) for step, amp in octaves]


def _bilinear(grid: np.ndarray, step: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Separable: interpolate the few coarse rows first, then gather columns once."""
    fy, fx = rows / step, cols / step
    iy, ix = fy.astype(np.int64), fx.astype(np.int64)
    wy, wx = (fy - iy)[:, None], (fx - ix).astype(np.float32)
    across = (grid[iy] * (1 - wy) + grid[iy + 1] * wy).astype(np.float32)
    return across[:, ix] * (1 - wx) + across[:, ix + 1] * wx


def field(grids: list[tuple[int, float, np.ndarray]], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.zeros((len(rows), len(cols)), dtype=np.float32)
    for step, amp, grid in grids:
        out += np.float32(amp) * _bilinear(grid, step, rows.astype(np.float64), cols.astype(np.float64))
    return out


def _cuts(grids: list[tuple[int, float, np.ndarray]], size: int, shares: np.ndarray) -> np.ndarray:
    sample = field(grids, np.arange(0, size, 61), np.arange(0, size, 59)).ravel()
    return np.quantile(sample, shares)


def _profile(size: int) -> dict[str, object]:
    return {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint8", "crs": "EPSG:4326",
        "transform": from_origin(WEST, NORTH, CELL_DEG, CELL_DEG), "nodata": NODATA, "tiled": True,
        "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate", "BIGTIFF": "IF_SAFER",
    }


def write_base(path: Path, *, size: int, seed: int) -> None:
    """The first epoch: quantile-cut value noise with per-cell speckle and a corner without data."""
    grids = _coarse_grids(seed, size, OCTAVES)
    cuts = _cuts(grids, size, np.cumsum([s for _, s in CLASS_SHARES])[:-1])
    codes = np.array([c for c, _ in CLASS_SHARES], dtype=np.uint8)
    cols = np.arange(size)
    tmp = path.with_suffix(".tmp")
    with rasterio.open(tmp, "w", **_profile(size)) as dst:
        for r0 in range(0, size, BLOCK):
            rows = np.arange(r0, min(r0 + BLOCK, size))
            values = field(grids, rows, cols)
            speckle = np.random.default_rng([seed, r0]).standard_normal(values.shape, dtype=np.float32)
            values += SPECKLE * speckle  # single-cell classification noise, as in real 30 m products
            band = codes[np.searchsorted(cuts, values)]
            band[(rows[:, None] + cols[None, :]) < size // 12] = NODATA  # a tile corner without data
            dst.write(band, 1, window=Window(0, r0, size, len(rows)))
    tmp.replace(path)


def write_epoch(path: Path, epoch: int, *, base: Path, size: int, seed: int) -> None:
    """A later epoch: the base with this epoch's patches of change and randomly reclassified cells."""
    grids = _coarse_grids(seed + 1000 + epoch, size, CHANGE_OCTAVES)
    cut = _cuts(grids, size, np.array([1.0 - CHANGE_SHARE]))[0]
    successor = np.arange(256, dtype=np.uint8)
    successor[list(SUCCESSOR)] = list(SUCCESSOR.values())
    codes = np.array([c for c, _ in CLASS_SHARES], dtype=np.uint8)
    cols = np.arange(size)
    tmp = path.with_suffix(".tmp")
    with rasterio.open(base) as src, rasterio.open(tmp, "w", **_profile(size)) as dst:
        for r0 in range(0, size, BLOCK):
            rows = np.arange(r0, min(r0 + BLOCK, size))
            window = Window(0, r0, size, len(rows))
            band = src.read(1, window=window)
            band = np.where(field(grids, rows, cols) > cut, successor[band], band)
            rng = np.random.default_rng([seed, epoch, r0])
            noisy = (rng.random(band.shape, dtype=np.float32) < RECLASSIFIED) & (band != NODATA)
            band[noisy] = codes[rng.integers(0, len(codes), int(noisy.sum()))]
            dst.write(band, 1, window=window)
    tmp.replace(path)


def _displace(geoms: np.ndarray, amp: float, wavelength: float) -> np.ndarray:
    """A smooth displacement of every vertex by position: shared edges move together (still a partition)."""
    k = 2 * np.pi / wavelength

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        dx = amp * (np.sin(k * y) + 0.5 * np.sin(2.7 * k * y + 1.3 * k * x))
        dy = amp * (np.sin(k * x + 0.7) + 0.5 * np.sin(3.1 * k * x - 0.9 * k * y))
        return np.column_stack([x + dx, y + dy])

    return shapely.transform(geoms, move)


def make_zones(size: int, *, seed: int, n_large: int = 22, n_parcels: int = 2000) -> gpd.GeoDataFrame:
    """Districts (a displaced Voronoi partition of most of the area) and rotated rectangular parcels."""
    rng = np.random.default_rng(seed)
    span = size * CELL_DEG
    west, south = WEST, NORTH - span
    inset = 0.04 * span
    frame = shapely.box(west + inset, south + inset, west + span - inset, NORTH - inset)
    points = shapely.multipoints(
        np.column_stack([west + rng.uniform(0, span, n_large), south + rng.uniform(0, span, n_large)])
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = shapely.segmentize(cells, max_segment_length=span / 4000)
    large = _displace(cells, amp=span / 1500, wavelength=span / 60)
    centre = np.column_stack(
        [west + rng.uniform(0.1, 0.9, n_parcels) * span, south + rng.uniform(0.1, 0.9, n_parcels) * span]
    )
    half_w = rng.uniform(15, 60, n_parcels) * CELL_DEG  # parcels of 30 to 120 cells across
    half_h = half_w * rng.uniform(0.4, 1.0, n_parcels)
    angle = rng.uniform(0, np.pi, n_parcels)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=float)
    local = corners[None] * np.stack([half_w, half_h], axis=1)[:, None, :]
    rot = np.stack([np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)], axis=1).reshape(-1, 2, 2)
    ring = np.einsum("nij,nkj->nki", rot, local) + centre[:, None, :]
    parcels = shapely.polygons(ring)
    ids = [f"D{i + 1:02d}" for i in range(len(large))] + [f"P{i + 1:05d}" for i in range(n_parcels)]
    kind = ["district"] * len(large) + ["parcel"] * n_parcels
    return gpd.GeoDataFrame(
        {"zone_id": ids, "kind": kind}, geometry=np.concatenate([large, parcels]), crs="EPSG:4326"
    )


def epoch_path(out: Path, epoch: int) -> Path:
    return out / f"landcover_{FIRST_YEAR + epoch}.tif"


def stacked_vrt(paths: list[Path], vrt: Path) -> None:
    """One band per epoch, so exactextract computes coverage once for all epochs.

    gdalbuildvrt -separate where GDAL's tools are installed, else the same VRT written as XML.
    """
    if shutil.which("gdalbuildvrt"):
        subprocess.run(["gdalbuildvrt", "-q", "-separate", str(vrt), *map(str, paths)], check=True)
        return
    with rasterio.open(paths[0]) as src:
        width, height, t, crs = src.width, src.height, src.transform, src.crs.to_wkt()
        block_y, block_x = src.block_shapes[0]
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{k + 1}"><NoDataValue>{NODATA}</NoDataValue>'
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(p.resolve()))}</SourceFilename>'
        f'<SourceBand>1</SourceBand><SourceProperties RasterXSize="{width}" RasterYSize="{height}" '
        f'DataType="Byte" BlockXSize="{block_x}" BlockYSize="{block_y}"/>'
        f'<SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>'
        f'<DstRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/></SimpleSource></VRTRasterBand>'
        for k, p in enumerate(paths)
    )
    vrt.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{escape(crs)}</SRS>'
        f"<GeoTransform>{', '.join(repr(v) for v in t.to_gdal())}</GeoTransform>{bands}</VRTDataset>\n"
    )


def mosaic_tiles(raster: Path, folder: Path, *, side: int) -> None:
    """side x side tiles: the raster and copies moved east and south (a glob over tile files)."""
    folder.mkdir(exist_ok=True)
    with rasterio.open(raster) as src:
        t, width, height = src.transform, src.width, src.height
    for i in range(side):
        for j in range(side):
            tile = folder / f"tile_{i}{j}.tif"
            shutil.copyfile(raster, tile)
            with rasterio.open(tile, "r+") as dst:
                dst.transform = Affine(t.a, t.b, t.c + j * width * t.a, t.d, t.e, t.f + i * height * t.e)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/work"))
    parser.add_argument("--size", type=int, default=12288)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--bands", type=int, nargs="*", default=[5, 20], help="epochs stacked into VRTs")
    parser.add_argument("--mosaic", type=int, default=3, help="tiles per side of the raster-size mosaic")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    if max(args.bands, default=1) > args.epochs:
        parser.error(f"a VRT of {max(args.bands)} bands needs --epochs {max(args.bands)} or more")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = args.out / "case.json"
    wanted = {"size": args.size, "seed": args.seed, "version": VERSION}
    made = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if {k: made.get(k) for k in wanted} != wanted:  # another case: start over
        made = {**wanted, "epochs": 0, "mosaic": 0}
        stamp.unlink(missing_ok=True)
    paths = [epoch_path(args.out, e) for e in range(args.epochs)]
    if made["epochs"] == 0:
        make_zones(args.size, seed=args.seed).to_file(args.out / "zones.gpkg", layer="zones", driver="GPKG")
        write_base(paths[0], size=args.size, seed=args.seed)
        made["epochs"] = 1
    if args.epochs > made["epochs"]:
        todo = list(range(made["epochs"], args.epochs))
        with ProcessPoolExecutor(max_workers=2) as pool:  # one band of one epoch per process: bounded memory
            write = partial(write_epoch, base=paths[0], size=args.size, seed=args.seed)
            list(pool.map(write, [paths[e] for e in todo], todo))
        made["epochs"] = args.epochs
    for bands in args.bands:
        stacked_vrt(paths[:bands], args.out / f"landcover_{bands}bands.vrt")
    if made["mosaic"] != args.mosaic:
        mosaic_tiles(paths[0], args.out / "mosaic", side=args.mosaic)
        made["mosaic"] = args.mosaic
    stamp.write_text(json.dumps(made))
    print(f"case in {args.out}: {made['epochs']} epochs of {args.size} x {args.size} cells, zones.gpkg, "
          f"VRTs of {args.bands} bands, a {args.mosaic} x {args.mosaic} tile mosaic")


if __name__ == "__main__":
    main()
