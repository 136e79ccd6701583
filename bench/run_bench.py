"""Benchmark sinkzone against exactextract on the case made by bench/make_case.py (issue 23's goals), fairly.

Every timed row is one whole process, timed from exec to exit: `sinkzone run` as a user runs it (its imports,
the zones, the default outputs with the workbook and transitions, all included), and exactextract 0.3 as an
expert runs it (its imports and its reading of the zones included): one call on a multi-band VRT of the epochs,
every statistic weighted by the same coverage (so one accumulator per zone and band), and each of its two
strategies, the faster one compared. CPU seconds are the process tree's (user + system, from wait4); peak
memory is the summed RSS of the process and its descendants, sampled every 0.05 s.

    PYTHONPATH=. python bench/run_bench.py --work bench/work
    PYTHONPATH=. python bench/run_bench.py --work bench/work --only LocalCluster

The second times only the rows whose label contains the text and prints no table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIRST_YEAR = 2004  # as bench/make_case.py writes them
SPHERE_R = 6378137.0  # exactextract's area_spherical_m2
MAX_PEAK_MB = 1024
STRATEGIES = ("feature-sequential", "raster-sequential")
REFERENCE = "float64 reference, coverage only (cells)"
SINKZONE = Path(sys.executable).with_name("sinkzone")
WORKBOOK_LINE = "wrote tables.xlsx"  # the run log's lines that say how long the workbook and the sums took
SUMMED_LINE = "summed "


@dataclass(frozen=True)
class Timed:
    """What one whole process cost, from exec to exit."""

    wall_s: float
    cpu_s: float
    peak_mb: float
    first_line_s: float  # when its first line reached stderr (a run's first log line)
    stdout: str


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def timed(argv: list[str], *, env: dict[str, str] | None = None) -> Timed:
    """Run argv to its exit: wall time, CPU seconds of it and the children it waited for, peak tree RSS."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first: list[float] = []
    err: list[str] = []
    out: list[str] = []

    def read_err() -> None:
        for line in proc.stderr or ():
            if not first:
                first.append(time.perf_counter() - started)
            err.append(line)

    readers = [threading.Thread(target=read_err), threading.Thread(target=lambda: out.extend(proc.stdout or ()))]
    for reader in readers:
        reader.start()
    watched, peak = psutil.Process(proc.pid), 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(watched))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    for reader in readers:
        reader.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{''.join(err)[-3000:]}")
    return Timed(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_mb=max(peak, usage.ru_maxrss * 1024) / 1e6,
                 first_line_s=first[0] if first else np.nan, stdout="".join(out))


# ---- inside child processes ------------------------------------------------------------------------


def child_exactextract(spec: dict[str, Any]) -> None:
    """exactextract as an expert runs it: the zones read, one call, the result kept (pickled, untouched)."""
    import geopandas as gpd
    from exactextract import exact_extract

    weight = "" if spec.get("planar") else "(coverage_weight=area_spherical_m2)"
    zones = gpd.read_file(spec["zones"])
    out = exact_extract(spec["raster"], zones, [f"{op}{weight}" for op in ("unique", "frac", "count")],
                        include_cols=["zone_id"], output="pandas", strategy=spec["strategy"])
    out.to_pickle(spec["answer"])


def child_decode(spec: dict[str, Any]) -> None:
    """The decode floor: one thread reads every storage block of one epoch; prints the CPU seconds of the reads."""
    import rasterio

    with rasterio.open(spec["rasters"][0]) as src:
        cpu = time.process_time()
        for _, window in src.block_windows(1):
            src.read(1, window=window)
        print(json.dumps({"decode_cpu_s": time.process_time() - cpu}))


