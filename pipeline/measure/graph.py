"""The lazy dask graph of a run, and its one compute.

Coverage of the zones is computed once per band of chunk rows; each chunk task reads its own window of
every epoch, expands its band's coverage to cell weights once and sums every epoch (and every transition
pair) with them, so N epochs cost far less than N separate runs. Biomass rasters get their own coverage
on their own grid; afforestation screening reads its windows on the same chunk layout. Reading inside
the tasks keeps reads from running ahead of the work (memory) and leaves no block to ship between
cluster workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.array as da
import dask.threaded
import numpy as np
import pandas as pd
import shapely
from dask.array.core import normalize_chunks
from dask.callbacks import Callback
from dask.delayed import Delayed
from numpy.typing import NDArray

from pipeline.core.config import RunConfig, Transitions
from pipeline.core.coverage import Coverage, zone_coverage
from pipeline.core.errors import SinkzoneError
from pipeline.core.grid import Grid, area_units, centre_cells, row_cell_areas_m2, row_density, to_pixel_space
from pipeline.core.sums import ZoneValueTotals
from pipeline.files.rasters import WindowSource, block_aligned_chunks, read_around, read_window, window_source
from pipeline.inputs.carbon_tables import BiomassInput
from pipeline.inputs.check import Inputs
from pipeline.inputs.landcover import epoch_nodata
from pipeline.inputs.value_rasters import ValueInput
from pipeline.measure.kernels import screening
from pipeline.measure.kernels.compiled import compiled_chunk_totals
from pipeline.measure.kernels.values import ZoneClassValues, chunk_values, merge_values
from pipeline.measure.kernels.zonal import (
    NODATA_CODE,
    ZoneSums,
    cell_weights,
    land_codes,
    merge_sums,
    merge_totals,
    zone_weighted_sums,
)

log = logging.getLogger(__name__)
ProgressHook = Callable[[int, int], None]
Chunks = tuple[tuple[int, ...], tuple[int, ...]]
_MERGE_FAN_IN = 8


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


def _plan_of(chunks: Chunks) -> ChunkPlan:
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


def zonal_graph(grid: Grid, geoms: NDArray[np.object_], *, chunks: Chunks) -> ZonalGraph:
    """Coverage once per band of chunk rows, lazy; chunk tasks window their band's coverage.

    Bands are independent tasks, so coverage runs in parallel and chunk work starts as soon as its
    own band is ready; no task ever holds the coverage of the whole raster.
    """
    row_units, unit_m2 = area_units(row_cell_areas_m2(grid))
    plan = _plan_of(chunks)
    # a random key: hashing thousands of geometries for a content key costs the client a tenth of a second,
    # and the bands that use them are keyed by this key, so nothing is computed twice either way
    pixel_geoms = dask.delayed(to_pixel_space(geoms, grid), pure=False)
    # on lon/lat grids each cell's covered share is weighted by the ellipsoid's density across the cell
    density = dask.delayed(row_density(grid), pure=True)
    bands = tuple(dask.delayed(zone_coverage, pure=True)(pixel_geoms, grid.shape, rows=(r0, r0 + h), density=density)
                  for r0, h in zip(plan.row_offsets, plan.row_sizes, strict=True))
    return ZonalGraph(plan=plan, bands=bands, row_units=row_units, unit_m2=unit_m2)


def _chunk_task(coverage: Coverage, row_off: int, col_off: int, height: int, width: int,
                row_units: NDArray[np.float64], sources: tuple[WindowSource, ...], nodata: tuple[float | None, ...],
                pairs: tuple[tuple[int, int], ...]) -> tuple[ZoneValueTotals, ...]:
    blocks = (read_window(src, row_off, col_off, height, width) for src in sources)
    return compiled_chunk_totals(coverage.window(row_off, col_off, height, width), row_units, blocks, nodata,
                                 pairs=pairs)


def chunked_totals(graph: ZonalGraph, sources: Sequence[WindowSource], nodata: Sequence[float | None], *,
                   pairs: Sequence[tuple[int, int]] = (),
                   within: tuple[float, float, float, float] | None = None) -> list[Delayed]:
    """(zone, code) totals of every source, then of every (from, to) pair of sources, all lazy.

    One task per chunk reads every source's window and expands the chunk's cell weights once. With `within`
    (column and row bounds of the zones in pixel space), chunks outside it are not read.
    """
    n_out = len(sources) + len(pairs)
    parts = [
        dask.delayed(_chunk_task, pure=True, nout=n_out)(
            graph.bands[i], r0, c0, h, w, graph.row_units[r0:r0 + h], tuple(sources), tuple(nodata), tuple(pairs))
        for i, _, r0, c0, h, w in graph.plan.windows()
        if within is None or (c0 < within[2] and c0 + w > within[0] and r0 < within[3] and r0 + h > within[1])
    ]
    if not parts:
        return [dask.delayed(_no_totals(), pure=True) for _ in range(n_out)]
    return [tree_merge([part[k] for part in parts]) for k in range(n_out)]


def _no_totals() -> ZoneValueTotals:
    return ZoneValueTotals(zone=np.zeros(0, dtype=np.int64), value=np.zeros(0, dtype=np.int64),
                           units=np.zeros(0, dtype=np.int64))


def _sums_chunk_task(coverage: Coverage, row_off: int, col_off: int, height: int, width: int,
                     row_units: NDArray[np.float64], source: WindowSource, nodata: float | None) -> ZoneSums:
    block = read_window(source, row_off, col_off, height, width)
    weights = cell_weights(coverage.window(row_off, col_off, height, width), row_units)
    return zone_weighted_sums(block, weights, nodata=nodata)


def chunked_sums(graph: ZonalGraph, source: WindowSource, *, nodata: float | None) -> Delayed:
    """Per-zone area-weighted sums of a continuous raster (biomass density), chunk by chunk, lazy."""
    parts = [dask.delayed(_sums_chunk_task, pure=True)(graph.bands[i], r0, c0, h, w, graph.row_units[r0:r0 + h],
                                                       source, nodata)
             for i, _, r0, c0, h, w in graph.plan.windows()]
    return tree_merge(parts, merge=merge_sums)


def _array_chunk_task(coverage: Coverage, row_off: int, col_off: int, row_units: NDArray[np.float64],
                      block: NDArray[np.integer], nodata: float | None) -> ZoneValueTotals:
    height, width = block.shape
    return compiled_chunk_totals(coverage.window(row_off, col_off, height, width), row_units, (block,), (nodata,))[0]


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
    return dask.compute(tree_merge(parts), scheduler=dask.threaded.get)[0], graph.unit_m2


@dataclass(frozen=True)
class ValueSampling:
    """How a value raster meets the land cover: both on the finer grid (`grid`, read as `own`), each cell taking
    the value or class of the coarser raster's (`other`) cell its centre falls in."""

    grid: Grid
    own: WindowSource
    other_grid: Grid
    other: WindowSource
    values_on_own: bool
    value_nodata: float | None
    valid: tuple[float, float] | None
    class_nodata: float | None


