"""Generate the benchmark case deterministically: patchy WorldCover-coded land cover near Baotou, and zones.

The rasters are uint8 GeoTIFFs in EPSG:4326 with WorldCover's 1/12000 degree cells (about 10 m), tiled
512 x 512 and DEFLATE-compressed like a real WorldCover tile. Classes come from smoothed value noise
(bilinear upsampling of seeded coarse grids, several octaves) cut at quantiles matching a Baotou-like
class mix. Rows are generated one 512-row band at a time, so memory stays bounded whatever the size.
Epochs share the landscape and differ by a seeded change field, like annual products.

    python bench/make_case.py --out bench/work --size 16384 --epochs 5
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

CELL_DEG = 1.0 / 12000.0  # ESA WorldCover 10 m product
WEST, NORTH = 109.6, 41.35  # Baotou
BAND_ROWS = 512
# ESA WorldCover codes and a Baotou-like share of each (grassland and bare steppe dominate)
CLASS_SHARES = (
    (30, 0.42),
    (60, 0.14),
    (40, 0.16),
    (20, 0.08),
    (10, 0.07),
    (50, 0.06),
    (80, 0.04),
    (90, 0.03),
)
OCTAVES = ((2048, 1.0), (512, 0.55), (128, 0.3), (32, 0.18), (8, 0.08))
NODATA = 0
SPECKLE = 0.1


def _coarse_grids(seed: int, shape: tuple[int, int]) -> list[tuple[int, float, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (step, amp, rng.standard_normal((shape[0] // step + 2, shape[1] // step + 2)))
        for step, amp in OCTAVES
    ]


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


def _thresholds(grids: list[tuple[int, float, np.ndarray]], size: int) -> np.ndarray:
    sample = field(grids, np.arange(0, size, 61), np.arange(0, size, 59)).ravel()
    return np.quantile(sample, np.cumsum([s for _, s in CLASS_SHARES])[:-1])


def write_epoch(path: Path, epoch: int, *, size: int, seed: int) -> None:
    base = _coarse_grids(seed, (size, size))
    change = _coarse_grids(seed + 1000 + epoch, (size, size))[2:]
    cuts = _thresholds(base, size)
    codes = np.array([c for c, _ in CLASS_SHARES], dtype=np.uint8)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": from_origin(WEST, NORTH, CELL_DEG, CELL_DEG),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    tmp = path.with_suffix(".tmp")
    cols = np.arange(size)
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, size, BAND_ROWS):
            rows = np.arange(r0, min(r0 + BAND_ROWS, size))
            values = field(base, rows, cols) + 0.35 * field(change, rows, cols)
            speckle = np.random.default_rng([seed, epoch, r0]).standard_normal(values.shape, dtype=np.float32)
            values += SPECKLE * speckle  # single-cell classification noise, as in real 10 m products
            band = codes[np.searchsorted(cuts, values)]
            band[(rows[:, None] + cols[None, :]) < size // 12] = NODATA  # a tile corner without data
            dst.write(band, 1, window=rasterio.windows.Window(0, r0, size, len(rows)))
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


def make_zones(size: int, *, seed: int, n_large: int = 22, n_parcels: int = 3000) -> gpd.GeoDataFrame:
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
    half_w = rng.uniform(1.5, 6.0, n_parcels) * 1e-3 * span / 1.365
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/work"))
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = args.out / "case.json"
    wanted = {"size": args.size, "epochs": args.epochs, "seed": args.seed, "version": 2}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        print(f"case in {args.out} is up to date")
        return
    zones = make_zones(args.size, seed=args.seed)
    zones.to_file(args.out / "zones.gpkg", layer="zones", driver="GPKG")
    paths = [args.out / f"landcover_{2020 + epoch}.tif" for epoch in range(args.epochs)]
    with ProcessPoolExecutor(max_workers=2) as pool:  # one band of one epoch per process: bounded memory
        list(pool.map(partial(write_epoch, size=args.size, seed=args.seed), paths, range(args.epochs)))
    print(
        f"wrote {len(paths)} epochs of {args.size} x {args.size} cells and {len(zones)} zones to {args.out}"
    )
    stamp.write_text(json.dumps(wanted))


if __name__ == "__main__":
    main()
