"""One run, top to bottom: check the inputs, build the lazy graph, compute it once, tabulate the stages
in their declared order, build what people see, and write it all into a staged output folder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from pipeline.core import provenance
from pipeline.core.config import RunConfig
from pipeline.core.errors import OutputError, StoreError
from pipeline.core.grid import padded_bounds
from pipeline.core.names import (
    CACHE_DIR,
    CARBON,
    CLASS_AREA,
    LANDCOVER_VRT,
    LAYER_ORDER,
    REPORT_DIR,
    WORKBOOK_NAME,
    ZONE_ACCURACY,
    ZONES,
)
from pipeline.core.sums import ZoneValueTotals
from pipeline.files.output import (
    read_run_record,
    write_files,
    write_outputs,
    write_qgis_package,
    write_run_record,
    write_workbook,
)
from pipeline.files.paths import fingerprint, is_tile_pattern
from pipeline.files.publish import staged_output
from pipeline.files.rasters import raster_source, read_preview
from pipeline.files.totals import package_fingerprint, write_totals
from pipeline.inputs.check import Inputs, check_inputs, input_files
from pipeline.inputs.landcover import epoch_nodata
from pipeline.measure.graph import Cached, Computed, ProgressHook, build_graph, compute
from pipeline.measure.reuse import Reused, cache_keys, load_cached, to_store
from pipeline.metrics import accuracy, candidates, carbon, class_area, progress, region, transitions
from pipeline.metrics.base import StageResult
from pipeline.metrics.zone_layer import zone_layer
from pipeline.present import report
from pipeline.present.qgis_project import build_package, style_frame
from pipeline.present.workbook import workbook_sheets
from pipeline.record.ingest import Ingested

log = logging.getLogger(__name__)
_MAP_SIDE = 600  # cells a side of a report map: a picture, never used for areas
_MAP_MARGIN = 0.15  # a report map shows this share of the zone's width and height around it


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    tables: Mapping[str, pd.DataFrame]
    zones: gpd.GeoDataFrame
    record: Mapping[str, Any] = field(default_factory=dict)
    skipped: bool = False
    stored: Ingested | None = None  # what the history store made of the run, when the config names one
    not_stored: StoreError | None = None  # why the history store did not take it (the output is written)


def run_stages(inputs: Inputs, computed: Computed) -> list[StageResult]:
    """Every stage in its one declared order; each gets the earlier tables it needs by name."""
    areas = class_area.tabulate(inputs, computed)
    long = areas.tables[CLASS_AREA]
    assessed = accuracy.tabulate(inputs, computed, class_area=long)
    stock = carbon.tabulate(inputs, computed, class_area=long, area_se=assessed.tables.get(ZONE_ACCURACY))
    return [areas, assessed, stock, transitions.tabulate(inputs, computed),
            region.tabulate(inputs, computed, class_area=long),
            progress.tabulate(inputs, class_area=long, carbon=stock.tables.get(CARBON)),
            candidates.tabulate(inputs, computed)]


def _layers(inputs: Inputs, results: list[StageResult]) -> dict[str, pd.DataFrame]:
    """The zone layer and every stage's tables, in the GeoPackage's layer order."""
    fields = [r.zone_fields for r in results if r.zone_fields is not None]
    made: dict[str, pd.DataFrame] = {ZONES: zone_layer(inputs.zones, fields)}
    for result in results:
        made.update(result.tables)
    return {name: made[name] for name in LAYER_ORDER if name in made}


def fingerprints(inputs: Inputs) -> list[dict[str, Any]]:
    """Every file the results depend on, so editing any of them makes the next run recompute."""
    return [fingerprint(p) for p in input_files(inputs.config)]


def run_record(inputs: Inputs, layers: Mapping[str, pd.DataFrame], *, rid: str, prints: list[dict[str, Any]],
               notes: list[str], timings: dict[str, float]) -> dict[str, Any]:
    grid = inputs.grid
    return {
        "run_id": rid,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": inputs.config.model_dump(mode="json"),
        "config_file": inputs.config.origin,
        "inputs": prints,
        "grid": {"crs": grid.crs.to_string(), "shape": list(grid.shape), "area_method": grid.area_method},
        "class_map": {"name": inputs.class_map.name, "source": inputs.class_map.source},
        "notes": notes,
        "versions": provenance.package_versions(),
        "timings_s": timings,
        "rows": {name: len(frame) for name, frame in layers.items()},
    }


def _previous_run(config: RunConfig, rid: str, *, overwrite: bool) -> Mapping[str, Any] | None:
    """The record of the output's last run when it is this very run (nothing to do); refuse another run's."""
    previous = read_run_record(config.output.dir)
    if previous is None or overwrite:
        return None
    if previous.get("run_id") == rid:
        return previous
    mine, theirs = _identity(config.model_dump(mode="json")), _identity(previous.get("config", {}))
    if mine != theirs:
        raise OutputError(f"{config.output.dir}: holds the output of another run ({_shown(theirs)}; this run is "
                          f"{_shown(mine)}); give this run its own output.dir, or pass --overwrite to replace it")
    other_file = previous.get("config_file")
    if config.origin is not None and other_file is not None and other_file != config.origin:
        raise OutputError(f"{config.output.dir}: holds the output of the config {other_file}, and this run's config "
                          f"is {config.origin}; two configs sharing an output folder would replace each other's "
                          "output on every run: give each its own output.dir (or pass --overwrite if the config "
                          "file was moved)")
    return None


def _identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """What tells one run from another sharing its output folder: its name and its zone layer.

    Epochs and tables may change from run to run of one config; the zones it reports on may not.
    """
    zones = config.get("zones") or {}
    return {"name": config.get("name"), "zones": zones.get("path"), "layer": zones.get("layer"),
            "id_field": zones.get("id_field")}


def _shown(identity: Mapping[str, Any]) -> str:
    layer = f", layer {identity['layer']}" if identity["layer"] else ""
    return f"name {identity['name']!r}, zones {identity['zones']}{layer}, id field {identity['id_field']!r}"


def run(config: RunConfig, *, overwrite: bool = False, progress: ProgressHook | None = None,
        extras: Callable[[Path], None] | None = None) -> RunResult:
    """Check, compute and write one run. Unchanged inputs and config skip the work unless overwrite."""
    started = time.perf_counter()
    # Chunk reads name a corrupt block themselves, so a run does not decode every block twice.
    inputs = check_inputs(config, deep=False)
    for note in inputs.notes:
        log.warning(note)
    prints = fingerprints(inputs)
    code = package_fingerprint()
    rid = provenance.run_id(config.model_dump(mode="json"), prints, code=code)
    previous = _previous_run(config, rid, overwrite=overwrite)
    if previous is not None:
        log.info("inputs and config unchanged since the last run (run id %s); nothing to do", rid)
        return RunResult(out_dir=config.output.dir, tables={}, zones=gpd.GeoDataFrame(), record=previous,
                         skipped=True)
    _log_inputs(inputs)
    checked = time.perf_counter()
    keys = cache_keys(inputs, prints, code=code)
    reused = Reused(cached=Cached(totals={}, transitions={}), listed=[], made_by={}, notes=[]) if overwrite \
        else load_cached(config.output.dir, keys)
    for note in reused.notes:
        log.warning(note)
    computed = _compute(inputs, reused.cached, progress=progress)
    done = time.perf_counter()
    log.info("summed %d epoch(s) and %d transition pair(s) in %.1f s; making the tables", len(computed.totals),
             len(computed.transitions), done - checked)
    results = run_stages(inputs, computed)
    chosen = _report_layout(inputs)
    stage_notes = [note for r in results for note in r.notes] + ([chosen[1]] if chosen and chosen[1] else [])
    for note in stage_notes:
        log.warning(note)
    layers = _layers(inputs, results)
    log.info("made %d layers and tables (%s rows) in %.1f s; writing the outputs", len(layers),
             f"{sum(len(frame) for frame in layers.values()):,}", time.perf_counter() - done)
    sheets, book_notes = workbook_sheets(layers, inputs.class_map, max_rows=config.output.workbook_max_rows)
    for note in book_notes:
        log.warning(note)
    remote = [f"{p['path']}: read through GDAL; its bytes are not fingerprinted, so a change to it is seen only "
              "with --overwrite" for p in prints if p.get("remote")]
    record = run_record(inputs, layers, rid=rid, prints=prints,
                        notes=[*inputs.notes, *remote, *reused.notes, *stage_notes, *book_notes],
                        timings={"check_s": checked - started, "compute_s": done - checked})
    record["reused"] = reused.listed
    _write(inputs, layers, sheets, record, cache=to_store(keys, computed), made_by=reused.made_by, extras=extras)
    tables = {name: frame for name, frame in layers.items() if name != ZONES}
    return RunResult(out_dir=config.output.dir, tables=tables, zones=layers[ZONES], record=record)


def _compute(inputs: Inputs, cached: Cached, *, progress: ProgressHook | None) -> Computed:
    """The one compute, of what the previous output's cache does not already hold."""
    if cached.totals or cached.transitions:
        log.info("reusing the totals of epochs %s and of %d transition pair(s) from the previous run",
                 ", ".join(map(str, sorted(cached.totals))) or "none", len(cached.transitions))
    return compute(build_graph(inputs, cached=cached), config=inputs.config, progress=progress)