def _values_chunk(coverage: Coverage, row_off: int, col_off: int, height: int, width: int,
                  row_units: NDArray[np.float64], sampling: ValueSampling) -> ZoneClassValues:
    own = read_window(sampling.own, row_off, col_off, height, width)
    rows, cols = centre_cells(sampling.grid, sampling.other_grid, window=(row_off, col_off, height, width))
    other, at, inside = read_around(sampling.other, rows, cols, shape=sampling.other_grid.shape)
    weights = cell_weights(coverage.window(row_off, col_off, height, width), row_units)
    if sampling.values_on_own:
        codes = land_codes(other.ravel()[at], nodata=sampling.class_nodata)
        codes[~inside] = NODATA_CODE  # a value cell beyond the land cover has no class
        return chunk_values(weights, codes, source=own, value_of_cell=np.arange(own.size, dtype=np.intp),
                            observed=np.ones(own.shape, dtype=bool), nodata=sampling.value_nodata, valid=sampling.valid)
    return chunk_values(weights, land_codes(own, nodata=sampling.class_nodata), source=other, value_of_cell=at,
                        observed=inside, nodata=sampling.value_nodata, valid=sampling.valid)


def chunked_values(graph: ZonalGraph, sampling: ValueSampling) -> Delayed:
    """(zone, class code, raw value) areas of a value raster, chunk by chunk on the evaluation grid, lazy."""
    parts = [dask.delayed(_values_chunk, pure=True)(graph.bands[i], r0, c0, h, w, graph.row_units[r0:r0 + h],
                                                    sampling)
             for i, _, r0, c0, h, w in graph.plan.windows()]
    return tree_merge(parts, merge=merge_values)


