"""Benchmark sinkzone against exactextract on the case made by bench/make_case.py (issue 14's goals).

Every row runs in its own process, so that peak memory (the summed RSS of the process and its
children, sampled every 0.1 s) is not mixed between tools. exactextract is used at its strongest:
one call on a multi-band VRT (epochs as bands) computes coverage once for all epochs. The decode
floor is one thread reading every block of one epoch with rasterio. Results go to
bench/work/results.md and .csv and are printed, with each goal met or not.

    PYTHONPATH=. python bench/run_bench.py --work bench/work
    PYTHONPATH=. python bench/run_bench.py --work bench/work --row "sinkzone 1 epoch" --only LocalCluster

The second times only the named row and the rows whose label contains the text, and prints no table.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
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

FIRST_YEAR = 2004  # as bench/make_case.py writes them
SPHERE_R = 6378137.0  # exactextract's area_spherical_m2
MAX_PEAK_MB = 1024
REFERENCE = "float64 reference, coverage only (cells)"
FLAT = 1.15  # peak memory is "flat" when the largest of the rows is within 15 % of the smallest


class PeakMemory:
    """Peak summed RSS of this process and all its descendants, sampled in a thread.

    Listing descendants scans all of /proc, so the list is refreshed once a second (cluster workers
    start before the timed work) while the known processes' RSS is read every 0.1 s; this process's
    own high-water mark (getrusage) catches what sampling misses when it runs alone.
    """

    def __init__(self, every_s: float = 0.1, relist_s: float = 1.0) -> None:
        self.peak = 0
        self._every = every_s
        self._relist = relist_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        procs, listed = [me], 0.0
        while not self._stop.is_set():
            if time.monotonic() - listed > self._relist:
                procs, listed = [me, *me.children(recursive=True)], time.monotonic()
            total = 0
            for proc in procs:
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
        self.peak = max(self.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def tree_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process and its live descendants.

    The machine is shared, so wall times move with other people's load; CPU time shows the work itself.
    """
    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


# ---- the tools, each run inside a child process ---------------------------------------------------


def _config(paths: list[str], zones: Path, *, scheduler: str | None, workers: int | None) -> Any:
    from pipeline.core.config import RunConfig

    return RunConfig.model_validate(
        {
            "name": "bench",
            "classes": "clcd",
            "output": {"dir": str(zones.parent / "out")},
            "landcover": [{"year": FIRST_YEAR + k, "path": p} for k, p in enumerate(paths)],
            "zones": {"path": str(zones), "id_field": "zone_id"},
            "compute": {"scheduler": scheduler, "workers": workers},
            # class areas per epoch, what exactextract computes; transition matrices would add a count per pair
            "transitions": {"consecutive": False, "first_last": False},
        }
    )


def _ours_totals(config: Any, *, planar: bool) -> tuple[pd.DataFrame, dict[str, float]]:
    """Our answer per (zone, year, code), through the runner's own check/graph/compute/tabulate.

    Areas are m², or with `planar` coverage-only cell counts: the same kernel on the same cells
    with every cell one planar unit of 2**24, so the answer is in cells.
    """
    from pipeline.inputs.check import check_inputs
    from pipeline.measure.graph import build_graph, compute
    from pipeline.run.runner import run_stages

    t0 = time.perf_counter()
    inputs = check_inputs(config, deep=False)
    if planar:
        from dataclasses import replace

        import pyproj

        planar_grid = replace(inputs.grid, crs=pyproj.CRS("EPSG:3857"))
        inputs = replace(inputs, rasters=tuple(replace(r, grid=planar_grid) for r in inputs.rasters))
    graph = build_graph(inputs)
    t1 = time.perf_counter()
    computed = compute(graph, config=config, progress=None)
    t2 = time.perf_counter()
    run_stages(inputs, computed)
    t3 = time.perf_counter()
    ids = inputs.zones.ids.astype(str)
    unit = 2.0**-24 if planar else graph.zonal.unit_m2
    rows = [
        pd.DataFrame({"zone_id": ids[t.zone], "year": year, "code": t.value, "area": t.units * unit})
        for year, t in computed.totals.items()
    ]
    frame = pd.concat(rows, ignore_index=True)
    return frame[frame.code >= 0], {"prepare_s": t1 - t0, "compute_s": t2 - t1, "tabulate_s": t3 - t2}


