"""Small inputs built in a test's tmp_path: a tiled GeoTIFF, a zone layer and a run config."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import conftest
import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml
from affine import Affine
from numpy.typing import NDArray
from typer.testing import CliRunner, Result

from pipeline.terminal.cli import app

# 64 x 64 cells of 0.001 deg at (10 E, 1 N), stored as 16 x 16 tiles
ORIGIN = Affine(0.001, 0.0, 10.0, 0.0, -0.001, 1.0)
SIZE = 64


def land_cover(seed: int = 0) -> NDArray[np.uint8]:
    """CLCD-like codes 1..4 everywhere."""
    return np.random.default_rng(seed).integers(1, 5, (SIZE, SIZE)).astype(np.uint8)


def write_raster(path: Path, values: NDArray[Any], *, crs: str | None = "EPSG:4326",
                 nodata: float | None = None, transform: Affine = ORIGIN, driver: str = "GTiff") -> Path:
    return conftest.write_raster(path, values, transform=transform, crs=crs, nodata=nodata, blocks=16, driver=driver)


def box_cells(c0: float, r0: float, c1: float, r1: float) -> shapely.Polygon:
    """A box given in cell columns and rows of the test grid, in lon/lat."""
    x0, y0 = ORIGIN @ (c0, r0)
    x1, y1 = ORIGIN @ (c1, r1)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def two_zones() -> list[shapely.Geometry]:
    return [box_cells(2.5, 2.5, 30, 30), box_cells(33, 33, 60.5, 60.5)]


def write_zones(path: Path, geoms: list[Any], *, ids: list[Any] | None = None, crs: str | None = "EPSG:4326",
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
    raster = write_raster(folder / "lc.tif", land_cover())
    zones = write_zones(folder / "zones.gpkg", two_zones())
    return write_config(folder, rasters={2020: raster}, zones=zones)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_clean_failure(result: Result, *needles: str) -> None:
    """A non-zero exit with a message that names the problem, and no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    flat = " ".join(result.output.split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in {flat!r}"


def leftovers(folder: Path) -> list[str]:
    """Staging folders, parked outputs, run logs and locks left beside outputs in `folder`."""
    return sorted(p.name for p in folder.iterdir()
                  if ".staging-" in p.name or p.name.endswith((".previous", ".lock")) or ".run-" in p.name)


def snapshot(out_dir: Path) -> dict[str, bytes]:
    """Every file of an output folder, sub-folders (cache/, report/) included, by its path in the folder."""
    return {p.relative_to(out_dir).as_posix(): p.read_bytes() for p in sorted(out_dir.rglob("*")) if p.is_file()}


@contextmanager
def mounted_tmpfs(mount: Path, *, size: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` at `mount` (a real mount point, or a small disk that fills up); skips the
    test where mounting needs a root this machine does not give."""
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
