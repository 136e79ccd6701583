"""The runner: check inputs, build one lazy dask graph over raster chunks, compute once, write.

Coverage of the zones is computed once per grid and expanded to per-chunk cell weights once per
chunk; every epoch on that grid reuses them, so N epochs cost far less than N separate runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
from dask.callbacks import Callback
from dask.delayed import Delayed
from numpy.typing import NDArray

from pipeline import io, planning, provenance
from pipeline.classmaps import ClassMap
from pipeline.config import Epoch, RunConfig, load_class_map
from pipeline.coverage import Coverage, zone_coverage
from pipeline.errors import OutputError, SinkzoneError, ValidationFailed
from pipeline.grid import Grid, area_units, row_cell_areas_m2, to_pixel_space, zone_areas_m2
from pipeline.stages.class_area import (
    M2_PER_HA,
    MU_PER_HA,
    check_codes_mapped,
    class_area_table,
    wide_class_area,
)
from pipeline.stages.zonal import (
    CellWeights,
    ZoneValueTotals,
    cell_weights,
    land_codes,
    merge_totals,
    zone_value_totals,
)
from pipeline.zones import PreparedZones, prepare_zones, zones_off_grid

log = logging.getLogger(__name__)
ProgressHook = Callable[[int, int], None]
_MERGE_FAN_IN = 8


@dataclass(frozen=True)
class Inputs:
    """Everything read and checked before any compute."""

    config: RunConfig
    class_map: ClassMap
    rasters: tuple[io.RasterInfo, ...]
    zones: PreparedZones
    notes: tuple[str, ...] = ()
    plans: pd.DataFrame | None = None

    @property
    def grid(self) -> Grid:
        return self.rasters[0].grid


@dataclass
class RunResult:
    out_dir: Path
    tables: dict[str, pd.DataFrame]
    zones: gpd.GeoDataFrame
    record: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


def _epoch_nodata(epoch: Epoch, info: io.RasterInfo) -> float | None:
    return epoch.nodata if epoch.nodata is not None else info.nodata


def _check_raster(epoch: Epoch, info: io.RasterInfo, first: io.RasterInfo | None) -> list[str]:
    problems = []
    if not np.issubdtype(np.dtype(info.dtype), np.integer):
        problems.append(f"{epoch.path}: land cover must hold integer class codes, but the raster is {info.dtype}")
    if first is not None and info.grid != first.grid:
        problems.append(f"{epoch.path}: its grid differs from {first.path} (CRS, extent or cell size); "
                        "all epochs must share one grid, so warp them (nearest neighbour) to one grid first")
    return problems


def _read_rasters(config: RunConfig, problems: list[str]) -> list[io.RasterInfo]:
    infos: list[io.RasterInfo] = []
    for epoch in config.landcover:
        try:
            info = io.raster_info(epoch.path)
        except SinkzoneError as exc:
            problems.append(str(exc))
            continue
        problems.extend(_check_raster(epoch, info, infos[0] if infos else None))
        infos.append(info)
    return infos


def _version_notes(config: RunConfig) -> list[str]:
    tags = {(e.product, e.version) for e in config.landcover if e.version is not None}
    if len(tags) > 1:
        listed = ", ".join(f"{e.year}: {e.product} {e.version}" for e in config.landcover)
        return [f"epochs come from different product versions ({listed}); part of their difference is a "
                "change of method, not of land"]
    return []


def check_inputs(config: RunConfig, *, deep: bool = True) -> Inputs:
    """Read every header and the zones, collect every problem, and raise them all at once."""
    problems: list[str] = []
    infos = _read_rasters(config, problems)
    class_map = None
    try:
        class_map = load_class_map(config.classes)
    except SinkzoneError as exc:
        problems.append(str(exc))
    zones = None
    if infos and len(infos) == len(config.landcover):
        zones = _read_zones(config, infos[0].grid, problems)
    plans = planning.read_plans(config, zones, problems) if zones is not None else None
    if deep and not problems:
        for info in infos:
            _try(partial(io.check_readable, info.path), problems)
    if problems or class_map is None or zones is None:
        raise ValidationFailed(problems or ["inputs could not be read"])
    notes = [*zones.repairs, *_version_notes(config), *_layout_notes(infos)]
    return Inputs(config=config, class_map=class_map, rasters=tuple(infos), zones=zones, notes=tuple(notes),
                  plans=plans)


def _try(step: Callable[[], object], problems: list[str]) -> None:
    try:
        step()
    except SinkzoneError as exc:
        problems.append(str(exc))


def _read_zones(config: RunConfig, grid: Grid, problems: list[str]) -> PreparedZones | None:
    source = str(config.zones.path)
    try:
        frame = io.read_zones(config.zones.path, layer=config.zones.layer)
        zones = prepare_zones(frame, id_field=config.zones.id_field, grid=grid, source=source)
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    missed = zones_off_grid(zones, grid)
    if missed:
        problems.append(f"{source}: {len(missed)} zone(s) lie entirely off the raster extent: {missed[:10]}")
    return zones


def _layout_notes(infos: Sequence[io.RasterInfo]) -> list[str]:
    notes = []
    for info in infos:
        rows, cols = info.block_shape
        if rows * cols >= info.grid.width * info.grid.height and info.grid.width * info.grid.height > 4096**2:
            notes.append(f"{info.path}: stored as a single block; every chunk decodes the whole file. "
                         "Rewrite it tiled (gdal_translate -co TILED=YES -co COMPRESS=DEFLATE)")
    return notes


# ---- the graph ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkPlan:
    """Where each chunk lies: row and column offsets and sizes, as dask sees the arrays."""

    row_offsets: tuple[int, ...]
    row_sizes: tuple[int, ...]
    col_offsets: tuple[int, ...]
    col_sizes: tuple[int, ...]

    def windows(self) -> Iterator[tuple[int, int, int, int, int, int]]:
        """(i, j, row_off, col_off, height, width) for every chunk."""
        for i, (r0, h) in enumerate(zip(self.row_offsets, self.row_sizes, strict=True)):
            for j, (c0, w) in enumerate(zip(self.col_offsets, self.col_sizes, strict=True)):
                yield i, j, r0, c0, h, w


def _plan_of(chunks: tuple[tuple[int, ...], tuple[int, ...]]) -> ChunkPlan:
    rows, cols = chunks
    return ChunkPlan(row_offsets=tuple(np.cumsum((0, *rows[:-1])).tolist()), row_sizes=rows,
                     col_offsets=tuple(np.cumsum((0, *cols[:-1])).tolist()), col_sizes=cols)


def _window_weights(cov: Coverage, row_off: int, col_off: int, height: int, width: int,
                    row_units: NDArray[np.float64]) -> CellWeights:
    return cell_weights(cov.window(row_off, col_off, height, width), row_units)


def tree_merge(parts: list[Delayed]) -> Delayed:
    """Add partial totals in a tree of bounded fan-in, so no task holds every chunk's result."""
    while len(parts) > 1:
        parts = [dask.delayed(merge_totals, pure=True)(*parts[i:i + _MERGE_FAN_IN])
                 for i in range(0, len(parts), _MERGE_FAN_IN)]
    return parts[0]