def tool_ours(spec: dict[str, Any]) -> dict[str, Any]:
    cluster = None
    scheduler = None
    if spec.get("processes"):
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=spec["processes"], threads_per_worker=1, processes=True, dashboard_address=None
        )
        scheduler = cluster.scheduler_address
        # A fresh worker pays ~2 s for geopandas/rasterio/shapely imports: cluster start, not the work.
        with Client(cluster) as client:
            client.run(importlib.import_module, "pipeline.run.runner")
    config = _config(spec["rasters"], Path(spec["zones"]), scheduler=scheduler, workers=spec.get("threads"))
    cpu = tree_cpu_s()
    frame, parts = _ours_totals(config, planar=spec.get("planar", False))
    cpu = tree_cpu_s() - cpu
    wall = sum(parts.values())  # the pipeline's own steps; turning totals into the bench's CSV is not counted
    if cluster is not None:
        cluster.close()
    frame.to_csv(spec["answer"], index=False)
    return {"wall_s": wall, "cpu_s": cpu, **parts}


def tool_exactextract(spec: dict[str, Any]) -> dict[str, Any]:
    """One exact_extract call on a (multi-band) raster; class area = frac x count, per band.

    Both are weighted by spherical cell area, or with `planar` unweighted, so the answer is in cells.
    """
    import geopandas as gpd
    from exactextract import exact_extract

    weight = "" if spec.get("planar") else "(coverage_weight=area_spherical_m2)"
    started, cpu = time.perf_counter(), tree_cpu_s()
    zones = gpd.read_file(spec["zones"])
    out = exact_extract(
        spec["raster"], zones, ["unique", f"frac{weight}", f"count{weight}"], include_cols=["zone_id"], output="pandas"
    )
    wall, cpu = time.perf_counter() - started, tree_cpu_s() - cpu
    bands = spec["bands"]
    frames = []
    for k in range(bands):
        prefix = f"band_{k + 1}_" if bands > 1 else ""
        columns = [out[prefix + name] for name in ("unique", "frac", "count")]
        frames += [
            pd.DataFrame({"zone_id": z, "year": FIRST_YEAR + k, "code": np.asarray(u, dtype=np.int64),
                          "area": np.asarray(f, dtype=np.float64) * c})
            for z, u, f, c in zip(out.zone_id, *columns, strict=True)
        ]
    pd.concat(frames, ignore_index=True).to_csv(spec["answer"], index=False)
    return {"wall_s": wall, "cpu_s": cpu}


def tool_decode(spec: dict[str, Any]) -> dict[str, Any]:
    """The decode floor: one thread reads every storage block of one epoch, nothing else."""
    import rasterio

    started, cpu = time.perf_counter(), tree_cpu_s()
    with rasterio.open(spec["rasters"][0]) as src:
        for _, window in src.block_windows(1):
            src.read(1, window=window)
    return {"wall_s": time.perf_counter() - started, "cpu_s": tree_cpu_s() - cpu}