def child_coverage(spec: dict[str, Any]) -> None:
    """sinkzone's coverage-only cell counts: the runner's own kernel with every cell one planar unit of 2**-24."""
    from dataclasses import replace

    import pyproj

    from pipeline.inputs.check import check_inputs
    from pipeline.measure.graph import build_graph, compute

    config = run_config(spec)
    inputs = check_inputs(config, deep=False)
    planar = replace(inputs.grid, crs=pyproj.CRS("EPSG:3857"))
    inputs = replace(inputs, rasters=tuple(replace(r, grid=planar) for r in inputs.rasters))
    computed = compute(build_graph(inputs), config=config, progress=None)
    ids = inputs.zones.ids.astype(str)
    frame = pd.concat([pd.DataFrame({"zone_id": ids[t.zone], "year": year, "code": t.value, "area": t.units * 2.0**-24})
                       for year, t in computed.totals.items()], ignore_index=True)
    frame[frame.code >= 0].to_csv(spec["answer"], index=False)


def child_reference(spec: dict[str, Any]) -> None:
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


def child_workers(spec: dict[str, Any]) -> None:
    """A dask.distributed LocalCluster of `processes` single-thread workers, warmed (the pipeline imported), its
    address printed; it lives until stdin closes. Cluster start is not the work, so it is not timed."""
    import importlib

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=spec["processes"], threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(importlib.import_module, "pipeline.run.runner")
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()


CHILDREN: dict[str, Callable[[dict[str, Any]], None]] = {
    "exactextract": child_exactextract, "decode": child_decode, "coverage": child_coverage,
    "reference": child_reference, "workers": child_workers,
}


# ---- the rows --------------------------------------------------------------------------------------


def run_config(spec: dict[str, Any]) -> Any:
    """The config a user would write for the case: everything else (transitions, workbook, report) as default."""
    from pipeline.core.config import RunConfig

    return RunConfig.model_validate(config_dict(spec))


def config_dict(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": "bench", "classes": "clcd", "output": {"dir": spec["out"]},
            "landcover": [{"year": FIRST_YEAR + k, "path": p} for k, p in enumerate(spec["rasters"])],
            "zones": {"path": spec["zones"], "id_field": "zone_id"}}


def _child_argv(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]