@dataclass(frozen=True)
class ZonalGraph:
    """Lazy per-chunk cell weights for one grid and zone set, and the chunk blocks of each epoch."""

    plan: ChunkPlan
    weights: dict[tuple[int, int], Delayed]
    unit_m2: float
    coverage: Delayed


def zonal_graph(grid: Grid, geoms: NDArray[np.object_], *,
                chunks: tuple[tuple[int, ...], tuple[int, ...]]) -> ZonalGraph:
    """Coverage once, then one cell-weights task per chunk, all lazy."""
    row_units, unit_m2 = area_units(row_cell_areas_m2(grid))
    coverage = dask.delayed(zone_coverage, pure=True)(to_pixel_space(geoms, grid), grid.shape)
    plan = _plan_of(chunks)
    weights = {
        (i, j): dask.delayed(_window_weights, pure=True)(coverage, r0, c0, h, w, row_units[r0:r0 + h])
        for i, j, r0, c0, h, w in plan.windows()
    }
    return ZonalGraph(plan=plan, weights=weights, unit_m2=unit_m2, coverage=coverage)


def epoch_totals(graph: ZonalGraph, blocks: NDArray[np.object_], *, nodata: float | None) -> Delayed:
    """(zone, code) area totals of one land-cover raster, from its delayed blocks."""
    parts = [
        dask.delayed(zone_value_totals, pure=True)(dask.delayed(land_codes, pure=True)(blocks[i, j], nodata=nodata),
                                                   graph.weights[i, j])
        for i, j, *_ in graph.plan.windows()
    ]
    return tree_merge(parts)