def median_cell_m2(grid: Grid) -> float:
    return float(np.median(row_cell_areas_m2(grid)))


def values_on_own_grid(v: ValueInput, landcover: Grid) -> bool:
    """A value raster is evaluated on its own grid when its cells are no larger than the land cover's."""
    return median_cell_m2(v.info.grid) <= median_cell_m2(landcover)


def _value_node(v: ValueInput, inputs: Inputs, landcover: ZonalGraph, *, union: bool) -> Delayed:
    """Zone-class-value areas of one value raster on the finer of its grid and the land cover's; on the land
    cover's, the run's own coverage serves (computed once)."""
    epoch = inputs.config.landcover[v.epoch]
    lc_source = window_source(epoch.path)
    on_own = values_on_own_grid(v, inputs.grid)
    sampling = ValueSampling(
        grid=v.info.grid if on_own else inputs.grid, own=window_source(v.spec.path) if on_own else lc_source,
        other_grid=inputs.grid if on_own else v.info.grid, other=lc_source if on_own else window_source(v.spec.path),
        values_on_own=on_own, value_nodata=v.nodata, valid=v.spec.valid,
        class_nodata=epoch_nodata(epoch, inputs.rasters[v.epoch]))
    if not on_own:
        return chunked_values(landcover, sampling)
    chunks = _chunks_of(block_aligned_chunks(v.info, target_cells=inputs.config.compute.chunk_cells), v.info.grid.shape)
    own_geoms = v.zones.geoms if not union else np.append(
        v.zones.geoms, np.array([shapely.union_all(v.zones.geoms)], dtype=object))
    return chunked_values(zonal_graph(v.info.grid, own_geoms, chunks=chunks), sampling)


def value_unit_m2(v: ValueInput, landcover: Grid) -> float:
    """The area unit (m²) of a value raster's totals: that of the grid it is evaluated on."""
    return area_units(row_cell_areas_m2(v.info.grid if values_on_own_grid(v, landcover) else landcover))[1]


def _protected_nodes(inputs: Inputs, chunks: Chunks) -> dict[int, Delayed]:
    """Class totals of every epoch inside each zone's protected part and the region's (the last zone), with
    their own coverage on the land-cover grid; only the chunks they reach are read. A survey wetland layer
    measures the rate from its polygons, so then none are needed."""
    protected = inputs.protected
    if protected is None or protected.survey is not None:
        return {}
    geoms = np.append(protected.parts, np.array([protected.region], dtype=object))
    graph = zonal_graph(inputs.grid, geoms, chunks=chunks)
    within = tuple(shapely.total_bounds(to_pixel_space(geoms, inputs.grid)).tolist())
    epochs = inputs.config.landcover
    merged = chunked_totals(graph, [window_source(e.path) for e in epochs],
                            [epoch_nodata(e, info) for e, info in zip(epochs, inputs.rasters, strict=True)],
                            within=None if np.isnan(within).any() else within)
    return {e.year: node for e, node in zip(epochs, merged, strict=True)}


# ---- the run's graph -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunGraph:
    """The whole run, lazy: totals per epoch and per transition pair, biomass sums, candidate parcels."""

    zonal: ZonalGraph
    totals: dict[int, Delayed]
    transitions: dict[tuple[int, int], Delayed]
    biomass: dict[int, Delayed]
    biomass_unit_m2: dict[int, float]
    candidates: Delayed | None
    union_zone: int | None = None
    cached: Cached | None = None
    values: dict[tuple[str, int], Delayed] = field(default_factory=dict)
    protected: dict[int, Delayed] = field(default_factory=dict)


