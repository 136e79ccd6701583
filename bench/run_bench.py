"""Benchmark sinkzone against exactextract and rasterstats on the case made by bench/make_case.py.

Each measurement runs in its own subprocess so that peak memory (the summed RSS of the process and
its children, sampled every 20 ms) is not mixed between tools. Results go to bench/work/results.md
and .csv and are printed.

    PYTHONPATH=. python bench/run_bench.py --work bench/work
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import shapely

EPOCH_YEARS = tuple(range(2020, 2025))
RASTERSTATS_ZONES = 300
SPHERE_R = 6378137.0  # exactextract's area_spherical_m2


class PeakMemory:
    """Peak summed RSS of this process and all its descendants, sampled in a thread."""

    # 0.1 s: memory moves over seconds here, and a faster scan of /proc steals CPU from the workers.
    def __init__(self, every_s: float = 0.1) -> None:
        self.peak = 0
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(self._every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---- the tools, each run inside a child process ---------------------------------------------------


def _config(
    paths: list[Path], zones: Path, *, scheduler: str | None, workers: int | None, chunk_cells: int
) -> Any:
    from pipeline.config import RunConfig

    return RunConfig.model_validate(
        {
            "name": "bench",
            "classes": "esa_worldcover",
            "output": {"dir": str(zones.parent / "out")},
            "landcover": [{"year": y, "path": str(p)} for y, p in zip(EPOCH_YEARS, paths, strict=False)],
            "zones": {"path": str(zones), "id_field": "zone_id"},
            "compute": {"scheduler": scheduler, "workers": workers, "chunk_cells": chunk_cells},
        }
    )


def _ours_totals(config: Any, *, planar: bool = False) -> tuple[pd.DataFrame, dict[str, float]]:
    """Our answer per (zone, year, code) in m², through the runner's own check/graph/compute/tabulate."""
    from pipeline import runner

    t0 = time.perf_counter()
    inputs = runner.check_inputs(config, deep=False)
    if planar:  # coverage-only cell counts: same kernel, every cell one unit of 2**24
        from dataclasses import replace

        import pyproj

        planar_grid = replace(inputs.grid, crs=pyproj.CRS("EPSG:3857"))
        inputs = replace(inputs, rasters=tuple(replace(r, grid=planar_grid) for r in inputs.rasters))
    graph = runner.build_graph(inputs)
    t1 = time.perf_counter()
    computed = runner.compute(graph.totals, config=config, progress=None)
    t2 = time.perf_counter()
    runner.tabulate(inputs, computed, unit_m2=graph.zonal.unit_m2)
    t3 = time.perf_counter()
    ids = inputs.zones.ids.astype(str)
    unit = 2.0**-24 if planar else graph.zonal.unit_m2
    rows = [
        pd.DataFrame({"zone_id": ids[t.zone], "year": year, "code": t.value, "area": t.units * unit})
        for year, t in computed.items()
    ]
    frame = pd.concat(rows, ignore_index=True)
    return frame[frame.code >= 0], {"prepare_s": t1 - t0, "compute_s": t2 - t1, "tabulate_s": t3 - t2}


def tool_ours(spec: dict[str, Any]) -> dict[str, Any]:
    paths = [Path(p) for p in spec["rasters"]]
    cluster = None
    scheduler = None
    if spec.get("processes"):
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=spec["processes"], threads_per_worker=1, processes=True, dashboard_address=None
        )
        scheduler = cluster.scheduler_address
        # An existing cluster's workers have imported the libraries already; a fresh one pays ~2 s per
        # worker for geopandas/rasterio/shapely imports, which is start-up, not the pipeline's work.
        with Client(cluster) as client:
            client.run(importlib.import_module, "pipeline.runner")
    config = _config(
        paths,
        Path(spec["zones"]),
        scheduler=scheduler,
        workers=spec.get("threads"),
        chunk_cells=spec.get("chunk_cells", 2048),
    )
    frame, parts = _ours_totals(config, planar=spec.get("planar", False))
    wall = sum(parts.values())  # the pipeline's own steps; turning totals into the bench's CSV is not counted
    if cluster is not None:
        cluster.close()
    frame.to_csv(spec["answer"], index=False)
    return {"wall_s": wall, **parts}


