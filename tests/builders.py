"""The one set of test-data builders: rasters, zone layers, tables and run configs written into a test's folder.

Three grids serve the tests: any grid (`write_raster`, `write_zones`, a transform and a CRS given), a UTM grid with
its corner at (X0, Y0) for carbon and accuracy cases (`write_utm_raster`, `write_box_zones`), and a 64 x 64 lon/lat
grid stored as 16 x 16 tiles for the hostile-input cases (`write_tiled_raster`, `write_zone_layer`, `good_inputs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import yaml
from affine import Affine
from numpy.typing import NDArray
from rasterio.transform import from_origin

from pipeline.core.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def write_raster(path: Path, array: np.ndarray, *, transform: Affine, crs: str | None,
                 nodata: float | None = None, blocks: int | tuple[int, int] | None = None,
                 driver: str = "GTiff") -> Path:
    """A single-band DEFLATE raster; `blocks` (a side, or rows and columns) makes it tiled.

    driver="COG" writes the header first, so a truncated copy still opens and fails on its blocks.
    """
    profile = {"driver": driver, "height": array.shape[0], "width": array.shape[1], "count": 1,
               "dtype": array.dtype, "transform": transform, "compress": "deflate"}
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    if blocks and driver == "COG":
        profile["blocksize"] = blocks
    elif blocks:
        rows, cols = blocks if isinstance(blocks, tuple) else (blocks, blocks)
        profile.update(tiled=True, blockxsize=cols, blockysize=rows)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    return path


def write_zones(path: Path, frame: gpd.GeoDataFrame) -> Path:
    frame.to_file(path, driver="GPKG" if path.suffix == ".gpkg" else "GeoJSON")
    return path


# ---- a UTM grid: carbon and accuracy cases ----------------------------------------------------------------------

UTM10N = "EPSG:32610"
X0, Y0 = 500_000.0, 4_000_000.0


def write_utm_raster(path: Path, values: np.ndarray, *, cell: float, x0: float = X0, y0: float = Y0,
                     crs: str = UTM10N, nodata: float | None = None) -> Path:
    """A single-band GeoTIFF with its top-left corner at (x0, y0) and square cells of `cell` metres."""
    return write_raster(path, values, transform=from_origin(x0, y0, cell, cell), crs=crs, nodata=nodata)


def write_box_zones(path: Path, boxes: dict[str, tuple[float, float, float, float]], *, crs: str = UTM10N,
                    **fields: list[Any]) -> Path:
    """Rectangular zones {id: (x_from, down_from, x_to, down_to)}, metres right of and below (X0, Y0)."""
    geoms = [shapely.box(X0 + a, Y0 - d, X0 + c, Y0 - b) for a, b, c, d in boxes.values()]
    gpd.GeoDataFrame({"zid": list(boxes), **fields}, geometry=geoms, crs=crs).to_file(path, driver="GPKG")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_class_map(path: Path, classes: dict[str, list[int]]) -> Path:
    lines = ["classes:"] + [f"  {name}: {codes}" for name, codes in classes.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_config(tmp: Path, *, epochs: dict[int, Path], zones: Path, classes: Path, carbon: dict[str, Any],
               chunk_cells: int = 2048) -> RunConfig:
    return RunConfig.model_validate({
        "name": "carbon_test",
        "landcover": [{"year": y, "path": str(p)} for y, p in epochs.items()],
        "zones": {"path": str(zones), "id_field": "zid"},
        "classes": str(classes),
        "output": {"dir": str(tmp / "out")},
        "compute": {"chunk_cells": chunk_cells},
        "carbon": carbon,
    })


def pool_row(key: str, above: float, below: float, soil: float, dead: float, *, column: str = "class",
             **ranges: float) -> dict[str, Any]:
    """A pools-table row; ranges as e.g. c_above_low=5, c_above_high=20."""
    return {column: key, "c_above": above, "c_below": below, "c_soil": soil, "c_dead": dead, **ranges,
            "source": f"test {key}"}


# ---- a tiled lon/lat grid: hostile inputs ----------------------------------------------------------------------

# 64 x 64 cells of 0.001 deg at (10 E, 1 N), stored as 16 x 16 tiles
ORIGIN = Affine(0.001, 0.0, 10.0, 0.0, -0.001, 1.0)
SIZE = 64


def land_cover(seed: int = 0) -> NDArray[np.uint8]:
    """CLCD-like codes 1..4 everywhere."""
    return np.random.default_rng(seed).integers(1, 5, (SIZE, SIZE)).astype(np.uint8)


def write_tiled_raster(path: Path, values: NDArray[Any], *, crs: str | None = "EPSG:4326",
                       nodata: float | None = None, transform: Affine = ORIGIN, driver: str = "GTiff") -> Path:
    """A raster on the tiled lon/lat test grid (16 x 16 blocks)."""
    return write_raster(path, values, transform=transform, crs=crs, nodata=nodata, blocks=16, driver=driver)


def box_cells(c0: float, r0: float, c1: float, r1: float) -> shapely.Polygon:
    """A box given in cell columns and rows of the test grid, in lon/lat."""
    x0, y0 = ORIGIN @ (c0, r0)
    x1, y1 = ORIGIN @ (c1, r1)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def two_zones() -> list[shapely.Geometry]:
    return [box_cells(2.5, 2.5, 30, 30), box_cells(33, 33, 60.5, 60.5)]


def write_zone_layer(path: Path, geoms: list[Any], *, ids: list[Any] | None = None, crs: str | None = "EPSG:4326",
                     to_crs: str | None = None) -> Path:
    frame = gpd.GeoDataFrame({"zid": ids if ids is not None else [f"z{i}" for i in range(len(geoms))]},
                             geometry=geoms, crs=crs)
    if to_crs is not None:
        frame = frame.to_crs(to_crs)
    frame.to_file(path, driver="GPKG", engine="pyogrio")
    return path


def write_config(folder: Path, *, rasters: dict[int, Path], zones: Path, classes: str = "clcd",
                 out: Path | None = None, **extra: Any) -> Path:
    raw: dict[str, Any] = {
        "name": "test", "landcover": [{"year": y, "path": str(p)} for y, p in rasters.items()],
        "zones": {"path": str(zones), "id_field": "zid"}, "classes": classes,
        "output": {"dir": str(out or folder / "out")}, "compute": {"chunk_cells": 64},
    }
    raw.update(extra)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def good_inputs(folder: Path) -> Path:
    """A valid config over a 64 x 64 land-cover raster and two zones; returns the config path."""
    raster = write_tiled_raster(folder / "lc.tif", land_cover())
    zones = write_zone_layer(folder / "zones.gpkg", two_zones())
    return write_config(folder, rasters={2020: raster}, zones=zones)


def two_config_batch(base: Path, *, bad_name: str = "bad", missing: str = "nowhere.tif", **extra: Any) -> Path:
    """A batch folder of two configs over one 64 x 64 raster and two zones: `good.yaml` runs; `bad.yaml` (named
    `bad_name`) names a land-cover raster `missing` that does not exist, so it fails. Each writes its own output
    beside the folder. Returns the folder."""
    inputs, folder = base / "inputs", base / "batch"
    inputs.mkdir()
    folder.mkdir()
    raster = write_tiled_raster(inputs / "lc.tif", land_cover())
    zones = write_zone_layer(inputs / "zones.gpkg", two_zones())
    for stem, name, path in (("good", "good", raster), ("bad", bad_name, inputs / missing)):
        write_config(inputs, rasters={2020: path}, zones=zones, out=base / f"out_{stem}", name=name,
                     **extra).rename(folder / f"{stem}.yaml")
    return folder
