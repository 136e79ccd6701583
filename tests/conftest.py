"""Shared test helpers: tiny rasters and zone files built from a grid definition in a few lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine

from pipeline.core.config import Output, load_config
from pipeline.run import runner

ROOT = Path(__file__).resolve().parents[1]
DemoRun = Callable[[str], runner.RunResult]


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


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The run of a shipped config (`configs/NAME.yaml`), computed once per test session and shared.

    Tests read its tables and its output folder (`result.out_dir`) and must not change either.
    """
    done: dict[str, runner.RunResult] = {}

    def get(name: str) -> runner.RunResult:
        if name not in done:
            config = load_config(ROOT / "configs" / f"{name}.yaml")
            out = tmp_path_factory.mktemp(name) / "out"
            done[name] = runner.run(config.model_copy(update={"output": Output(dir=out)}))
        return done[name]

    return get
