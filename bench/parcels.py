"""Benchmark at 小班 scale: 40,000 sub-compartments over a 5000 x 5000, 20-epoch CLCD-like series.

`make` builds the case once (seeded, cached under bench/work/parcels): 20 uint8 GeoTIFFs with CLCD codes
on a 30 m UTM grid near Baotou (512 x 512 tiles, DEFLATE; patchy classes from smoothed noise plus
single-cell speckle, a few per cent of cells changing class each year), and a parcel layer of 40,000
sub-compartments of 0.01-26 ha (a Voronoi partition of clustered random seeds, each cell shrunk about its
centroid to a log-uniform target area, so parcels never overlap, then densified and wiggled to about 40
vertices each). `run` times `sinkzone run` on it in a child process, sampling the summed RSS of the
process tree every 0.1 s, and writes bench/work/parcels/results.md. `history` then stores the carbon case's output
in a history GeoPackage (and a PostGIS store with `--postgis URL`), twice: the second time a copy of the output
under another run id stands for next year's run. It times each ingest and `zone_series` for one zone, and
compares the history GeoPackage's size with the run's own (bench/work/parcels/history.md). `platform` serves that
history (both runs) with a real `sinkzone serve`, logs in as a viewer and times 200 requests each of the overview, a
zone page and the overview's map data, and counts the bytes the overview ships to a browser (bench/work/parcels/
platform.md, also appended to results.md).

    PYTHONPATH=. python bench/parcels.py make --work bench/work/parcels
    PYTHONPATH=. python bench/parcels.py run --work bench/work/parcels
    PYTHONPATH=. python bench/parcels.py history --work bench/work/parcels [--postgis postgresql://...]
    PYTHONPATH=. python bench/parcels.py platform --work bench/work/parcels [--requests 200]
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import psutil
import rasterio
import shapely
import yaml
from rasterio.transform import from_origin
from scipy import ndimage

SIZE = 5000
EPOCHS = tuple(range(2001, 2021))
CELL_M = 30.0
WEST, NORTH = 400_000.0, 4_600_000.0  # UTM 49N, near Baotou
CRS = "EPSG:32649"
N_PARCELS = 40_000
MIN_HA, MAX_HA = 0.01, 26.0
# CLCD codes and a Baotou-like mix: grassland, cropland, bare, forest, shrub, built, water, wetland
CLASS_SHARES = ((4, 0.40), (1, 0.20), (7, 0.14), (2, 0.10), (3, 0.06), (8, 0.05), (5, 0.03), (9, 0.02))
SPECKLE = 0.12
SEED = 20250312
VERSION = 1


def _noise(rng: np.random.Generator, step: int) -> np.ndarray:
    coarse = rng.standard_normal((SIZE // step + 2, SIZE // step + 2)).astype(np.float32)
    return ndimage.zoom(coarse, step, order=1)[:SIZE, :SIZE]


def _landscape(rng: np.random.Generator) -> np.ndarray:
    return sum((np.float32(amp) * _noise(rng, step) for step, amp in ((500, 1.0), (125, 0.5), (25, 0.3), (6, 0.12))),
               np.zeros((SIZE, SIZE), dtype=np.float32))


def write_epochs(work: Path) -> list[Path]:
    """Twenty epochs sharing one landscape; a slow drift field and fresh speckle make each year differ."""
    rng = np.random.default_rng(SEED)
    base = _landscape(rng)
    drift = _noise(rng, 250) * np.float32(0.25)
    cuts = np.quantile(base[::37, ::41], np.cumsum([s for _, s in CLASS_SHARES])[:-1])
    codes = np.array([c for c, _ in CLASS_SHARES], dtype=np.uint8)
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 1, "dtype": "uint8", "crs": CRS,
               "transform": from_origin(WEST, NORTH, CELL_M, CELL_M), "nodata": 0, "tiled": True,
               "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
    paths = []
    for k, year in enumerate(EPOCHS):
        values = base + drift * np.float32(k / len(EPOCHS))
        values += np.float32(SPECKLE) * rng.standard_normal(values.shape, dtype=np.float32)
        path = work / f"clcd_{year}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(codes[np.searchsorted(cuts, values)], 1)
        paths.append(path)
    return paths


def make_parcels() -> gpd.GeoDataFrame:
    """Non-overlapping parcels of 0.01-26 ha with about 40 vertices each, clustered like forest farms."""
    rng = np.random.default_rng(SEED + 1)
    span = SIZE * CELL_M
    inset = 0.02 * span
    centres = rng.uniform(inset, span - inset, (60, 2))
    n_seeds = N_PARCELS + N_PARCELS // 50  # a few fall outside the size range and are dropped
    picks = centres[rng.integers(0, len(centres), n_seeds)]
    seeds = picks + rng.normal(0, span / 25, (n_seeds, 2))
    seeds = np.clip(seeds, inset, span - inset) + [WEST, NORTH - span]
    frame = shapely.box(WEST + inset, NORTH - span + inset, WEST + span - inset, NORTH - inset)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = cells[shapely.area(cells) > 0]
    target = np.exp(rng.uniform(np.log(MIN_HA), np.log(MAX_HA), len(cells))) * 1e4
    factor = np.minimum(0.97, np.sqrt(target / shapely.area(cells)))
    centroid = shapely.get_coordinates(shapely.centroid(cells))
    shrunk = np.array([shapely.affinity.scale(g, f, f, origin=shapely.Point(c))
                       for g, f, c in zip(cells, factor, centroid, strict=True)], dtype=object)
    dense = shapely.segmentize(shrunk, shapely.length(shrunk) / 36)
    wiggled = shapely.transform(dense, lambda xy: xy + 0.02 * np.sqrt(factor.min()) * np.sin(xy[:, ::-1] / 7.0))
    parcels = shapely.make_valid(wiggled)
    keep = (shapely.area(parcels) >= MIN_HA * 1e4 * 0.9) & (shapely.area(parcels) <= MAX_HA * 1e4 * 1.1)
    parcels = parcels[keep][:N_PARCELS]
    return gpd.GeoDataFrame({"xiaoban": [f"XB{i + 1:05d}" for i in range(len(parcels))]}, geometry=parcels,
                            crs=CRS)


def make_case(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    stamp = work / "case.json"
    wanted = {"size": SIZE, "epochs": list(EPOCHS), "parcels": N_PARCELS, "seed": SEED, "version": VERSION}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        print(f"case in {work} is up to date")
        return
    parcels = make_parcels()
    parcels["forest_farm"] = _farm_of(parcels)
    parcels.to_file(work / "xiaoban.gpkg", layer="xiaoban", driver="GPKG")
    write_epochs(work)
    n_vertices = int(shapely.get_num_coordinates(parcels.geometry.to_numpy()).sum())
    areas = parcels.area / 1e4
    print(f"wrote {len(EPOCHS)} epochs of {SIZE} x {SIZE} cells and {len(parcels):,} parcels "
          f"({areas.min():.3f}-{areas.max():.1f} ha, {n_vertices:,} vertices) to {work}")
    stamp.write_text(json.dumps(wanted))


def _farm_of(parcels: gpd.GeoDataFrame) -> list[str]:
    """Each parcel's forest farm (片区): a 6 x 6 grid of blocks over the area, as a bureau groups them."""
    xy = shapely.get_coordinates(parcels.geometry.centroid.to_numpy())
    block = (SIZE * CELL_M) / 6
    col = np.clip(((xy[:, 0] - WEST) // block).astype(int), 0, 5)
    row = np.clip(((NORTH - xy[:, 1]) // block).astype(int), 0, 5)
    return [f"林场{r * 6 + c + 1:02d}" for r, c in zip(row, col, strict=True)]


# ---- the timed run ------------------------------------------------------------------------------


CASES = {
    "carbon": {},
    "carbon + candidates": {"candidates": {"lookback_years": 3}},
    "carbon + candidates + report by 林场": {"candidates": {"lookback_years": 3},
                                              "report": {"enabled": True, "group_field": "forest_farm"}},
}


def write_config(work: Path, label: str, extra: dict[str, Any]) -> Path:
    slug = "_".join(w for w in label.replace("+", " ").split() if w.isascii())
    config = {"name": f"parcels_{slug}",
              "landcover": [{"year": y, "path": f"clcd_{y}.tif", "product": "clcd"} for y in EPOCHS],
              "classes": "clcd", "zones": {"path": "xiaoban.gpkg", "id_field": "xiaoban"},
              "output": {"dir": f"out_{slug}"}, "carbon": {"pools": "baotou"}, **extra}
    path = work / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def timed(config: Path) -> dict[str, Any]:
    """Wall time and peak summed RSS of `sinkzone run` and its children, sampled every 0.1 s."""
    sinkzone = Path(sys.executable).with_name("sinkzone")
    started = time.perf_counter()
    proc = psutil.Popen([str(sinkzone), "run", str(config), "--overwrite"], stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(0.1)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{config}: sinkzone run failed:\n{proc.stderr.read().decode() if proc.stderr else ''}")
    out = config.parent / yaml.safe_load(config.read_text(encoding="utf-8"))["output"]["dir"]
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    # decimal MB (10^6 bytes), the unit of the targets (3 GB, 500 MB)
    return {"wall_s": wall, "peak_mb": peak / 1e6, "gpkg_mb": (out / "sinkzones.gpkg").stat().st_size / 1e6,
            "compute_s": record["timings_s"]["compute_s"], "rows": record["rows"]}


def run_cases(work: Path, names: list[str]) -> None:
    lines = ["| case | wall s | compute s | peak MB | GeoPackage MB | zone_carbon rows | candidates |",
             "|---|---|---|---|---|---|---|"]
    for label in names:
        extra = CASES[label]
        result = timed(write_config(work, label, extra))
        rows = result["rows"]
        lines.append(f"| {label} | {result['wall_s']:.1f} | {result['compute_s']:.1f} | {result['peak_mb']:.0f} | "
                     f"{result['gpkg_mb']:.0f} | {rows.get('zone_carbon', 0):,} | "
                     f"{rows.get('afforestation_candidates', 0):,} |")
        print(lines[-1], flush=True)
    (work / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def _second_run(out: Path) -> Path:
    """A copy of the output whose run.json names another run id: next year's run, as far as the store can tell."""
    copy = out.with_name(out.name + "_next")
    shutil.rmtree(copy, ignore_errors=True)
    subprocess.run(["cp", "-a", str(out), str(copy)], check=True)
    record = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    record["run_id"] = "next" + record["run_id"][4:]
    (copy / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return copy


def _history_case(out: Path, target: str) -> dict[str, float]:
    from pipeline.record import queries
    from pipeline.record.ingest import ingest_folder
    from pipeline.record.store import open_store

    times = {}
    for label, folder in (("first", out), ("second", _second_run(out))):
        started = time.perf_counter()
        ingest_folder(folder, target=target)
        times[f"ingest {label} s"] = time.perf_counter() - started
    with open_store(target, create=False) as store:
        zone = str(store.query("SELECT zone_id FROM zone_versions LIMIT 1")["zone_id"].iloc[0])
        best = []
        for _ in range(5):
            started = time.perf_counter()
            found = store.query("SELECT * FROM zone_series WHERE zone_id = ?", (zone,))
            best.append(time.perf_counter() - started)
    times["zone_series one zone ms"] = min(best) * 1000
    times["zone_series rows"] = float(len(found))
    with open_store(target, create=False) as store:  # an accept rewrites current_zones for the run's zone set
        started = time.perf_counter()
        queries.review(store, "next", state="accepted", by="bench")
        times["accept s"] = time.perf_counter() - started
    return times


def history_bench(work: Path, *, postgis: str | None) -> None:
    out = work / "out_carbon"
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    gpkg = work / "history.gpkg"
    gpkg.unlink(missing_ok=True)
    targets = {"GeoPackage": str(gpkg), **({"PostGIS": postgis} if postgis else {})}
    timed_run = next((line.split("|")[2].strip() for line in (work / "results.md").read_text(encoding="utf-8")
                      .splitlines() if line.startswith("| carbon |")), "?")
    lines = [f"the run: {timed_run} s wall (results.md), {sum(record['rows'].values()):,} rows; its GeoPackage "
             f"{(out / 'sinkzones.gpkg').stat().st_size / 1e6:.0f} MB",
             "| store | ingest s (1st run) | ingest s (2nd run) | zone_series one zone, ms (best of 5) | rows | "
             "accept the 2nd run s |", "|---|---|---|---|---|---|"]
    for name, target in targets.items():
        t = _history_case(out, target)
        lines.append(f"| {name} | {t['ingest first s']:.1f} | {t['ingest second s']:.1f} | "
                     f"{t['zone_series one zone ms']:.1f} | {t['zone_series rows']:.0f} | {t['accept s']:.1f} |")
        print(lines[-1], flush=True)
    per_run = gpkg.stat().st_size / 2 / (out / "sinkzones.gpkg").stat().st_size
    lines.append(f"history GeoPackage with both runs: {gpkg.stat().st_size / 1e6:.0f} MB, {per_run:.2f}x the run's "
                 "GeoPackage per run")
    (work / "history.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


# ---- the platform on that history ---------------------------------------------------------------

P95_GOAL_MS = 300.0
OVERVIEW_GOAL_MB = 2.0  # decimal MB, as the "under 2 MB"
VIEWER = "bench_viewer"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(history: Path, port: int) -> subprocess.Popen[bytes]:
    """A real `sinkzone serve`, waited for until it answers (its own tables are made beside the history)."""
    sinkzone = Path(sys.executable).with_name("sinkzone")
    server = subprocess.Popen([str(sinkzone), "serve", "--history", str(history), "--bind", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"sinkzone serve stopped:\n{server.stderr.read().decode() if server.stderr else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return server
        time.sleep(0.1)
    server.terminate()
    raise SystemExit("sinkzone serve did not answer within 60 s")


def _viewer(history: Path) -> str:
    """A viewer with a fresh password (added once; later runs reset nothing and reuse the saved password)."""
    saved = history.with_name("bench-viewer.txt")
    if saved.is_file():
        return saved.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(12)
    sinkzone = Path(sys.executable).with_name("sinkzone")
    subprocess.run([str(sinkzone), "users", "add", VIEWER, "--role", "viewer", "--history", str(history)],
                   input=password + "\n", text=True, check=True, stdout=subprocess.DEVNULL)
    saved.write_text(password, encoding="utf-8")
    return password


def _logged_in(base: str, password: str) -> urllib.request.OpenerDirector:
    """A browser-like client with the viewer's session: the login form's CSRF token posted back with its cookie."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    if token is None:
        raise SystemExit("the login page has no CSRF token")
    # landing on the runs page: the first overview after a run is then timed as such, not inside the log-in
    body = urllib.parse.urlencode({"username": VIEWER, "password": password, "csrfmiddlewaretoken": token[1],
                                   "next": "/runs/"})
    landed = opener.open(urllib.request.Request(f"{base}/login/", data=body.encode(), headers={"Referer": base}))
    if urllib.parse.urlparse(landed.geturl()).path.startswith("/login"):
        raise SystemExit("the viewer could not log in")
    return opener


def _timed_gets(opener: urllib.request.OpenerDirector, url: str, n: int) -> dict[str, float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        with opener.open(url) as answer:
            answer.read()
        took.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(took, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "max": max(took)}


def _overview_bytes(opener: urllib.request.OpenerDirector, base: str) -> dict[str, int]:
    """What a browser fetches for the overview: the HTML, the map data its map element names, its scripts and
    styles (Leaflet's marker and layer images are never asked for: the map has neither)."""
    html = opener.open(f"{base}/").read()
    text = html.decode()
    found = {"HTML": len(html)}
    for url in re.findall(r'data-url="([^"]+)"', text):
        found["map data"] = found.get("map data", 0) + len(opener.open(base + url).read())
    for url in sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', text))):
        found["static"] = found.get("static", 0) + len(opener.open(base + url).read())
    return found


def platform_bench(work: Path, *, requests: int) -> None:
    from pipeline.record.store import open_store

    history = work / "history.gpkg"
    with open_store(str(history), create=False) as store:
        zone = str(store.query("SELECT MIN(zone_id) AS zone_id FROM zone_versions")["zone_id"].iloc[0])
        n_runs = int(store.query("SELECT COUNT(*) AS n FROM runs")["n"].iloc[0])
    port = _free_port()
    password = _viewer(history)
    server = _serve(history, port)
    try:
        base = f"http://127.0.0.1:{port}"
        opener = _logged_in(base, password)
        pages = {"overview /": "/", f"zone page /zones/{zone}/": f"/zones/{urllib.parse.quote(zone)}/",
                 "map data /api/v1/zones.geojson": "/api/v1/zones.geojson"}
        # the platform reads the zones, their alerts and map outlines once per store state (runs and reviews):
        # the first answer after a run or a review pays for it, timed apart from the 200
        first = {label: _timed_gets(opener, base + url, 1)["max"] for label, url in pages.items()}
        times = {label: _timed_gets(opener, base + url, requests) for label, url in pages.items()}
        shipped = _overview_bytes(opener, base)
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = [f"platform: `sinkzone serve` on history.gpkg ({n_runs} runs), a viewer, {requests} requests each, "
             f"load {' '.join(f'{x:.2f}' for x in psutil.getloadavg())}",
             "| goal | measured | met |", "|---|---|---|"]
    for label, t in times.items():
        goal = "" if label.startswith("map data") else f"p95 < {P95_GOAL_MS:.0f} ms: "
        met = "—" if not goal else ("yes" if t["p95"] < P95_GOAL_MS else "no")
        lines.append(f"| {goal}{label} | p50 {t['p50']:.0f} / p95 {t['p95']:.0f} / max {t['max']:.0f} ms "
                     f"(first answer after the run: {first[label] / 1000:.1f} s) | {met} |")
    total_mb = sum(shipped.values()) / 1e6
    parts = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in shipped.items())
    lines.append(f"| overview ships < {OVERVIEW_GOAL_MB:.0f} MB | {total_mb:.2f} MB ({parts}) | "
                 f"{'yes' if total_mb < OVERVIEW_GOAL_MB else 'no'} |")
    text = "\n".join(lines) + "\n"
    (work / "platform.md").write_text(text, encoding="utf-8")
    with (work / "results.md").open("a", encoding="utf-8") as results:
        results.write("\n" + text)
    print(text, end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("make", "run", "history", "platform"))
    parser.add_argument("--postgis", help="also time a PostGIS history store at this URL (the writer role)")
    parser.add_argument("--work", type=Path, default=Path("bench/work/parcels"))
    parser.add_argument("--requests", type=int, default=200, help="platform: requests per page timed")
    parser.add_argument("--cases", nargs="*", choices=list(CASES), default=list(CASES), help="which runs to time")
    args = parser.parse_args()
    if args.action == "make":
        make_case(args.work)
    elif args.action == "history":
        history_bench(args.work.resolve(), postgis=args.postgis)
    elif args.action == "platform":
        platform_bench(args.work.resolve(), requests=args.requests)
    else:
        run_cases(args.work.resolve(), args.cases)


if __name__ == "__main__":
    main()