def tool_reference(spec: dict[str, Any]) -> dict[str, Any]:
    """Coverage-only cell counts in float64 from sinkzone's coverage, without the integer area units.

    Both tools quantize a cell's covered fraction (sinkzone to 2**-24 of a cell, exactextract to
    float32), so a float64 sum of the same fractions shows how far each is from the unrounded answer.
    Interior runs are counted per class by row-wise cumulative counts, one band of rows at a time.
    """
    import geopandas as gpd
    import rasterio

    from pipeline.core.coverage import zone_coverage
    from pipeline.core.grid import to_pixel_space
    from pipeline.files.rasters import raster_info

    started, cpu = time.perf_counter(), tree_cpu_s()
    raster = spec["rasters"][0]
    grid = raster_info(Path(raster)).grid
    zones = gpd.read_file(spec["zones"])
    pixel = to_pixel_space(zones.to_crs(grid.crs).geometry.to_numpy(), grid)
    n_codes = 256
    cells = np.zeros(len(zones) * n_codes)
    with rasterio.open(raster) as src:
        for r0 in range(0, grid.height, 2048):
            rows = (r0, min(r0 + 2048, grid.height))
            cov = zone_coverage(pixel, grid.shape, rows=rows).window(r0, 0, rows[1] - r0, grid.width)
            band = src.read(1, window=rasterio.windows.Window(0, r0, grid.width, rows[1] - r0))
            cells += np.bincount(cov.b_zone * n_codes + band[cov.b_row, cov.b_col], weights=cov.b_frac,
                                 minlength=len(cells))
            for code in np.unique(band):
                ahead = np.zeros((band.shape[0], grid.width + 1), dtype=np.int32)
                np.cumsum(band == code, axis=1, out=ahead[:, 1:])
                inside = ahead[cov.r_row, cov.r_stop] - ahead[cov.r_row, cov.r_start]
                cells += np.bincount(cov.r_zone * n_codes + code, weights=inside, minlength=len(cells))
    zone, code = np.divmod(np.flatnonzero(cells), n_codes)
    frame = pd.DataFrame({"zone_id": zones.zone_id.to_numpy()[zone], "year": FIRST_YEAR, "code": code,
                          "area": cells[cells != 0]})
    frame[frame.code != 0].to_csv(spec["answer"], index=False)  # 0: the case's nodata, as the tools drop it
    return {"wall_s": time.perf_counter() - started, "cpu_s": tree_cpu_s() - cpu}


def tool_run(spec: dict[str, Any]) -> dict[str, Any]:
    """A whole `sinkzone run` of every epoch into one output folder, written GeoPackage included.

    With `primed`, a run of all epochs but the last fills the output first (not timed), as last year's
    scheduled run did; the timed run then finds those epochs' totals in the output's cache. Without it,
    the timed run recomputes everything (--overwrite).
    """
    from pipeline.run import runner

    zones = Path(spec["zones"])
    out = zones.parent / "out_run"
    config = _config(spec["rasters"], zones, scheduler=None, workers=None)
    config = config.model_copy(update={"output": config.output.model_copy(update={"dir": out})})
    if spec.get("primed"):
        runner.run(_config(spec["rasters"][:-1], zones, scheduler=None, workers=None).model_copy(
            update={"output": config.output}), overwrite=True)
    started, cpu = time.perf_counter(), tree_cpu_s()
    result = runner.run(config, overwrite=not spec.get("primed"))
    return {"wall_s": time.perf_counter() - started, "cpu_s": tree_cpu_s() - cpu,
            "compute_s": result.record["timings_s"]["compute_s"]}


TOOLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ours": tool_ours,
    "run": tool_run,
    "exactextract": tool_exactextract,
    "decode": tool_decode,
    "reference": tool_reference,
}


def child(spec_json: str) -> None:
    spec = json.loads(spec_json)
    with PeakMemory() as mem:
        result = TOOLS[spec["tool"]](spec)
    result["peak_mb"] = mem.peak / 2**20
    print("RESULT " + json.dumps(result))


def _steps(result: dict[str, Any]) -> str:
    """The timed steps of a sinkzone row, when it has them: where a row's wall time goes."""
    steps = [k for k in ("prepare_s", "compute_s", "tabulate_s") if k in result]
    return "; " + ", ".join(f"{k[:-2]} {result[k]:.2f} s" for k in steps) if steps else ""


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, env=env, check=False
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{spec['label']} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][7:])
    print(f"  {spec['label']}: {result['wall_s']:.2f} s ({result.get('cpu_s', np.nan):.2f} CPU-s), "
          f"peak {result['peak_mb']:.0f} MB{_steps(result)}", flush=True)
    return result


