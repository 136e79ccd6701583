"""The carbon part of a run: read and check its tables and rasters, add its nodes to the lazy graph,
and turn the computed totals into the zone_carbon, zone_transitions and zone_change tables.

Transitions reuse the land-cover blocks and the cell weights of the class-area graph (same dask keys,
so each block is read once); each biomass raster gets its own coverage on its own grid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from dask.array.core import normalize_chunks
from dask.delayed import Delayed
from numpy.typing import NDArray

from pipeline import io
from pipeline.config import BiomassRaster, Carbon, FactorRange, RunConfig
from pipeline.errors import SinkzoneError
from pipeline.grid import zone_areas_m2
from pipeline.stages import carbon as cs
from pipeline.stages.class_area import M2_PER_HA
from pipeline.stages.zonal import (
    ZoneSums,
    ZoneValueTotals,
    split_pair_codes,
)
from pipeline.zones import PreparedZones, prepare_zones, zones_off_grid

if TYPE_CHECKING:
    from pipeline.inputs import Inputs
    from pipeline.runner import RunResult

log = logging.getLogger(__name__)
_PARTIAL_COVER = 0.99


@dataclass(frozen=True)
class BiomassInput:
    spec: BiomassRaster
    info: io.RasterInfo
    zones: PreparedZones


@dataclass(frozen=True)
class CarbonInputs:
    """The carbon section, read and checked: tables, volume records, biomass rasters and all factors."""

    settings: Carbon
    pools: cs.FactorTable | None
    species: cs.FactorTable | None
    volume: pd.DataFrame | None
    biomass: tuple[BiomassInput, ...]
    factors: pd.DataFrame
    notes: tuple[str, ...]


def _factor_rows(settings: Carbon) -> pd.DataFrame:
    def row(key: str, f: FactorRange) -> dict[str, Any]:
        return {"id": f"biomass:{key}", "value": f.value, "low": f.value if f.low is None else f.low,
                "high": f.value if f.high is None else f.high}

    return pd.DataFrame([row("r", settings.root_shoot), row("cf", settings.carbon_fraction)])


def _volume_frame(settings: Carbon, zones: PreparedZones, id_field: str) -> tuple[pd.DataFrame, str]:
    """Volume records from the CSV table, or from the zone layer's fields (zones without a volume skipped)."""
    volume = settings.volume
    assert volume is not None
    if volume.table is not None:
        return io.read_csv_table(str(volume.table), builtins={})
    source = zones.source
    missing = [f for f in (volume.field, volume.species_field) if f is not None and f not in source.columns]
    if missing:
        raise SinkzoneError(f"zone layer: no field {', '.join(missing)} for the stock volume")
    frame = pd.DataFrame({"zone_id": source[id_field].astype(str).to_numpy(),
                          "species": source[volume.species_field] if volume.species_field else volume.species,
                          f"volume_{volume.unit}": source[volume.field].to_numpy()})
    return frame[frame[f"volume_{volume.unit}"].notna()].reset_index(drop=True), f"zone layer field {volume.field}"


def _biomass_input(spec: BiomassRaster, zones: PreparedZones, id_field: str,
                   problems: list[str]) -> BiomassInput | None:
    info = io.raster_info(spec.path)
    if not np.issubdtype(np.dtype(info.dtype), np.number):
        problems.append(f"{spec.path}: a biomass raster must hold numbers (t d.m./ha), but it is {info.dtype}")
        return None
    on_grid = prepare_zones(zones.source, id_field=id_field, grid=info.grid, source=str(spec.path))
    missed = zones_off_grid(on_grid, info.grid)
    if len(missed) == len(on_grid.ids):
        problems.append(f"{spec.path}: the biomass raster misses every zone")
        return None
    return BiomassInput(spec=spec, info=info, zones=on_grid)


def _read_table(spec: str, check: Callable[..., cs.FactorTable], builtins: Mapping[str, str]) -> cs.FactorTable:
    frame, name = io.read_csv_table(spec, builtins=builtins)
    return check(frame, name=name)