def zone_code_totals(landcover: NDArray[np.integer] | da.Array, grid: Grid, geoms: NDArray[np.object_], *,
                     nodata: float | None) -> tuple[ZoneValueTotals, float]:
    """(zone, code) area totals and the area unit in m², for an in-memory or a dask land-cover array.

    A numpy array is one chunk; a dask array runs the same chunked graph as a full run. Both give
    identical integer totals. Geometries must be in the grid's CRS.
    """
    if isinstance(landcover, da.Array):
        row_chunks, col_chunks = landcover.chunks
        graph = zonal_graph(grid, geoms, chunks=(row_chunks, col_chunks))
        totals = epoch_totals(graph, landcover.to_delayed(), nodata=nodata)
        return dask.compute(totals, scheduler="threads")[0], graph.unit_m2
    row_units, unit_m2 = area_units(row_cell_areas_m2(grid))
    weights = cell_weights(zone_coverage(to_pixel_space(geoms, grid), grid.shape), row_units)
    return zone_value_totals(land_codes(np.asarray(landcover), nodata=nodata), weights), unit_m2


def build_graph(inputs: Inputs) -> tuple[ZonalGraph, dict[int, Delayed]]:
    """The whole run as one lazy graph: one totals node per epoch."""
    chunks = io.block_aligned_chunks(inputs.rasters[0], target_cells=inputs.config.compute.chunk_cells)
    arrays = {e.year: io.open_lazy(e.path, chunks=chunks) for e in inputs.config.landcover}
    row_chunks, col_chunks = next(iter(arrays.values())).data.chunks
    graph = zonal_graph(inputs.grid, inputs.zones.geoms, chunks=(row_chunks, col_chunks))
    totals = {
        epoch.year: epoch_totals(graph, arrays[epoch.year].data.to_delayed(), nodata=_epoch_nodata(epoch, info))
        for epoch, info in zip(inputs.config.landcover, inputs.rasters, strict=True)
    }
    return graph, totals


class _ProgressCallback(Callback):
    def __init__(self, hook: ProgressHook) -> None:
        super().__init__()
        self._hook = hook
        self._done = 0
        self._total = 0

    def _start_state(self, dsk: Any, state: Any) -> None:
        self._total = sum(len(state[k]) for k in ("ready", "waiting", "running"))
        self._hook(0, self._total)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        self._done += 1
        self._hook(self._done, self._total)


@contextmanager
def _scheduler(address: str | None) -> Iterator[Any]:
    if address is None:
        yield None
        return
    from distributed import Client

    try:
        client = Client(address, timeout="20s")
    except OSError as exc:
        raise SinkzoneError(f"cannot reach the dask scheduler at {address} ({exc})") from exc
    with client:
        log.info("computing on the dask.distributed cluster at %s (%d workers)", address,
                 len(client.scheduler_info().get("workers", {})))
        yield client


def compute(nodes: Any, *, config: RunConfig, progress: ProgressHook | None) -> Any:
    """Compute the graph once, locally with threads or on the cluster the config names."""
    with _scheduler(config.compute.scheduler) as client:
        if client is not None:
            return client.compute(nodes, sync=True)
        hook = _ProgressCallback(progress) if progress else nullcontext()
        with hook:
            return dask.compute(nodes, scheduler="threads", num_workers=config.compute.workers)[0]


# ---- results -----------------------------------------------------------------------------------


def _zone_layer(inputs: Inputs, zone_area_m2: NDArray[np.float64], wide: pd.DataFrame) -> gpd.GeoDataFrame:
    source = inputs.zones.source
    ids = inputs.zones.ids.astype(str)
    added = pd.DataFrame({"zone_id": ids, "area_ha": zone_area_m2 / M2_PER_HA,
                          "area_mu": zone_area_m2 / M2_PER_HA * MU_PER_HA}, index=source.index)
    per_class = wide.set_axis(wide.index.astype(str)).reindex(ids).set_axis(source.index)
    attributes = source.drop(columns=source.geometry.name)
    frame = pd.concat([added[["zone_id"]], attributes, added[["area_ha", "area_mu"]], per_class], axis=1)
    return gpd.GeoDataFrame(frame, geometry=source.geometry.to_numpy(), crs=source.crs)