@dataclass(frozen=True)
class Cached:
    """Totals of the previous run still valid for this one, by epoch year and by transition pair."""

    totals: Mapping[int, ZoneValueTotals]
    transitions: Mapping[tuple[int, int], ZoneValueTotals]


@dataclass(frozen=True)
class Computed:
    """What the one compute of a run gives; every stage tabulates from this and the checked inputs."""

    unit_m2: float
    totals: Mapping[int, ZoneValueTotals]
    transitions: Mapping[tuple[int, int], ZoneValueTotals]
    biomass: Mapping[int, ZoneSums]
    biomass_unit_m2: Mapping[int, float]
    candidates: tuple[NDArray[np.object_], pd.DataFrame] | None
    union_totals: Mapping[int, ZoneValueTotals] = field(default_factory=dict)
    # value rasters by (name, year): areas by zone, class code and raw value, and those inside the zones' union
    values: Mapping[tuple[str, int], ZoneClassValues] = field(default_factory=dict)
    union_values: Mapping[tuple[str, int], ZoneClassValues] = field(default_factory=dict)
    # class totals by epoch inside each zone's protected part; zone number len(zones) is the region's
    protected: Mapping[int, ZoneValueTotals] = field(default_factory=dict)
    union_transitions: Mapping[tuple[int, int], ZoneValueTotals] = field(default_factory=dict)
    # every epoch's and pair's totals as the chunks summed them (union zone included), for the cache
    raw: Cached | None = None


def _chunks_of(info_chunks: tuple[int, int], shape: tuple[int, int]) -> Chunks:
    rows, cols = normalize_chunks(info_chunks, shape)
    return rows, cols