def check_carbon(config: RunConfig, zones: PreparedZones, problems: list[str]) -> CarbonInputs | None:
    """Read the tables and biomass headers of the carbon section; problems are collected, not raised."""
    settings = config.carbon
    if settings is None:
        return None
    years = [e.year for e in config.landcover]
    ids = [str(z) for z in zones.ids]
    try:
        pools = _read_table(settings.pools, cs.pools_table, cs.BUILTIN_POOLS) if settings.pools else None
        species = _read_table(settings.species, cs.species_table, cs.BUILTIN_SPECIES) if settings.volume else None
        volume = None
        if settings.volume is not None and species is not None:
            frame, name = _volume_frame(settings, zones, config.zones.id_field)
            volume = cs.volume_records(frame, zone_ids=ids, species=species, years=years, name=name)
        biomass = [_biomass_input(b, zones, config.zones.id_field, problems) for b in settings.biomass]
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    factors = pd.concat([_factor_rows(settings), *(t.factor_rows(p) for p, t in
                                                   (("pools", pools), ("species", species)) if t is not None)],
                        ignore_index=True)
    return CarbonInputs(settings=settings, pools=pools, species=species, volume=volume,
                        biomass=tuple(b for b in biomass if b is not None), factors=factors,
                        notes=tuple(_table_notes(pools, species, volume)))


def _table_notes(pools: cs.FactorTable | None, species: cs.FactorTable | None,
                 volume: pd.DataFrame | None) -> list[str]:
    notes = []
    if pools is not None and "local_survey" in pools.frame.columns:
        marked = pools.frame["local_survey"].dropna()
        if len(marked):
            notes.append(f"carbon pools {pools.name}: default factors to replace with local survey data: "
                         + "; ".join(f"{k}: {v}" for k, v in marked.items()))
    if species is not None and volume is not None and "verified" in species.frame.columns:
        used = species.frame.loc[sorted(set(volume["species"]))]
        unverified = used.index[used["verified"].astype(str).str.upper() == "U"]
        if len(unverified):
            notes.append(f"species factors {species.name} for {', '.join(unverified)} are UNVERIFIED recalled "
                         "defaults (domain.md [U]); check them against the AR-CM-001-V01 annex before reporting")
    return notes


def input_paths(config: RunConfig) -> list[Path]:
    """The carbon section's own files (tables given as paths, biomass rasters), for the run fingerprint."""
    carbon = config.carbon
    if carbon is None:
        return []
    tables = [carbon.pools, carbon.species if carbon.volume else None]
    paths = [Path(t) for t in tables if t is not None and t.endswith(".csv")]
    if carbon.volume is not None and carbon.volume.table is not None:
        paths.append(carbon.volume.table)
    return paths + [b.path for b in carbon.biomass]


# ---- the graph -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarbonNodes:
    transitions: dict[tuple[int, int], Delayed]
    biomass: dict[int, Delayed]
    biomass_unit_m2: dict[int, float]


def epoch_pairs(years: Sequence[int]) -> list[tuple[int, int]]:
    ordered = sorted(years)
    return list(zip(ordered[:-1], ordered[1:], strict=True))


def _biomass_node(b: BiomassInput, chunk_cells: int) -> tuple[Delayed, float]:
    """Zone sums of one biomass raster on its own grid, with its own coverage."""
    from pipeline.runner import chunked_sums, zonal_graph

    chunks = io.block_aligned_chunks(b.info, target_cells=chunk_cells)
    graph = zonal_graph(b.info.grid, b.zones.geoms, chunks=normalize_chunks(chunks, b.info.grid.shape))
    nodata = b.spec.nodata if b.spec.nodata is not None else b.info.nodata
    return chunked_sums(graph, io.window_source(b.spec.path), nodata=nodata), graph.unit_m2