def _write(inputs: Inputs, layers: Mapping[str, pd.DataFrame], sheets: Mapping[str, pd.DataFrame],
           record: Mapping[str, Any], *, cache: Mapping[str, ZoneValueTotals], made_by: Mapping[str, str],
           extras: Callable[[Path], None] | None) -> None:
    """The GeoPackage, its styles and QGIS project, the report, the caller's run log, and run.json last."""
    config = inputs.config
    landcover, mosaic = _landcover_link(config)
    package = build_package(layers, title=config.name, class_map=inputs.class_map, out_dir=config.output.dir,
                            landcover=landcover, landcover_crs=inputs.grid.crs,
                            name_field=config.zones.name_field)
    report_files = _report(inputs, layers)

    def beside_gpkg(folder: Path) -> None:
        write_files(folder, mosaic)
        write_qgis_package(folder, styles=style_frame(package.style_rows), project_xml=package.project_xml,
                           record=record)
        write_workbook(folder / WORKBOOK_NAME, sheets)
        write_totals(folder / CACHE_DIR, cache, run_id=str(record["run_id"]), made_by=made_by)
        if report_files is not None:
            write_files(folder / REPORT_DIR, report_files)
        if extras is not None:
            extras(folder)

    def carried(folder: Path, notes: list[str]) -> None:
        for note in notes:
            log.warning(note)
        write_run_record(folder, {**record, "notes": [*record["notes"], *notes]})

    with staged_output(config.output.dir, amend=carried) as folder:
        write_outputs(folder, gpkg_layers=layers, record=record, extras=beside_gpkg)