def _ee_areas(raster: str, zones: Any, ops: list[str], **kw: Any) -> pd.DataFrame:
    from exactextract import exact_extract

    out = exact_extract(raster, zones, ops, include_cols=["zone_id"], output="pandas", **kw)
    rows = [
        pd.DataFrame(
            {"zone_id": z, "code": np.asarray(u, dtype=np.int64), "area": np.asarray(f, dtype=np.float64) * c}
        )
        for z, u, f, c in zip(out.zone_id, out.unique, out.frac, out["count"], strict=True)
    ]
    return pd.concat(rows, ignore_index=True)


def tool_exactextract(spec: dict[str, Any]) -> dict[str, Any]:
    """One exact_extract call per raster; class area = frac x count, both weighted by spherical cell area."""
    import geopandas as gpd

    weight = "" if spec.get("planar") else "(coverage_weight=area_spherical_m2)"
    ops = ["unique", f"frac{weight}", f"count{weight}"]
    started = time.perf_counter()
    zones = gpd.read_file(spec["zones"])
    if spec.get("subset"):
        zones = zones.iloc[spec["subset"]]
    frames, calls = [], []
    for year, raster in zip(EPOCH_YEARS, spec["rasters"], strict=False):
        t = time.perf_counter()
        frames.append(_ee_areas(raster, zones, ops).assign(year=year))
        calls.append(time.perf_counter() - t)
    wall = time.perf_counter() - started
    pd.concat(frames, ignore_index=True).to_csv(spec["answer"], index=False)
    return {"wall_s": wall, "calls_s": calls}


def tool_rasterstats(spec: dict[str, Any]) -> dict[str, Any]:
    """rasterstats on a subset of zones: categorical pixel counts (cell-centre rule, no partial cells)."""
    import geopandas as gpd
    from rasterstats import zonal_stats

    started = time.perf_counter()
    zones = gpd.read_file(spec["zones"]).iloc[spec["subset"]]
    stats = zonal_stats(list(zones.geometry), spec["rasters"][0], categorical=True, nodata=0)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "zones": len(stats)}


TOOLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ours": tool_ours,
    "exactextract": tool_exactextract,
    "rasterstats": tool_rasterstats,
}


def child(spec_json: str) -> None:
    spec = json.loads(spec_json)
    with PeakMemory() as mem:
        result = TOOLS[spec["tool"]](spec)
    result["peak_mb"] = mem.peak / 2**20
    print("RESULT " + json.dumps(result))


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{spec['tool']} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][7:])
    print(f"  {spec['label']}: {result['wall_s']:.1f} s, peak {result['peak_mb']:.0f} MB", flush=True)
    return result


# ---- comparison -----------------------------------------------------------------------------------


def sphere_to_ellipsoid(zones_path: Path, raster: Path) -> pd.Series:
    """Per zone, ellipsoidal / spherical cell area at the zone's centroid row (exactextract uses a sphere)."""
    import geopandas as gpd
    import rasterio

    from pipeline import io
    from pipeline.grid import row_cell_areas_m2

    grid = io.raster_info(raster).grid
    t = grid.transform
    edges = np.radians(t.f + t.e * np.arange(grid.height + 1))
    sphere = SPHERE_R**2 * np.radians(abs(t.a)) * np.abs(np.sin(edges[:-1]) - np.sin(edges[1:]))
    ratio = row_cell_areas_m2(grid) / sphere
    zones = gpd.read_file(zones_path)
    with rasterio.open(raster) as src:
        centres = shapely.centroid(zones.geometry.to_numpy())  # only picks a row: planar centroid is enough
        rows = np.clip([src.index(p.x, p.y)[0] for p in centres], 0, grid.height - 1)
    return pd.Series(ratio[rows], index=zones.zone_id.astype(str))