def build_carbon_graph(inputs: Inputs, transitions: dict[tuple[int, int], Delayed]) -> CarbonNodes:
    """The transition totals build_graph made, and zone sums of each biomass raster, all lazy."""
    carbon = inputs.carbon
    assert carbon is not None
    nodes = {b.spec.year: _biomass_node(b, inputs.config.compute.chunk_cells) for b in carbon.biomass}
    return CarbonNodes(transitions=transitions, biomass={y: n for y, (n, _) in nodes.items()},
                       biomass_unit_m2={y: u for y, (_, u) in nodes.items()})


# ---- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarbonComputed:
    transitions: dict[tuple[int, int], ZoneValueTotals]
    biomass: dict[int, ZoneSums]


def _forest_ha(class_area: pd.DataFrame, *, year: int, forest: str,
               zone_ids: NDArray[np.object_]) -> NDArray[np.float64]:
    rows = class_area[(class_area["year"] == year) & (class_area["class"] == forest)]
    return rows.set_index("zone_id")["area_ha"].reindex(zone_ids.astype(str), fill_value=0.0).to_numpy(dtype=float)


def _live_keys(inputs: Inputs, carbon: CarbonInputs) -> set[str]:
    """The pools-table keys whose live biomass a volume record replaces: the forest class or its codes."""
    forest = carbon.settings.forest_class
    if carbon.pools is not None and carbon.pools.key == "lucode":
        return {str(c) for c in inputs.class_map.classes.get(forest, ())}
    return {forest}


def _biomass_cover(inputs: Inputs, b: BiomassInput, sums: ZoneSums, unit_m2: float,
                   notes: list[str]) -> pd.DataFrame:
    frame = cs.biomass_sums(sums, n_zones=len(inputs.zones.ids), unit_m2=unit_m2)
    share = frame["covered_ha"].to_numpy() / np.maximum(zone_areas_m2(b.zones.geoms, b.info.grid) / M2_PER_HA,
                                                           1e-12)
    ids = inputs.zones.ids.astype(str)
    missed = ids[share <= 0]
    partial = [f"{z} ({s:.1%})" for z, s in zip(ids, share, strict=True) if 0 < s < _PARTIAL_COVER]
    if len(missed):
        notes.append(f"{b.spec.path}: the biomass raster has no valid cell in zone(s) {', '.join(missed[:20])}; "
                     f"their live biomass for {b.spec.year} comes from the pools table instead")
    if partial:
        notes.append(f"{b.spec.path}: the biomass raster covers only part of zone(s) {', '.join(partial[:20])}; "
                     "their biomass is the sum over the covered part")
    return frame


def _epoch_terms(inputs: Inputs, carbon: CarbonInputs, result: RunResult, totals: ZoneValueTotals, year: int,
                 biomass: pd.DataFrame | None, *, source: str, unit_m2: float) -> pd.DataFrame:
    """All terms of one epoch, with the precedence volume > biomass raster > pools table for live biomass."""
    n = len(inputs.zones.ids)
    forest_ha = _forest_ha(result.tables["zone_class_area"], year=year, forest=carbon.settings.forest_class,
                           zone_ids=inputs.zones.ids)
    records = carbon.volume[carbon.volume["year"] == year] if carbon.volume is not None else None
    volume_zones = np.zeros(n, dtype=bool)
    parts = []
    if records is not None and carbon.species is not None and len(records):
        volume_zones[records["zone"].to_numpy(dtype=np.int64)] = True
        parts.append(cs.volume_terms(records, carbon.species, year=year, forest_ha=forest_ha))
    raster_zones = np.zeros(n, dtype=bool) if biomass is None else (biomass["covered_ha"].to_numpy() > 0)
    raster_zones &= ~volume_zones
    if biomass is not None:
        parts.append(cs.biomass_terms(biomass, year=year, zones=raster_zones, source=source))
    if carbon.pools is not None:
        keys = cs.key_of_codes(carbon.pools, inputs.class_map, totals.value)
        areas = cs.key_areas_ha(totals, keys, n_zones=n, unit_m2=unit_m2)
        epoch = next(e for e in inputs.config.landcover if e.year == year)
        cs.check_keys_present(areas, carbon.pools, source=str(epoch.path))
        replaced = {int(z): _live_keys(inputs, carbon) for z in np.flatnonzero(volume_zones)}
        parts.append(cs.pool_terms(areas, carbon.pools, year=year, live_zones=~raster_zones, replaced=replaced))
    return pd.concat(parts, ignore_index=True)