def _landcover_link(config: RunConfig) -> tuple[Path, dict[str, bytes]]:
    """What the QGIS land-cover layer links to: the latest raster, or for a tile pattern (which GDAL cannot
    open) a VRT of its tiles written beside the outputs, with the file to write."""
    latest = config.landcover[-1]
    if not is_tile_pattern(latest.path):
        return latest.path, {}
    name = LANDCOVER_VRT.format(year=latest.year)
    return config.output.dir / name, {name: raster_source(latest.path).encode()}


def _report_layout(inputs: Inputs) -> tuple[report.Layout, str] | None:
    """The report's layout and its note, or None when the run makes no report."""
    settings = inputs.config.report
    if settings is None or not settings.enabled:
        return None
    return report.report_layout(len(inputs.zones.ids), group_field=settings.group_field,
                                max_zone_pages=settings.max_zone_pages)


def _report_maps(inputs: Inputs, layout: report.Layout) -> dict[str, report.MapData]:
    """A decimated map of the latest land cover around each zone, or each group's zones; none for a table."""
    latest = inputs.config.landcover[-1]
    nodata = epoch_nodata(latest, inputs.rasters[-1])
    source = raster_source(latest.path)  # a tile pattern reads through its VRT
    if layout.kind == "table":
        return {}
    if layout.kind == "groups" and layout.group_field is not None:
        groups = inputs.zones.source[layout.group_field].astype(str).to_numpy()
        extents = {name: tuple(shapely.total_bounds(inputs.zones.geoms[groups == name])) for name in set(groups)}
    else:
        extents = {z: tuple(g.bounds) for z, g in zip(inputs.zones.ids.astype(str), inputs.zones.geoms, strict=True)}
    maps = {}
    for name, (xmin, ymin, xmax, ymax) in extents.items():
        data, transform = read_preview(source, bounds=padded_bounds((xmin, ymin, xmax, ymax), margin=_MAP_MARGIN),
                                       max_side=_MAP_SIDE)
        maps[name] = report.MapData(data=data, transform=transform, nodata=nodata, crs=inputs.grid.crs)
    return maps


def _report(inputs: Inputs, layers: Mapping[str, pd.DataFrame]) -> dict[str, bytes] | None:
    """The report's files; None when off."""
    chosen = _report_layout(inputs)
    if chosen is None:
        return None
    layout, note = chosen
    zones = layers[ZONES]
    assert isinstance(zones, gpd.GeoDataFrame)
    tables = {name: frame for name, frame in layers.items() if name != ZONES}
    return report.build_report(tables, zones, class_map=inputs.class_map, maps=_report_maps(inputs, layout),
                               run_name=inputs.config.name, region=inputs.config.region.name,
                               name_field=inputs.config.zones.name_field, layout=layout, note=note)


def _log_inputs(inputs: Inputs) -> None:
    grid = inputs.grid
    for info in inputs.rasters:
        log.info("land cover %s: %d x %d cells, %s, blocks %s, nodata %s", info.path, grid.width, grid.height,
                 info.dtype, info.block_shape, info.nodata)
    log.info("grid CRS %s; cell areas %s", grid.crs.name, "exact per row on the ellipsoid"
             if grid.is_geographic else "planar in the raster's CRS")
    log.info("zones %s: %d zones, class map %s", inputs.config.zones.path, len(inputs.zones.ids), inputs.class_map.name)
