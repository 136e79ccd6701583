"""The runner: from checked inputs (pipeline.inputs), build one lazy dask graph, compute once, write.

Coverage of the zones is computed once per band of chunk rows; each chunk task expands it to cell
weights once and sums every epoch with them, so N epochs cost far less than N separate runs.
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
from dask.array.core import normalize_chunks
from dask.callbacks import Callback
from dask.delayed import Delayed
from numpy.typing import NDArray

from pipeline import io, planning, provenance, runner_carbon
from pipeline.config import RunConfig
from pipeline.coverage import Coverage, zone_coverage
from pipeline.errors import OutputError, SinkzoneError
from pipeline.grid import Grid, area_units, row_cell_areas_m2, to_pixel_space, zone_areas_m2
from pipeline.inputs import Inputs, check_inputs, epoch_nodata, nodata_hint
from pipeline.qgis_project import build_package
from pipeline.stages.class_area import (
    M2_PER_HA,
    MU_PER_HA,
    check_codes_mapped,
    class_area_table,
    wide_class_area,
)
from pipeline.stages.zonal import (
    ZoneSums,
    ZoneValueTotals,
    cell_weights,
    chunk_totals,
    merge_sums,
    merge_totals,
    zone_weighted_sums,
)

log = logging.getLogger(__name__)
ProgressHook = Callable[[int, int], None]
_MERGE_FAN_IN = 8


@dataclass
class RunResult:
    out_dir: Path
    tables: dict[str, pd.DataFrame]
    zones: gpd.GeoDataFrame
    record: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


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


def tree_merge(parts: list[Delayed], *, merge: Callable[..., Any] = merge_totals) -> Delayed:
    """Add partial totals in a tree of bounded fan-in, so no task holds every chunk's result."""
    while len(parts) > 1:
        parts = [dask.delayed(merge, pure=True)(*parts[i:i + _MERGE_FAN_IN])
                 for i in range(0, len(parts), _MERGE_FAN_IN)]
    return parts[0]


@dataclass(frozen=True)
class ZonalGraph:
    """The lazy coverage of one zone set on one grid, one task per band of chunk rows."""

    plan: ChunkPlan
    bands: tuple[Delayed, ...]
    row_units: NDArray[np.float64]
    unit_m2: float


def zonal_graph(grid: Grid, geoms: NDArray[np.object_], *,
                chunks: tuple[tuple[int, ...], tuple[int, ...]]) -> ZonalGraph:
    """Coverage once per band of chunk rows, lazy; chunk tasks window their band's coverage.

    Bands are independent tasks, so coverage runs in parallel and chunk work starts as soon as its
    own band is ready; no task ever holds the coverage of the whole raster.
    """
    row_units, unit_m2 = area_units(row_cell_areas_m2(grid))
    plan = _plan_of(chunks)
    pixel_geoms = dask.delayed(to_pixel_space(geoms, grid), pure=True)
    bands = tuple(dask.delayed(zone_coverage, pure=True)(pixel_geoms, grid.shape, rows=(r0, r0 + h))
                  for r0, h in zip(plan.row_offsets, plan.row_sizes, strict=True))
    return ZonalGraph(plan=plan, bands=bands, row_units=row_units, unit_m2=unit_m2)


def _chunk_task(coverage: Coverage, row_off: int, col_off: int, height: int, width: int,
                row_units: NDArray[np.float64], sources: tuple[io.WindowSource, ...], nodata: tuple[float | None, ...],
                pairs: tuple[tuple[int, int], ...]) -> tuple[ZoneValueTotals, ...]:
    # a generator: the kernel reads each epoch when it is due, so a task holds two blocks, not one per epoch
    blocks = (io.read_window(src, row_off, col_off, height, width) for src in sources)
    return chunk_totals(coverage.window(row_off, col_off, height, width), row_units, blocks, nodata, pairs=pairs)


def _array_chunk_task(coverage: Coverage, row_off: int, col_off: int, row_units: NDArray[np.float64],
                      block: NDArray[np.integer], nodata: float | None) -> ZoneValueTotals:
    height, width = block.shape
    return chunk_totals(coverage.window(row_off, col_off, height, width), row_units, (block,), (nodata,))[0]


def chunked_totals(graph: ZonalGraph, sources: Sequence[io.WindowSource], nodata: Sequence[float | None], *,
                   pairs: Sequence[tuple[int, int]] = ()) -> list[Delayed]:
    """(zone, code) totals of every source, then of every (from, to) pair of sources, all lazy.

    One task per chunk reads every source's window and expands the chunk's cell weights once.
    Reading inside the task keeps reads from running ahead of the work (memory) and leaves no block
    to ship between cluster workers.
    """
    n_out = len(sources) + len(pairs)
    parts = [
        dask.delayed(_chunk_task, pure=True, nout=n_out)(
            graph.bands[i], r0, c0, h, w, graph.row_units[r0:r0 + h], tuple(sources), tuple(nodata), tuple(pairs))
        for i, _, r0, c0, h, w in graph.plan.windows()
    ]
    return [tree_merge([part[k] for part in parts]) for k in range(n_out)]