def measure_run(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """A whole `sinkzone run` (from scratch, or after a primed output when `primed`), on a cluster if asked."""
    import yaml

    config = Path(spec["out"] + ".yaml")
    argv = [str(SINKZONE), "run", str(config)]
    if spec.get("primed"):  # last year's scheduled run of the same config, not timed: every epoch but the newest
        config.write_text(yaml.safe_dump(config_dict({**spec, "rasters": spec["rasters"][:-1]})))
        timed([*argv, "--overwrite"], env=env)
    else:
        argv.append("--overwrite")
    config.write_text(yaml.safe_dump(config_dict(spec)))
    if not spec.get("processes"):
        return {**vars(timed(argv, env=env)), **_log_seconds(Path(spec["out"]))}
    cluster = subprocess.Popen(_child_argv({"tool": "workers", "processes": spec["processes"]}),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = (cluster.stdout.readline() if cluster.stdout else "").strip()
        return {**vars(timed([*argv, "--scheduler", address], env=env)), **_log_seconds(Path(spec["out"]))}
    finally:
        if cluster.stdin:
            cluster.stdin.close()
        cluster.wait()


def _log_seconds(out: Path) -> dict[str, float]:
    """Seconds the run spent summing (the compute step) and writing tables.xlsx, from its own log lines."""
    found = {}
    for line in (out / "run.log.jsonl").read_text().splitlines():
        message = json.loads(line)["message"]
        for key, start in (("compute_s", SUMMED_LINE), ("workbook_s", WORKBOOK_LINE)):
            if message.startswith(start):
                found[key] = float(message.rsplit(" in ", 1)[1].split()[0].rstrip(";"))
    return found


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    if spec["tool"] == "sinkzone":
        result = measure_run(spec, env)
    else:
        result = vars(timed(_child_argv(spec), env=env))
        if spec["tool"] == "decode":
            result.update(json.loads(result["stdout"].strip().splitlines()[-1]))
    result.pop("stdout", None)
    print(f"  {spec['label']}: {result['wall_s']:.2f} s, {result['cpu_s']:.2f} CPU-s, peak {result['peak_mb']:.0f} MB"
          + (f", first log line {result['first_line_s']:.2f} s" if spec["tool"] == "sinkzone" else "")
          + "".join(f", {k[:-2]} {result[k]:.2f} s" for k in ("compute_s", "workbook_s") if k in result), flush=True)
    return result


def cases(work: Path) -> list[dict[str, Any]]:
    rasters = [str(work / f"landcover_{FIRST_YEAR + k}.tif") for k in range(20)]
    base = {"zones": str(work / "zones.gpkg")}

    def ours(label: str, epochs: int, **kw: Any) -> dict[str, Any]:
        return {**base, "label": label, "tool": "sinkzone", "epochs": epochs, "rasters": rasters[:epochs], **kw}

    def ee(bands: int, strategy: str, **kw: Any) -> dict[str, Any]:
        raster = rasters[0] if bands == 1 else str(work / f"landcover_{bands}bands.vrt")
        label = f"exactextract {'1 band' if bands == 1 else f'{bands}-band VRT'}, {strategy}"
        return {**base, "label": label, "tool": "exactextract", "epochs": bands, "raster": raster,
                "strategy": strategy, **kw}

    return [
        {**base, "label": "decode floor: 1 epoch, 1 thread", "tool": "decode", "epochs": 1, "rasters": rasters[:1]},
        ours("sinkzone run, 1 epoch", 1),
        ours("sinkzone run, 5 epochs", 5),
        ours("sinkzone run, 20 epochs", 20),
        ours("sinkzone run, 1 epoch, 3x3 tile mosaic", 1, rasters=[str(work / "mosaic" / "tile_*.tif")]),
        ours("sinkzone run, 5 epochs, LocalCluster 1 worker", 5, processes=1),
        ours("sinkzone run, 5 epochs, LocalCluster 2 workers", 5, processes=2),
        ours("sinkzone run, 19 epochs cached + 1 new", 20, primed=True),
        *(ee(bands, strategy) for bands in (1, 5, 20) for strategy in STRATEGIES),
        {**ours("sinkzone 1 epoch, coverage only (cells)", 1), "tool": "coverage"},
        ee(1, "feature-sequential", planar=True, label="exactextract 1 band, coverage only (cells)"),
        {**base, "label": REFERENCE, "tool": "reference", "epochs": 1, "rasters": rasters[:1]},
    ]


# ---- answers and comparison ------------------------------------------------------------------------


def exactextract_answer(path: str, *, bands: int) -> pd.DataFrame:
    """exactextract's output as (zone_id, year, code, area): class area = frac x count, per band."""
    out = pd.read_pickle(path)
    frames = []
    for k in range(bands):
        prefix = f"band_{k + 1}_" if bands > 1 else ""
        columns = [out[prefix + name] for name in ("unique", "frac", "count")]
        frames += [pd.DataFrame({"zone_id": z, "year": FIRST_YEAR + k, "code": np.asarray(u, dtype=np.int64),
                                 "area": np.asarray(f, dtype=np.float64) * c})
                   for z, u, f, c in zip(out.zone_id, *columns, strict=True)]
    return pd.concat(frames, ignore_index=True)


def sinkzone_answer(out: Path) -> pd.DataFrame:
    """A run's zone_class_area (ha, by class name) as (zone_id, year, code, area m²) with CLCD's codes."""
    import pyogrio

    from pipeline.core.classmaps import builtin_class_map
    from pipeline.core.units import M2_PER_HA

    table = pyogrio.read_dataframe(out / "sinkzones.gpkg", layer="zone_class_area")
    code = {name: codes[0] for name, codes in builtin_class_map("clcd").classes.items() if len(codes) == 1}
    table = table[table["class"].isin(code)]
    return pd.DataFrame({"zone_id": table.zone_id.astype(str), "year": table.year, "code": table["class"].map(code),
                         "area": table.area_ha * M2_PER_HA})


def sphere_to_ellipsoid(zones_path: Path, raster: Path) -> pd.Series:
    """Per zone, ellipsoidal / spherical cell area at the zone's centroid row (exactextract uses a sphere)."""
    import geopandas as gpd
    import rasterio
    import shapely

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


# ---- the table and the goals -----------------------------------------------------------------------


def table(specs: list[dict[str, Any]], results: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"row": s["label"], "epochs": s["epochs"], "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
             "peak_mb": r["peak_mb"], "first_log_line_s": r["first_line_s"] if s["tool"] == "sinkzone" else np.nan,
             "compute_s": r.get("compute_s", np.nan), "workbook_s": r.get("workbook_s", np.nan)}
            for s, r in zip(specs, results, strict=True)]
    return pd.DataFrame(rows).set_index("row")


def fastest_peer(t: pd.DataFrame, epochs: int) -> str:
    peers = t[t.index.str.startswith("exactextract") & (t.epochs == epochs) & ~t.index.str.contains("coverage")]
    return str(peers.wall_s.idxmin())


def coverage_checks(by: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Coverage-only cell counts per (zone, code): max |difference| in cells and relative, for each two of
    sinkzone, exactextract and the float64 reference."""
    ours = pd.read_csv(by["sinkzone 1 epoch, coverage only (cells)"]["answer"])
    theirs = exactextract_answer(by["exactextract 1 band, coverage only (cells)"]["answer"], bands=1)
    reference = pd.read_csv(by[REFERENCE]["answer"])
    return {"sinkzone vs exactextract": max_difference(ours, theirs),
            "sinkzone vs float64": max_difference(ours, reference),
            "exactextract vs float64": max_difference(theirs, reference)}


def goals(t: pd.DataFrame, by: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per goal of issue 23: goal, measured, met."""
    rows: list[tuple[str, str, bool]] = []
    ratio_goal = {1: 0.4, 5: 0.25, 20: 0.15}
    scale = sphere_to_ellipsoid(Path(by[REFERENCE]["zones"]), Path(by[REFERENCE]["rasters"][0]))
    for epochs, goal in ratio_goal.items():
        ours, peer = f"sinkzone run, {epochs} epoch{'s' if epochs > 1 else ''}", fastest_peer(t, epochs)
        ratio = t.wall_s[ours] / t.wall_s[peer]
        diff = max_difference(sinkzone_answer(Path(by[ours]["out"])),
                              exactextract_answer(by[peer]["answer"], bands=epochs), scale=scale)[1]
        rows.append((f"{epochs} epoch(s) <= {goal}x exactextract (whole processes)",
                     f"{t.wall_s[ours]:.2f} s vs {t.wall_s[peer]:.2f} s ({peer.split(', ')[-1]}) = {ratio:.2f}x; "
                     f"class areas within {diff:.1e} of a zone's area (its sphere scaled to the ellipsoid)",
                     ratio <= goal))
    checks = coverage_checks(by)
    cells = checks["sinkzone vs exactextract"][0]
    rows.append(("coverage-only counts agree to 1e-6 of a cell",
                 "; ".join(f"{k} {c:.1e} cells" for k, (c, _) in checks.items()), cells <= 1e-6))
    extra = (t.cpu_s["sinkzone run, 20 epochs"] - t.cpu_s["sinkzone run, 1 epoch"]) / 19
    decode = by["decode floor: 1 epoch, 1 thread"]["decode_cpu_s"]
    rows.append(("each extra epoch <= 2x one thread's decode, CPU seconds",
                 f"{extra:.2f} CPU-s (1 -> 20 epochs) vs decode {decode:.2f} CPU-s = {extra / decode:.1f}x",
                 extra <= 2 * decode))
    peaks = t.peak_mb[["sinkzone run, 1 epoch", "sinkzone run, 5 epochs", "sinkzone run, 20 epochs",
                       "sinkzone run, 1 epoch, 3x3 tile mosaic"]]
    rows.append((f"peak memory <= {MAX_PEAK_MB} MB (1, 5, 20 epochs; 9-tile mosaic)",
                 ", ".join(f"{p:.0f}" for p in peaks) + " MB", bool(peaks.max() <= MAX_PEAK_MB)))
    first, later = t.first_log_line_s["sinkzone run, 1 epoch"], t.first_log_line_s.drop("sinkzone run, 1 epoch")
    rows.append(("start-up: first log line <= 0.5 s", f"{first:.2f} s in the first run; median "
                 f"{later.median():.2f} s in the {later.count()} later runs", first <= 0.5))
    book, five = t.workbook_s["sinkzone run, 5 epochs"], t.wall_s["sinkzone run, 5 epochs"]
    rows.append(("tables.xlsx <= 10 % of a 5-epoch run", f"{book:.2f} s of {five:.2f} s = {book / five:.1%}",
                 book <= 0.1 * five))
    one, two = (t.loc[f"sinkzone run, 5 epochs, LocalCluster {n}"] for n in ("1 worker", "2 workers"))
    rows.append(("two workers >= 1.7x one (LocalCluster, cluster start excluded)",
                 f"{one.wall_s:.2f} s / {two.wall_s:.2f} s = {one.wall_s / two.wall_s:.2f}x (whole runs, 5 epochs); "
                 f"the compute step alone {one.compute_s:.1f} s / {two.compute_s:.1f} s = "
                 f"{one.compute_s / two.compute_s:.2f}x", one.wall_s / two.wall_s >= 1.7))
    return pd.DataFrame(rows, columns=["goal", "measured", "met"]).assign(met=lambda f: f.met.map({True: "yes",
                                                                                                 False: "no"}))


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
    parser.add_argument("--tables", action="store_true",
                        help="no runs: the tables again from the last run's measurements (results.json)")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        CHILDREN[spec["tool"]](spec)
        return
    work = args.work.resolve()
    (work / "answers").mkdir(exist_ok=True)
    (work / "runs").mkdir(exist_ok=True)
    specs = cases(work)
    for k, spec in enumerate(specs):
        spec["answer"] = str(work / "answers" / f"row{k}.{'pkl' if spec['tool'] == 'exactextract' else 'csv'}")
        spec["out"] = str(work / "runs" / f"row{k}")
    if args.tables:
        report(specs, json.loads((work / "results.json").read_text()), note=(work / "note.txt").read_text())
        return
    chosen = [s for s in specs if not args.only or args.only in s["label"]]
    started, load = time.perf_counter(), os.getloadavg()
    results = [measure(spec) for spec in chosen]
    if args.only:
        return
    note = (f"One run of `make bench` on this machine ({os.cpu_count()} cores, shared); load average (1 min) "
            f"{load[0]:.2f} before and {os.getloadavg()[0]:.2f} after the {time.perf_counter() - started:.0f} s run.")
    (work / "results.json").write_text(json.dumps(results))
    (work / "note.txt").write_text(note)
    report(specs, results, note=note)


def report(specs: list[dict[str, Any]], results: list[dict[str, Any]], *, note: str) -> None:
    """The goals and the rows, printed and written to results.md and results.csv beside the case."""
    work = Path(specs[0]["zones"]).parent
    for spec, result in zip(specs, results, strict=True):
        spec.update(result)
    t = table(specs, results)
    met = goals(t, {s["label"]: s for s in specs})
    rows_md, goals_md = markdown(t.reset_index()), markdown(met)
    (work / "results.md").write_text(f"{goals_md}\n\n{rows_md}\n\n{note}\n")
    t.to_csv(work / "results.csv")
    print(f"{goals_md}\n\n{rows_md}\n\n{note}\ntable in {work / 'results.md'}")


if __name__ == "__main__":
    main()