def tabulate_carbon(inputs: Inputs, result: RunResult, totals: dict[int, ZoneValueTotals],
                    computed: CarbonComputed, *, unit_m2: float, biomass_unit_m2: dict[int, float]) -> list[str]:
    """Add zone_carbon, zone_transitions and zone_change to the result, and carbon columns to the zones."""
    carbon = inputs.carbon
    assert carbon is not None
    notes: list[str] = []
    by_year = {b.spec.year: b for b in carbon.biomass}
    terms = []
    for year in sorted(totals):
        biomass = None
        if year in computed.biomass:
            b = by_year[year]
            biomass = _biomass_cover(inputs, b, computed.biomass[year], biomass_unit_m2[year], notes)
        source = f"{by_year[year].spec.path} (R, CF from config)" if year in by_year else ""
        terms.append(_epoch_terms(inputs, carbon, result, totals[year], year, biomass, source=source, unit_m2=unit_m2))
    ev = cs.evaluate(pd.concat(terms, ignore_index=True), carbon.factors)
    ids = inputs.zones.ids
    pairs = epoch_pairs(list(totals))
    stock = cs.stock_table(ev, carbon.factors, zone_ids=ids)
    change = cs.change_table(ev, carbon.factors, zone_ids=ids, pairs=pairs)
    result.tables["zone_carbon"] = stock
    if pairs:
        result.tables["zone_transitions"] = _transitions(inputs, computed, unit_m2=unit_m2)
        result.tables["zone_change"] = change
    notes.extend(_method_mix_notes(ev.terms, pairs, ids))
    _zone_columns(result, stock, change, latest=max(totals))
    return notes


def _transitions(inputs: Inputs, computed: CarbonComputed, *, unit_m2: float) -> pd.DataFrame:
    frames = [cs.transition_table(*split_pair_codes(t.value), t, class_map=inputs.class_map,
                                  zone_ids=inputs.zones.ids, unit_m2=unit_m2, years=pair)
              for pair, t in sorted(computed.transitions.items())]
    return pd.concat(frames, ignore_index=True)


def _method_mix_notes(terms: pd.DataFrame, pairs: Sequence[tuple[int, int]], ids: NDArray[np.object_]) -> list[str]:
    methods = terms.groupby(["zone", "year"])["method"].agg(lambda m: tuple(sorted(set(m))))
    mixed = [f"{ids[z]} {y1}->{y2}" for y1, y2 in pairs for z in range(len(ids))
             if methods.get((z, y1)) != methods.get((z, y2))]
    if not mixed:
        return []
    return [f"carbon change mixes estimation methods between epochs for {', '.join(mixed[:20])}; "
            "part of that change is method, not land"]


def _zone_columns(result: RunResult, stock: pd.DataFrame, change: pd.DataFrame, *, latest: int) -> None:
    total = stock[(stock["pool"] == "total") & (stock["year"] == latest)].set_index("zone_id")
    zone_ids = result.zones["zone_id"].astype(str)
    result.zones["carbon_t"] = zone_ids.map(total["carbon_t"]).fillna(0.0).to_numpy()
    result.zones["co2e_t"] = zone_ids.map(total["co2e_t"]).fillna(0.0).to_numpy()
    rate = change[change["year_to"] == latest].set_index("zone_id")["co2e_per_year_t"] if len(change) else None
    result.zones["co2e_per_year_t"] = zone_ids.map(rate).to_numpy(dtype=float) if rate is not None else np.nan