# ---- comparison -----------------------------------------------------------------------------------


def sphere_to_ellipsoid(zones_path: Path, raster: Path) -> pd.Series:
    """Per zone, ellipsoidal / spherical cell area at the zone's centroid row (exactextract uses a sphere)."""
    import geopandas as gpd
    import rasterio

    from pipeline.core.grid import row_cell_areas_m2
    from pipeline.files.rasters import raster_info

    grid = raster_info(raster).grid
    t = grid.transform
    edges = np.radians(t.f + t.e * np.arange(grid.height + 1))
    sphere = SPHERE_R**2 * np.radians(abs(t.a)) * np.abs(np.sin(edges[:-1]) - np.sin(edges[1:]))
    ratio = row_cell_areas_m2(grid) / sphere
    zones = gpd.read_file(zones_path)
    with rasterio.open(raster) as src:
        centres = shapely.centroid(zones.geometry.to_numpy())  # only picks a row: planar centroid is enough
        rows = np.clip([src.index(p.x, p.y)[0] for p in centres], 0, grid.height - 1)
    return pd.Series(ratio[rows], index=zones.zone_id.astype(str))


def max_difference(ours: pd.DataFrame, theirs: pd.DataFrame, *, scale: pd.Series | None = None) -> tuple[float, float]:
    """Largest |ours - theirs| over (zone, year, code), absolute and relative to that zone's area."""
    keys = ["zone_id", "year", "code"]
    theirs = theirs.astype({"zone_id": str})
    if scale is not None:
        theirs = theirs.assign(area=theirs.area * theirs.zone_id.map(scale))
    both = ours.astype({"zone_id": str}).merge(theirs, on=keys, how="outer", suffixes=("_o", "_t")).fillna(0.0)
    diff = (both.area_o - both.area_t).abs()
    zone_total = both.groupby(["zone_id", "year"]).area_o.transform("sum")
    return float(diff.max()), float((diff / zone_total).max())


# ---- orchestration --------------------------------------------------------------------------------


def cases(work: Path) -> list[dict[str, Any]]:
    rasters = [str(work / f"landcover_{FIRST_YEAR + k}.tif") for k in range(20)]
    base = {"zones": str(work / "zones.gpkg")}
    mosaic = str(work / "mosaic" / "tile_*.tif")

    def ours(label: str, epochs: int, **kw: Any) -> dict[str, Any]:
        return {**base, "label": label, "tool": "ours", "epochs": epochs, "rasters": rasters[:epochs], **kw}

    def ee(label: str, bands: int, **kw: Any) -> dict[str, Any]:
        raster = rasters[0] if bands == 1 else str(work / f"landcover_{bands}bands.vrt")
        return {**base, "label": label, "tool": "exactextract", "epochs": bands, "bands": bands, "raster": raster,
                **kw}

    return [
        {**base, "label": "decode floor: 1 epoch, 1 thread", "tool": "decode", "epochs": 1, "rasters": rasters[:1]},
        ours("sinkzone 1 epoch", 1),
        ours("sinkzone 5 epochs", 5),
        ours("sinkzone 20 epochs", 20),
        ours("sinkzone 1 epoch, 3x3 tile mosaic", 1, rasters=[mosaic]),
        ours("sinkzone 1 epoch, LocalCluster 1 process", 1, processes=1),
        ours("sinkzone 1 epoch, LocalCluster 2 processes", 1, processes=2),
        ours("sinkzone 5 epochs, LocalCluster 1 process", 5, processes=1),
        ours("sinkzone 5 epochs, LocalCluster 2 processes", 5, processes=2),
        ours("sinkzone 1 epoch, coverage only (cells)", 1, planar=True),
        {**ours("sinkzone run, 20 epochs from scratch", 20), "tool": "run"},
        {**ours("sinkzone run, 19 epochs cached + 1 new", 20), "tool": "run", "primed": True},
        ee("exactextract 1 band", 1),
        ee("exactextract 5-band VRT, one call", 5),
        ee("exactextract 20-band VRT, one call", 20),
        ee("exactextract 1 band, coverage only (cells)", 1, planar=True),
        {**base, "label": REFERENCE, "tool": "reference", "epochs": 1, "rasters": rasters[:1]},
    ]