def max_difference(
    ours: pd.DataFrame, theirs: pd.DataFrame, *, scale: pd.Series | None = None
) -> tuple[float, float]:
    """Largest |ours - theirs| over (zone, year, code), absolute and relative to that zone's area."""
    keys = ["zone_id", "year", "code"]
    theirs = theirs.astype({"zone_id": str})
    if scale is not None:
        theirs = theirs.assign(area=theirs.area * theirs.zone_id.map(scale))
    both = (
        ours.astype({"zone_id": str}).merge(theirs, on=keys, how="outer", suffixes=("_o", "_t")).fillna(0.0)
    )
    both = both[both.zone_id.isin(set(theirs.zone_id))]
    diff = (both.area_o - both.area_t).abs()
    zone_total = both.groupby(["zone_id", "year"]).area_o.transform("sum")
    return float(diff.max()), float((diff / zone_total).max())


# ---- orchestration --------------------------------------------------------------------------------


def mosaic_tiles(raster: Path, folder: Path) -> str:
    """2 x 2 tiles: the raster and three copies moved east and south, as a glob over tile files."""
    import shutil

    import rasterio
    from affine import Affine

    folder.mkdir(exist_ok=True)
    with rasterio.open(raster) as src:
        t, width, height = src.transform, src.width, src.height
    for i in range(2):
        for j in range(2):
            tile = folder / f"tile_{i}{j}.tif"
            if not tile.exists():
                shutil.copyfile(raster, tile)
                with rasterio.open(tile, "r+") as dst:
                    dst.transform = Affine(t.a, t.b, t.c + j * width * t.a, t.d, t.e, t.f + i * height * t.e)
    return str(folder / "tile_*.tif")


def cases(work: Path) -> list[dict[str, Any]]:
    rasters = [str(work / f"landcover_{y}.tif") for y in EPOCH_YEARS]
    zones = str(work / "zones.gpkg")
    subset = list(range(2)) + list(range(22, 22 + RASTERSTATS_ZONES - 2))
    base = {"zones": zones}
    return [
        {**base, "label": "ours 1 epoch, 2 threads", "tool": "ours", "rasters": rasters[:1]},
        {**base, "label": "ours 1 epoch, 1 thread", "tool": "ours", "rasters": rasters[:1], "threads": 1},
        {**base, "label": "ours 1 epoch, 1 process", "tool": "ours", "rasters": rasters[:1], "processes": 1},
        {
            **base,
            "label": "ours 1 epoch, 2 processes",
            "tool": "ours",
            "rasters": rasters[:1],
            "processes": 2,
        },
        {**base, "label": "ours 5 epochs, 2 threads", "tool": "ours", "rasters": rasters},
        {**base, "label": "ours 5 epochs, 2 processes", "tool": "ours", "rasters": rasters, "processes": 2},
        {**base, "label": "exactextract 5 calls", "tool": "exactextract", "rasters": rasters},
        {
            **base,
            "label": "ours 1 epoch, coverage only",
            "tool": "ours",
            "rasters": rasters[:1],
            "planar": True,
        },
        {
            **base,
            "label": "exactextract subset, coverage only",
            "tool": "exactextract",
            "rasters": rasters[:1],
            "planar": True,
            "subset": subset,
        },
        {
            **base,
            "label": "rasterstats subset",
            "tool": "rasterstats",
            "rasters": rasters[:1],
            "subset": subset,
        },
        {
            **base,
            "label": "ours 1 epoch, 2x2 tiles (4x cells)",
            "tool": "ours",
            "rasters": [mosaic_tiles(Path(rasters[0]), work / "mosaic")],
        },
    ]


def raster_cells(path: str) -> int:
    from pipeline import io

    grid = io.raster_info(Path(path)).grid
    return grid.width * grid.height


