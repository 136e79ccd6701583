"""Small builders for carbon tests: rasters, zones, tables and run configs written into tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import conftest
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.transform import from_origin

from pipeline.core.config import RunConfig

UTM10N = "EPSG:32610"
X0, Y0 = 500_000.0, 4_000_000.0


def write_raster(path: Path, values: np.ndarray, *, cell: float, x0: float = X0, y0: float = Y0,
                 crs: str = UTM10N, nodata: float | None = None) -> Path:
    """A single-band GeoTIFF with its top-left corner at (x0, y0) and square cells of `cell` metres."""
    return conftest.write_raster(path, values, transform=from_origin(x0, y0, cell, cell), crs=crs, nodata=nodata)


def write_zones(path: Path, boxes: dict[str, tuple[float, float, float, float]], *, crs: str = UTM10N,
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