def raster_cells(path: str) -> int:
    from pipeline.files.rasters import raster_info

    grid = raster_info(Path(path)).grid
    return grid.width * grid.height


def table(specs: list[dict[str, Any]], results: list[dict[str, Any]]) -> pd.DataFrame:
    by = {s["label"]: (s, r) for s, r in zip(specs, results, strict=True)}
    peer = {1: "exactextract 1 band", 5: "exactextract 5-band VRT, one call", 20: "exactextract 20-band VRT, one call"}
    scale = sphere_to_ellipsoid(Path(specs[0]["zones"]), Path(specs[0]["rasters"][0]))
    rows = []
    for spec, res in zip(specs, results, strict=True):
        source = spec.get("raster") or spec["rasters"][0]
        row = {
            "row": spec["label"], "epochs": spec["epochs"], "mcells": raster_cells(source) / 1e6,
            "wall_s": res["wall_s"], "compute_s": res.get("compute_s", np.nan), "cpu_s": res.get("cpu_s", np.nan),
            "peak_mb": res["peak_mb"],
            "x_exactextract": np.nan, "max_rel_area_diff": np.nan,
        }
        if spec["tool"] == "ours" and not spec.get("planar") and "mosaic" not in spec["label"]:
            peer_spec, peer_res = by[peer[spec["epochs"]]]
            row["x_exactextract"] = res["wall_s"] / peer_res["wall_s"]
            if "processes" not in spec:
                theirs = pd.read_csv(peer_spec["answer"])
                row["max_rel_area_diff"] = max_difference(pd.read_csv(spec["answer"]), theirs, scale=scale)[1]
        rows.append(row)
    return pd.DataFrame(rows)