def table(work: Path, specs: list[dict[str, Any]], results: list[dict[str, Any]]) -> pd.DataFrame:
    by = {s["label"]: (s, r) for s, r in zip(specs, results, strict=True)}
    ee_calls = by["exactextract 5 calls"][1]["calls_s"]
    ee = {1: ee_calls[0], 5: sum(ee_calls)}
    scale = sphere_to_ellipsoid(Path(specs[0]["zones"]), Path(specs[0]["rasters"][0]))
    ee_answer = pd.read_csv(by["exactextract 5 calls"][0]["answer"])
    rows = []
    for spec, res in zip(specs, results, strict=True):
        epochs = len(spec["rasters"])
        cells = raster_cells(spec["rasters"][0]) * epochs
        row = {
            "case": spec["label"],
            "epochs": epochs,
            "wall_s": res["wall_s"],
            "peak_mb": res["peak_mb"],
            "mcells_per_s": cells / res["wall_s"] / 1e6,
            "speedup_vs_exactextract": np.nan,
            "max_area_diff_m2": np.nan,
            "max_rel_diff": np.nan,
        }
        if spec["tool"] == "ours" and not spec.get("planar") and "tiles" not in spec["label"]:
            row["speedup_vs_exactextract"] = ee[epochs] / res["wall_s"]
            diff = max_difference(
                pd.read_csv(spec["answer"]), ee_answer[ee_answer.year.isin(EPOCH_YEARS[:epochs])], scale=scale
            )
            row["max_area_diff_m2"], row["max_rel_diff"] = diff
        rows.append(row)
        if spec["label"] == "exactextract 5 calls":
            rows.append(
                {
                    **row,
                    "case": "exactextract 1 call",
                    "epochs": 1,
                    "wall_s": ee[1],
                    "mcells_per_s": cells / epochs / ee[1] / 1e6,
                    "speedup_vs_exactextract": 1.0,
                }
            )
    exact = by["ours 1 epoch, coverage only"][0]["answer"]
    sub = by["exactextract subset, coverage only"]
    cells_diff = max_difference(pd.read_csv(exact), pd.read_csv(sub[0]["answer"]))
    rows.append(
        {
            "case": "check: coverage-only cells, ours vs exactextract (subset zones)",
            "max_area_diff_m2": np.nan,
            "max_rel_diff": cells_diff[1],
            "max_cell_diff": cells_diff[0],
        }
    )
    rs = by["rasterstats subset"][1]["wall_s"]
    rows.append(
        {
            "case": "check: rasterstats / exactextract time on the same subset",
            "speedup_vs_exactextract": sub[1]["wall_s"] / rs,
        }
    )
    return pd.DataFrame(rows)


def targets(frame: pd.DataFrame) -> list[str]:
    row = frame.set_index("case")
    one, five = row.loc["ours 1 epoch, 2 threads"], row.loc["ours 5 epochs, 2 threads"]
    p1, p2 = row.loc["ours 1 epoch, 1 process"], row.loc["ours 1 epoch, 2 processes"]
    tiles = row.loc["ours 1 epoch, 2x2 tiles (4x cells)"]
    return [
        f"one epoch vs exactextract: {one.speedup_vs_exactextract:.2f}x (target >= 1), "
        f"1 process {p1.speedup_vs_exactextract:.2f}x",
        f"five epochs vs five exactextract calls: {five.speedup_vs_exactextract:.2f}x (target >= 5)",
        f"two worker processes vs one: {p1.wall_s / p2.wall_s:.2f}x (target >= 1.6); two threads vs one: "
        f"{row.loc['ours 1 epoch, 1 thread'].wall_s / one.wall_s:.2f}x",
        f"peak memory: {one.peak_mb:.0f} MB at {one.mcells_per_s * one.wall_s:.0f} M cells, "
        f"{tiles.peak_mb:.0f} MB at {tiles.mcells_per_s * tiles.wall_s:.0f} M cells "
        "(target < 2048 MB at 1e9)",
    ]


def markdown(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.4g}"
        return str(v)

    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, *body])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("bench/work"))
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    work = args.work.resolve()
    (work / "answers").mkdir(exist_ok=True)
    specs = cases(work)
    for k, spec in enumerate(specs):
        spec["answer"] = str(work / "answers" / f"case{k}.csv")
    started = time.perf_counter()
    results = [measure(spec) for spec in specs]
    frame = table(work, specs, results)
    lines = targets(frame)
    md = markdown(frame)
    (work / "results.md").write_text(md + "\n\n" + "\n".join(f"- {ln}" for ln in lines) + "\n")
    frame.to_csv(work / "results.csv", index=False)
    print(md)
    print("\n".join(lines))
    print(f"bench done in {time.perf_counter() - started:.0f} s; table in {work / 'results.md'}")


if __name__ == "__main__":
    main()