def transition_pairs(years: Sequence[int], settings: Transitions, *,
                     also: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Epoch pairs (as positions in `years`, oldest first) for zone_transitions: consecutive ones, first to
    last, the config's own and `also` (years), each once and in order."""
    where = {year: k for k, year in enumerate(years)}
    wanted = [*(zip(range(len(years) - 1), range(1, len(years)), strict=True) if settings.consecutive else ()),
              *([(0, len(years) - 1)] if settings.first_last and len(years) > 1 else []),
              *((where[a], where[b]) for a, b in (*settings.pairs, *also))]
    return sorted(set(wanted))


def change_pair(config: RunConfig) -> tuple[tuple[int, int], ...]:
    """The (from_year, to_year) of an accuracy.change assessment, whose category areas are that pair's totals."""
    change = config.accuracy.change if config.accuracy else None
    return ((change.from_year, change.to_year),) if change is not None else ()


def build_graph(inputs: Inputs, *, cached: Cached | None = None) -> RunGraph:
    """One fused task per chunk computes every epoch and every transition pair the config asks for.

    With `cached` totals of a previous run, only the epochs and pairs missing from it are computed: an
    epoch is read when its own totals or a pair it belongs to are missing.
    """
    chunks = _chunks_of(block_aligned_chunks(inputs.rasters[0], target_cells=inputs.config.compute.chunk_cells),
                        inputs.grid.shape)
    geoms, union = _zones_and_union(inputs)
    graph = zonal_graph(inputs.grid, geoms, chunks=chunks)
    known = cached or Cached(totals={}, transitions={})
    epochs = inputs.config.landcover
    all_pairs = transition_pairs([e.year for e in epochs], inputs.config.transitions,
                                 also=change_pair(inputs.config))
    pairs = [(a, b) for a, b in all_pairs if (epochs[a].year, epochs[b].year) not in known.transitions]
    read = [k for k, e in enumerate(epochs) if e.year not in known.totals or any(k in p for p in pairs)]
    position = {k: i for i, k in enumerate(read)}
    merged = chunked_totals(graph, [window_source(epochs[k].path) for k in read],
                            [epoch_nodata(epochs[k], inputs.rasters[k]) for k in read],
                            pairs=[(position[a], position[b]) for a, b in pairs])
    biomass = {b.spec.year: _biomass_node(b, inputs.config.compute.chunk_cells)
               for b in (inputs.carbon.biomass if inputs.carbon else ())}
    return RunGraph(
        zonal=graph,
        totals={epochs[k].year: total for k, total in zip(read, merged[:len(read)], strict=True)},
        transitions={(epochs[a].year, epochs[b].year): merged[len(read) + i] for i, (a, b) in enumerate(pairs)},
        biomass={year: node for year, (node, _) in biomass.items()},
        biomass_unit_m2={year: unit for year, (_, unit) in biomass.items()},
        candidates=_candidate_graph(inputs, plan=graph.plan), union_zone=union,
        values={(v.spec.name, v.spec.year): _value_node(v, inputs, graph, union=union is not None)
                for v in inputs.values},
        protected=_protected_nodes(inputs, chunks),
        cached=Cached(totals={y: t for y, t in known.totals.items() if y in {e.year for e in epochs}},
                      transitions={p: t for p, t in known.transitions.items()
                                   if p in {(epochs[a].year, epochs[b].year) for a, b in all_pairs}}))


def needs_union(inputs: Inputs) -> bool:
    return inputs.accuracy is not None or not inputs.overlaps.empty


def _zones_and_union(inputs: Inputs) -> tuple[NDArray[np.object_], int | None]:
    """The zones, plus their union as one more zone when the class areas inside the union are needed (an
    accuracy assessment's strata, region figures of overlapping zones, where the overlap counts once): one
    more zone in the same coverage pass, split off after."""
    geoms = inputs.zones.geoms
    if not needs_union(inputs):
        return geoms, None
    return np.append(geoms, np.array([shapely.union_all(geoms)], dtype=object)), len(geoms)


def split_zone(totals: ZoneValueTotals, zone: int) -> tuple[ZoneValueTotals, ZoneValueTotals]:
    """The totals of every zone but `zone`, and those of `zone` alone."""
    mine = totals.zone == zone

    def pick(keep: NDArray[np.bool_]) -> ZoneValueTotals:
        return ZoneValueTotals(zone=totals.zone[keep], value=totals.value[keep], units=totals.units[keep])

    return pick(~mine), pick(mine)


def _biomass_node(b: BiomassInput, chunk_cells: int) -> tuple[Delayed, float]:
    """Zone sums of one biomass raster on its own grid, with its own coverage."""
    chunks = _chunks_of(block_aligned_chunks(b.info, target_cells=chunk_cells), b.info.grid.shape)
    graph = zonal_graph(b.info.grid, b.zones.geoms, chunks=chunks)
    nodata = b.spec.nodata if b.spec.nodata is not None else b.info.nodata
    return chunked_sums(graph, window_source(b.spec.path), nodata=nodata), graph.unit_m2


def _candidate_chunk(sources: list[WindowSource], nodata: list[float | None], rules: screening.Screening,
                     zones: screening.ChunkZones, *, row_off: int, col_off: int, height: int, width: int,
                     grid_shape: tuple[int, int], max_cell_m2: float) -> screening.Pieces:
    blocks = [read_window(source, row_off, col_off, height, width) for source in sources]
    return screening.chunk_pieces(blocks, nodata, rules, zones, row_off=row_off, col_off=col_off,
                                  grid_shape=grid_shape, max_cell_m2=max_cell_m2)


def _candidate_graph(inputs: Inputs, *, plan: ChunkPlan) -> Delayed | None:
    """Lazy candidate parcels: one screening task per chunk over the look-back epochs, with the zones that
    reach into the chunk, then one merge."""
    settings = inputs.config.candidates
    if settings is None or not settings.enabled:
        return None
    years, checked = screening.lookback_epochs([e.year for e in inputs.config.landcover],
                                               lookback_years=settings.lookback_years)
    epochs = [(e, info) for e, info in zip(inputs.config.landcover, inputs.rasters, strict=True) if e.year in years]
    sources = [window_source(e.path) for e, _ in epochs]
    nodata = [epoch_nodata(e, info) for e, info in epochs]
    classes = inputs.class_map
    rules = screening.make_screening(classes.classes,
                                     never=classes.resolve(settings.never_classes, key="candidates.never_classes"),
                                     excluded=classes.resolve(settings.excluded_classes,
                                                              key="candidates.excluded_classes"),
                                     min_parcel_m2=settings.min_parcel_m2, min_cells=settings.min_cells)
    grid = inputs.grid
    cell_m2 = row_cell_areas_m2(grid)
    unit_note = screening.mapping_unit_note(rules, cell_m2=float(np.median(cell_m2)))
    windows = [(r0, c0, h, w) for _, _, r0, c0, h, w in plan.windows()]
    zones = screening.zones_by_chunk(to_pixel_space(inputs.zones.geoms, grid), windows)
    parts = [dask.delayed(_candidate_chunk, pure=True)(
        sources, nodata, rules, chunk_zones, row_off=r0, col_off=c0, height=h, width=w, grid_shape=grid.shape,
        max_cell_m2=float(cell_m2[r0:r0 + h].max()))
        for (r0, c0, h, w), chunk_zones in zip(windows, zones, strict=True)]
    merged = dask.delayed(screening.merge_pieces, pure=True)(*parts)
    return dask.delayed(screening.candidate_table, pure=True)(
        merged, rules, grid=grid, zone_ids=inputs.zones.ids, years=years, checked=checked,
        lookback_years=settings.lookback_years, unit_note=unit_note)


# ---- the one compute --------------------------------------------------------------------------------


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
    from distributed import Client  # only runs on a cluster pay for importing dask.distributed

    try:
        client = Client(address, timeout="20s")
    except OSError as exc:
        raise SinkzoneError(f"cannot reach the dask scheduler at {address} ({exc})") from exc
    with client:
        log.info("computing on the dask.distributed cluster at %s (%d workers)", address,
                 len(client.scheduler_info().get("workers", {})))
        yield client


def compute(graph: RunGraph, *, config: RunConfig, progress: ProgressHook | None) -> Computed:
    """Compute the graph once, locally with threads or on the cluster the config names."""
    nodes = (graph.totals, graph.transitions, graph.biomass, graph.candidates, graph.values, graph.protected)
    with _scheduler(config.compute.scheduler) as client:
        if client is not None:
            totals, transitions, biomass, candidates, values, protected = client.compute(nodes, sync=True)
        else:
            # the threaded scheduler named as a function, not "threads": spares importing dask.distributed
            with _ProgressCallback(progress) if progress else nullcontext():
                totals, transitions, biomass, candidates, values, protected = dask.compute(
                    nodes, scheduler=dask.threaded.get, num_workers=config.compute.workers)[0]
    if graph.cached is not None:  # an epoch read again for a pair has fresh totals too: equal, either serves
        totals = dict(sorted({**graph.cached.totals, **totals}.items()))
        transitions = dict(sorted({**graph.cached.transitions, **transitions}.items()))
    raw = Cached(totals=totals, transitions=transitions)
    union: dict[int, ZoneValueTotals] = {}
    union_pairs: dict[tuple[int, int], ZoneValueTotals] = {}
    union_values: dict[tuple[str, int], ZoneClassValues] = {}
    if graph.union_zone is not None:
        union_values = {key: v.pick(v.zone == graph.union_zone) for key, v in values.items()}
        values = {key: v.pick(v.zone != graph.union_zone) for key, v in values.items()}
        split = {year: split_zone(t, graph.union_zone) for year, t in totals.items()}
        totals, union = {y: s[0] for y, s in split.items()}, {y: s[1] for y, s in split.items()}
        split_pairs = {pair: split_zone(t, graph.union_zone) for pair, t in transitions.items()}
        transitions = {p: s[0] for p, s in split_pairs.items()}
        union_pairs = {p: s[1] for p, s in split_pairs.items()}
    return Computed(unit_m2=graph.zonal.unit_m2, totals=totals, transitions=transitions, biomass=biomass,
                    biomass_unit_m2=graph.biomass_unit_m2, candidates=candidates, union_totals=union,
                    union_transitions=union_pairs, raw=raw, values=values, union_values=union_values,
                    protected=protected)