def _sums_chunk_task(coverage: Coverage, row_off: int, col_off: int, height: int, width: int,
                     row_units: NDArray[np.float64], source: io.WindowSource, nodata: float | None) -> ZoneSums:
    block = io.read_window(source, row_off, col_off, height, width)
    weights = cell_weights(coverage.window(row_off, col_off, height, width), row_units)
    return zone_weighted_sums(block, weights, nodata=nodata)


def chunked_sums(graph: ZonalGraph, source: io.WindowSource, *, nodata: float | None) -> Delayed:
    """Per-zone area-weighted sums of a continuous raster (biomass density), chunk by chunk, lazy."""
    parts = [dask.delayed(_sums_chunk_task, pure=True)(graph.bands[i], r0, c0, h, w, graph.row_units[r0:r0 + h],
                                                       source, nodata)
             for i, _, r0, c0, h, w in graph.plan.windows()]
    return tree_merge(parts, merge=merge_sums)


def zone_code_totals(landcover: NDArray[np.integer] | da.Array, grid: Grid, geoms: NDArray[np.object_], *,
                     nodata: float | None) -> tuple[ZoneValueTotals, float]:
    """(zone, code) area totals and the area unit in m², for an in-memory or a dask land-cover array.

    A numpy array is one chunk; a dask array is summed chunk by chunk as a full run does. Both give
    identical integer totals. Geometries must be in the grid's CRS.
    """
    lazy = landcover if isinstance(landcover, da.Array) else da.from_array(np.asarray(landcover), chunks=-1)
    row_chunks, col_chunks = lazy.chunks
    graph = zonal_graph(grid, geoms, chunks=(row_chunks, col_chunks))
    blocks = lazy.to_delayed()
    parts = [dask.delayed(_array_chunk_task, pure=True)(graph.bands[i], r0, c0, graph.row_units[r0:r0 + h],
                                                        blocks[i, j], nodata)
             for i, j, r0, c0, h, _ in graph.plan.windows()]
    return dask.compute(tree_merge(parts), scheduler="threads")[0], graph.unit_m2


@dataclass(frozen=True)
class RunGraph:
    """The whole run, lazy: class-area totals per epoch and transition totals per consecutive pair."""

    zonal: ZonalGraph
    totals: dict[int, Delayed]
    transitions: dict[tuple[int, int], Delayed]


def build_graph(inputs: Inputs) -> RunGraph:
    """One fused task per chunk computes every epoch and every consecutive-epoch transition."""
    chunks = io.block_aligned_chunks(inputs.rasters[0], target_cells=inputs.config.compute.chunk_cells)
    rows, cols = normalize_chunks(chunks, inputs.grid.shape)
    graph = zonal_graph(inputs.grid, inputs.zones.geoms, chunks=(rows, cols))
    epochs = inputs.config.landcover
    # Transition matrices feed the carbon change tables, so they are computed only when carbon is asked for.
    pairs = list(zip(range(len(epochs) - 1), range(1, len(epochs)), strict=True)) if inputs.carbon else []
    merged = chunked_totals(graph, [io.window_source(e.path) for e in epochs],
                            [epoch_nodata(e, info) for e, info in zip(epochs, inputs.rasters, strict=True)],
                            pairs=pairs)
    totals = {e.year: total for e, total in zip(epochs, merged[:len(epochs)], strict=True)}
    transitions = {(epochs[a].year, epochs[b].year): merged[len(epochs) + k] for k, (a, b) in enumerate(pairs)}
    return RunGraph(zonal=graph, totals=totals, transitions=transitions)


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
    attributes = source.drop(columns=[source.geometry.name, *(["zone_id"] if "zone_id" in source else [])])
    # A source field named like a computed one (say `area_ha`) is kept under `<name>_source`.
    computed = {"zone_id", "area_ha", "area_mu", *per_class.columns}
    attributes = attributes.rename(columns={c: f"{c}_source" for c in attributes.columns if c in computed})
    frame = pd.concat([added[["zone_id"]], attributes, added[["area_ha", "area_mu"]], per_class], axis=1)
    return gpd.GeoDataFrame(frame, geometry=source.geometry.to_numpy(), crs=source.crs)