def tabulate(inputs: Inputs, totals: dict[int, ZoneValueTotals], *, unit_m2: float) -> RunResult:
    """Class-area tables and the zone layer from computed totals; unmapped codes are an error."""
    areas = zone_areas_m2(inputs.zones.geoms, inputs.grid)
    for epoch in inputs.config.landcover:
        check_codes_mapped(totals[epoch.year], inputs.class_map, unit_m2=unit_m2, source=str(epoch.path))
    long = pd.concat([
        class_area_table(totals[year], class_map=inputs.class_map, zone_ids=inputs.zones.ids.astype(str),
                         zone_area_m2=areas, unit_m2=unit_m2, year=year)
        for year in sorted(totals)
    ], ignore_index=True)
    latest = max(totals)
    zones = _zone_layer(inputs, areas, wide_class_area(long, year=latest))
    return RunResult(out_dir=inputs.config.output.dir, tables={"zone_class_area": long}, zones=zones)


def fingerprints(inputs: Inputs) -> list[dict[str, Any]]:
    paths = [e.path for e in inputs.config.landcover] + [inputs.config.zones.path]
    return [io.fingerprint(p) for p in paths]


def run_record(inputs: Inputs, result: RunResult, *, rid: str, prints: list[dict[str, Any]],
               timings: dict[str, float]) -> dict[str, Any]:
    grid = inputs.grid
    return {
        "run_id": rid,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": inputs.config.model_dump(mode="json"),
        "inputs": prints,
        "grid": {"crs": grid.crs.to_string(), "shape": list(grid.shape), "area_method": grid.area_method},
        "class_map": {"name": inputs.class_map.name, "source": inputs.class_map.source},
        "notes": list(inputs.notes),
        "versions": provenance.package_versions(),
        "timings_s": timings,
        "rows": {"zones": len(result.zones), **{k: len(v) for k, v in result.tables.items()}},
    }


def run(config: RunConfig, *, overwrite: bool = False, progress: ProgressHook | None = None) -> RunResult:
    """Check, compute and write one run. Unchanged inputs and config skip the work unless overwrite."""
    started = time.perf_counter()
    inputs = check_inputs(config)
    for note in inputs.notes:
        log.warning(note)
    prints = fingerprints(inputs)
    rid = provenance.run_id(config.model_dump(mode="json"), prints)
    previous = io.read_run_record(config.output.dir)
    if previous is not None and not overwrite:
        if previous.get("run_id") == rid:
            log.info("inputs and config unchanged since the last run (run id %s); nothing to do", rid)
            return RunResult(out_dir=config.output.dir, tables={}, zones=gpd.GeoDataFrame(), record=previous,
                             skipped=True)
        if previous.get("config", {}).get("name") != config.name:
            raise OutputError(f"{config.output.dir}: holds the output of another run "
                              f"({previous.get('config', {}).get('name')!r}); pass --overwrite to replace it")
    _log_inputs(inputs)
    checked = time.perf_counter()
    graph, totals = build_graph(inputs)
    chunks = io.block_aligned_chunks(inputs.rasters[0], target_cells=config.compute.chunk_cells)
    extra = planning.candidate_graph(inputs, chunks=chunks)
    computed, found = compute((totals, extra), config=config, progress=progress)
    done = time.perf_counter()
    result = tabulate(inputs, computed, unit_m2=graph.unit_m2)
    planning.add_outputs(result, inputs, found)
    timings = {"check_s": checked - started, "compute_s": done - checked}
    result.record = run_record(inputs, result, rid=rid, prints=prints, timings=timings)
    with io.staged_output(config.output.dir) as folder:
        io.write_outputs(folder, gpkg_layers={"zones": result.zones, **result.tables}, record=result.record,
                         extras=planning.report_writer(inputs, result))
    return result


def _log_inputs(inputs: Inputs) -> None:
    grid = inputs.grid
    for info in inputs.rasters:
        log.info("land cover %s: %d x %d cells, %s, blocks %s, nodata %s", info.path, grid.width, grid.height,
                 info.dtype, info.block_shape, info.nodata)
    log.info("grid CRS %s; cell areas %s", grid.crs.name, "exact per row on the ellipsoid"
             if grid.is_geographic else "planar in the raster's CRS")
    log.info("zones %s: %d zones, class map %s", inputs.config.zones.path, len(inputs.zones.ids), inputs.class_map.name)