def coverage_check(specs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Coverage-only cell counts per (zone, code): max |difference| in cells and relative, for each two of
    sinkzone, exactextract and the float64 reference."""
    by = {s["label"]: s for s in specs}
    ours = pd.read_csv(by["sinkzone 1 epoch, coverage only (cells)"]["answer"])
    theirs = pd.read_csv(by["exactextract 1 band, coverage only (cells)"]["answer"])
    reference = pd.read_csv(by[REFERENCE]["answer"])
    return {"sinkzone vs exactextract": max_difference(ours, theirs),
            "sinkzone vs float64": max_difference(ours, reference),
            "exactextract vs float64": max_difference(theirs, reference)}


def goals(frame: pd.DataFrame, checks: dict[str, tuple[float, float]]) -> list[str]:
    t = frame.set_index("row")
    wall, peak = t.wall_s, t.peak_mb
    decode = wall["decode floor: 1 epoch, 1 thread"]
    extra_5 = (wall["sinkzone 5 epochs"] - wall["sinkzone 1 epoch"]) / 4
    extra_20 = (wall["sinkzone 20 epochs"] - wall["sinkzone 1 epoch"]) / 19
    cpu = t.cpu_s
    extra_cpu = (cpu["sinkzone 20 epochs"] - cpu["sinkzone 1 epoch"]) / 19
    memory_rows = ["sinkzone 1 epoch", "sinkzone 5 epochs", "sinkzone 20 epochs", "sinkzone 1 epoch, 3x3 tile mosaic"]
    peaks = peak[memory_rows]
    cluster = {e: (t.loc[f"sinkzone {e}, LocalCluster 1 process"], t.loc[f"sinkzone {e}, LocalCluster 2 processes"])
               for e in ("1 epoch", "5 epochs")}

    def line(ok: bool, text: str) -> str:
        return f"{'met' if ok else 'NOT met'}: {text}"

    ratio = {e: t.x_exactextract[f"sinkzone {e}"] for e in ("1 epoch", "5 epochs", "20 epochs")}
    return [
        line(ratio["1 epoch"] <= 0.4, f"one epoch {ratio['1 epoch']:.2f}x exactextract's single call (goal <= 0.4x)"),
        line(checks["sinkzone vs exactextract"][0] <= 1e-6,
             "coverage-only cell counts, max difference per (zone, class) (goal <= 1e-6 cell vs exactextract): "
             + "; ".join(f"{k} {cells:.2e} cells ({rel:.1e} of the zone)" for k, (cells, rel) in checks.items())),
        line(ratio["5 epochs"] <= 0.25, f"five epochs {ratio['5 epochs']:.2f}x exactextract's one call on a 5-band VRT "
                                        "(goal <= 0.25x)"),
        line(ratio["20 epochs"] <= 0.15, f"twenty epochs {ratio['20 epochs']:.2f}x exactextract's one call on a "
                                         "20-band VRT (goal <= 0.15x)"),
        line(max(extra_5, extra_20) <= 2 * decode,
             f"each extra epoch {extra_5:.2f} s (1 -> 5), {extra_20:.2f} s (1 -> 20) vs decode floor {decode:.2f} s "
             f"= {extra_5 / decode:.1f}x, {extra_20 / decode:.1f}x (goal <= 2x); in CPU time an extra epoch costs "
             f"{extra_cpu:.2f} CPU-s, decoding it {cpu['decode floor: 1 epoch, 1 thread']:.2f} CPU-s"),
        line(peaks.max() <= MAX_PEAK_MB and peaks.max() <= FLAT * peaks.min(),
             "peak memory " + ", ".join(f"{p:.0f} MB" for p in peaks)
             + f" at 1, 5, 20 epochs and 1 epoch of the mosaic ({t.mcells['sinkzone 1 epoch, 3x3 tile mosaic']:.0f} "
             f"M cells) (goal <= {MAX_PEAK_MB} MB, flat within {FLAT - 1:.0%})"),
        *(line(one.wall_s / two.wall_s >= 1.7,
               f"two LocalCluster worker processes vs one, {e}: {one.wall_s / two.wall_s:.2f}x "
               f"(compute step alone {one.compute_s / two.compute_s:.2f}x) (goal >= 1.7x)")
          for e, (one, two) in cluster.items()),
        f"appending a year: a whole sinkzone run of 20 epochs takes "
        f"{wall['sinkzone run, 19 epochs cached + 1 new']:.1f} s with 19 epochs from the previous output's cache, "
        f"{wall['sinkzone run, 20 epochs from scratch']:.1f} s from scratch",
    ]


def markdown(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.3g}"
        return str(v)

    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, *body])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("bench/work"))
    parser.add_argument("--only", help="run only the rows whose label contains this text (no table)")
    parser.add_argument("--row", action="append", default=[],
                        help="run only the row with exactly this label (no table); may be repeated")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    work = args.work.resolve()
    (work / "answers").mkdir(exist_ok=True)
    specs = cases(work)
    for k, spec in enumerate(specs):
        spec["answer"] = str(work / "answers" / f"row{k}.csv")
    if args.only or args.row:
        for spec in specs:
            if (args.only and args.only in spec["label"]) or spec["label"] in args.row:
                measure(spec)
        return
    started = time.perf_counter()
    load = os.getloadavg()[0]
    results = [measure(spec) for spec in specs]
    frame = table(specs, results)
    lines = goals(frame, coverage_check(specs))
    note = (f"One run on this machine ({os.cpu_count()} cores); load average {load:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after the {time.perf_counter() - started:.0f} s run.")
    md = markdown(frame)
    (work / "results.md").write_text(md + "\n\n" + "\n".join(f"- {ln}" for ln in lines) + f"\n\n{note}\n")
    frame.to_csv(work / "results.csv", index=False)
    print(md)
    print("\n".join(f"- {ln}" for ln in lines))
    print(note)
    print(f"table in {work / 'results.md'}")


if __name__ == "__main__":
    main()