def tabulate(inputs: Inputs, totals: dict[int, ZoneValueTotals], *, unit_m2: float) -> RunResult:
    """Class-area tables and the zone layer from computed totals; unmapped codes are an error."""
    areas = zone_areas_m2(inputs.zones.geoms, inputs.grid)
    for epoch, info in zip(inputs.config.landcover, inputs.rasters, strict=True):
        hint = partial(nodata_hint, declared=epoch_nodata(epoch, info) is not None)
        check_codes_mapped(totals[epoch.year], inputs.class_map, unit_m2=unit_m2, source=str(epoch.path),
                           hint=hint)
    long = pd.concat([
        class_area_table(totals[year], class_map=inputs.class_map, zone_ids=inputs.zones.ids.astype(str),
                         zone_area_m2=areas, unit_m2=unit_m2, year=year)
        for year in sorted(totals)
    ], ignore_index=True)
    latest = max(totals)
    zones = _zone_layer(inputs, areas, wide_class_area(long, year=latest))
    return RunResult(out_dir=inputs.config.output.dir, tables={"zone_class_area": long}, zones=zones)


def fingerprints(inputs: Inputs) -> list[dict[str, Any]]:
    """Every file the results depend on, so editing any of them makes the next run recompute."""
    config = inputs.config
    paths = [e.path for e in config.landcover] + [config.zones.path]
    if config.classes.endswith((".yaml", ".yml")):
        paths.append(Path(config.classes))
    if config.plans is not None:
        paths.append(config.plans.path)
    paths += runner_carbon.input_paths(config)
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


def run(config: RunConfig, *, overwrite: bool = False, progress: ProgressHook | None = None,
        extras: Callable[[Path], None] | None = None) -> RunResult:
    """Check, compute and write one run. Unchanged inputs and config skip the work unless overwrite."""
    started = time.perf_counter()
    # Chunk reads name a corrupt block themselves, so a run does not decode every block twice.
    inputs = check_inputs(config, deep=False)
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
    graph = build_graph(inputs)
    carbon_nodes = runner_carbon.build_carbon_graph(inputs, graph.transitions) if inputs.carbon else None
    candidates = planning.candidate_graph(inputs, plan=graph.zonal.plan)
    computed, carbon_computed, found = compute((graph.totals, _carbon_parts(carbon_nodes), candidates),
                                               config=config, progress=progress)
    done = time.perf_counter()
    unit_m2 = graph.zonal.unit_m2
    result = tabulate(inputs, computed, unit_m2=unit_m2)
    carbon_notes = _tabulate_carbon(inputs, result, computed, carbon_nodes, carbon_computed, unit_m2=unit_m2)
    planning.add_outputs(result, inputs, found)
    timings = {"check_s": checked - started, "compute_s": done - checked}
    result.record = run_record(inputs, result, rid=rid, prints=prints, timings=timings)
    result.record["notes"].extend(carbon_notes)
    layers = {"zones": result.zones, **result.tables}
    qgis = build_package(layers, title=config.name, class_map=inputs.class_map, out_dir=config.output.dir,
                         landcover=config.landcover[-1].path, landcover_crs=inputs.grid.crs)
    with io.staged_output(config.output.dir) as folder:
        io.write_outputs(folder, gpkg_layers=layers, record=result.record,
                         extras=partial(_write_extras, writers=(
                             partial(io.write_qgis_package, package=qgis, record=result.record),
                             planning.report_writer(inputs, result), extras)))
    return result


def _write_extras(folder: Path, *, writers: Sequence[Callable[[Path], None] | None]) -> None:
    """Files beside the GeoPackage, in order: QGIS project and styles, the report, the caller's run log."""
    for write in writers:
        if write is not None:
            write(folder)


def _carbon_parts(nodes: runner_carbon.CarbonNodes | None) -> Any:
    return None if nodes is None else (nodes.transitions, nodes.biomass)


def _tabulate_carbon(inputs: Inputs, result: RunResult, totals: dict[int, ZoneValueTotals],
                     nodes: runner_carbon.CarbonNodes | None, computed: Any, *, unit_m2: float) -> list[str]:
    """Carbon tables and zone columns from the computed carbon nodes; returns the run's carbon notes."""
    if nodes is None:
        return []
    transitions, biomass = computed
    notes = runner_carbon.tabulate_carbon(
        inputs, result, totals, runner_carbon.CarbonComputed(transitions=transitions, biomass=biomass),
        unit_m2=unit_m2, biomass_unit_m2=nodes.biomass_unit_m2)
    for note in notes:
        log.warning(note)
    return notes


def _log_inputs(inputs: Inputs) -> None:
    grid = inputs.grid
    for info in inputs.rasters:
        log.info("land cover %s: %d x %d cells, %s, blocks %s, nodata %s", info.path, grid.width, grid.height,
                 info.dtype, info.block_shape, info.nodata)
    log.info("grid CRS %s; cell areas %s", grid.crs.name, "exact per row on the ellipsoid"
             if grid.is_geographic else "planar in the raster's CRS")
    log.info("zones %s: %d zones, class map %s", inputs.config.zones.path, len(inputs.zones.ids), inputs.class_map.name)

