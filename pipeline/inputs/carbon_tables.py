"""The carbon section of a config, read and checked before any compute: factor tables (pools, species),
stock-volume records, biomass raster headers and the conversion factors with their ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import BiomassRaster, Carbon, FactorRange, RunConfig
from pipeline.core.errors import SinkzoneError, TableError
from pipeline.files.rasters import RasterInfo, raster_info
from pipeline.files.tables import read_csv_table
from pipeline.inputs.zones import PreparedZones, prepare_zones, zones_off_grid

POOLS = ("c_above", "c_below", "c_soil", "c_dead")
SPECIES_FACTORS = ("wd", "bef", "r", "cf")
BUILTIN_POOLS = {"baotou": "pools_baotou.csv"}
BUILTIN_SPECIES = {"ar_cm_001_recalled": "species_ar_cm_001.csv"}
# Upper bounds of a plausible factor, far above any published value, to catch typos and units mix-ups
# (1e308, kg for t): carbon density of any pool, deep peat soils included, stays below 5,000 t C/ha;
# wood density below 1.5 t/m3; BEF and root-to-shoot ratio below 10; the carbon fraction is a fraction.
POOL_LIMITS = dict.fromkeys(POOLS, 5000.0)
SPECIES_LIMITS = {"wd": 1.5, "bef": 10.0, "r": 10.0, "cf": 1.0}
# what the carbon stage adds to the zone layer
CARBON_ZONE_FIELDS = ("carbon_t", "co2e_t", "co2e_per_year_t")


@dataclass(frozen=True)
class FactorTable:
    """Factor values per row key (class, code or species): columns <f>, <f>_low, <f>_high and source."""

    name: str
    key: str
    frame: pd.DataFrame
    factors: tuple[str, ...]

    def factor_rows(self, prefix: str) -> pd.DataFrame:
        """One row per (key, factor): id, value, low, high; a missing range means no uncertainty."""
        rows = [{"id": f"{prefix}:{key}:{f}", "value": row[f], "low": row[f"{f}_low"], "high": row[f"{f}_high"]}
                for key, row in self.frame.iterrows() for f in self.factors]
        return pd.DataFrame(rows, columns=["id", "value", "low", "high"])


def _factor_table(frame: pd.DataFrame, *, name: str, keys: Sequence[str], factors: Sequence[str],
                  limits: Mapping[str, float]) -> FactorTable:
    """Check a factor table read from CSV: key column, finite values from 0 to the factor's limit,
    low <= value <= high."""
    key = next((k for k in keys if k in frame.columns), None)
    missing = [c for c in factors if c not in frame.columns]
    if key is None or missing:
        wanted = " or ".join(keys)
        raise TableError(f"{name}: needs a {wanted} column and {', '.join(factors)}; missing "
                         f"{', '.join(([] if key else [wanted]) + missing)} (columns: {', '.join(frame.columns)})")
    frame = frame.assign(**{key: frame[key].astype(str).str.strip()})
    dupes = sorted(set(frame[key][frame[key].duplicated()]))
    if dupes:
        raise TableError(f"{name}: {key} listed more than once: {', '.join(dupes)}")
    out = frame.set_index(key)
    for f in factors:
        out[f] = _numeric(out, f, name=name, required=True, limit=limits[f])
        for side in ("low", "high"):
            col = f"{f}_{side}"
            out[col] = _numeric(out, col, name=name, required=False, limit=limits[f]).fillna(out[f])
        bad = out.index[(out[f"{f}_low"] > out[f]) | (out[f"{f}_high"] < out[f])]
        if len(bad):
            raise TableError(f"{name}: {f}_low <= {f} <= {f}_high fails for {key} {', '.join(map(str, bad))}")
    if "source" not in out.columns:
        out["source"] = name
    out["source"] = out["source"].fillna(name).astype(str)
    return FactorTable(name=name, key=key, frame=out, factors=tuple(factors))


def _numeric(frame: pd.DataFrame, column: str, *, name: str, required: bool, limit: float) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    out_of_range = values.notna() & ~values.between(0.0, limit)  # also inf and -inf
    bad = frame.index[(values.isna() & required) | out_of_range]
    if len(bad):
        listed = ", ".join(f"{key} ({frame.at[key, column]!s})" for key in bad[:10])
        raise TableError(f"{name}: column {column} needs a number from 0 to {limit:g} for {listed}")
    return values


def pools_table(frame: pd.DataFrame, *, name: str) -> FactorTable:
    """An InVEST-style carbon pools table (t C/ha) keyed by `class` (class name) or `lucode` (raster code)."""
    return _factor_table(frame, name=name, keys=("class", "lucode"), factors=POOLS, limits=POOL_LIMITS)


def species_table(frame: pd.DataFrame, *, name: str) -> FactorTable:
    """Per-species wood density, BEF, root-to-shoot ratio and carbon fraction for the volume method."""
    return _factor_table(frame, name=name, keys=("species",), factors=SPECIES_FACTORS, limits=SPECIES_LIMITS)


def volume_records(frame: pd.DataFrame, *, zone_ids: Sequence[str], species: FactorTable, years: Sequence[int],
                   name: str) -> pd.DataFrame:
    """Check a volume table (zone_id, species, volume_m3 or volume_m3_ha, optional year) and number its zones.

    A record without a year applies to every epoch.
    """
    units = [c for c in ("volume_m3", "volume_m3_ha") if c in frame.columns]
    if len(units) != 1 or not {"zone_id", "species"} <= set(frame.columns):
        raise TableError(f"{name}: needs zone_id, species and one of volume_m3 / volume_m3_ha "
                         f"(columns: {', '.join(map(str, frame.columns))})")
    out = frame.assign(zone_id=frame["zone_id"].astype(str), species=frame["species"].map(_species_text))
    out[units[0]] = pd.to_numeric(out[units[0]], errors="coerce")
    aliases = species_aliases(species)
    out["species"] = [aliases.get(s, aliases.get(s.lower(), s)) for s in out["species"]]
    number = {z: i for i, z in enumerate(zone_ids)}
    valid = out[units[0]] >= 0
    known = out["species"].isin(species.frame.index) | ((out["species"] == "") & (out[units[0]] == 0))
    problems = [f"row {i + 2}: {col} {out.at[i, col]!r} {why}" for i in out.index for col, ok, why in (
        ("zone_id", out.at[i, "zone_id"] in number, "is not a zone id"),
        ("species", bool(known.loc[i]), f"is not in the species table {species.name} (by key, name_zh or "
                                        "name_latin)"),
        (units[0], bool(valid.loc[i]), "is not a number >= 0"),
    ) if not ok]
    if problems:
        raise TableError(f"{name}: " + "; ".join(problems[:10]))
    out["zone"] = out["zone_id"].map(number)
    if "year" not in out.columns:
        return out.merge(pd.DataFrame({"year": list(years)}), how="cross")
    out["year"] = pd.to_numeric(out["year"], errors="coerce")
    return out[out["year"].isin(list(years))]


def _species_text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()


def species_aliases(species: FactorTable) -> dict[str, str]:
    """A species' key from its key, its Chinese name (油松, as 小班 tables write it) or its Latin name (any case)."""
    aliases = {str(k): str(k) for k in species.frame.index}
    for column in ("name_latin", "name_zh"):
        if column in species.frame.columns:
            for key, name in species.frame[column].dropna().items():
                aliases.setdefault(str(name).strip(), str(key))
                aliases.setdefault(str(name).strip().lower(), str(key))
    return aliases


@dataclass(frozen=True)
class BiomassInput:
    spec: BiomassRaster
    info: RasterInfo
    zones: PreparedZones


@dataclass(frozen=True)
class CarbonInputs:
    """The carbon section, read and checked: tables, volume records, biomass rasters and all factors."""

    settings: Carbon
    pools: FactorTable | None
    species: FactorTable | None
    volume: pd.DataFrame | None
    biomass: tuple[BiomassInput, ...]
    factors: pd.DataFrame
    notes: tuple[str, ...]
    # the volume records carry inventory years (else one inventory serves every epoch)
    volume_dated: bool = False


def _factor_rows(settings: Carbon) -> pd.DataFrame:
    def row(key: str, f: FactorRange) -> dict[str, Any]:
        return {"id": f"biomass:{key}", "value": f.value, "low": f.value if f.low is None else f.low,
                "high": f.value if f.high is None else f.high}

    return pd.DataFrame([row("r", settings.root_shoot), row("cf", settings.carbon_fraction)])


def _volume_frame(settings: Carbon, zones: PreparedZones, notes: list[str]) -> tuple[pd.DataFrame, str]:
    """Volume records from the CSV table, or from the zone layer's fields (zones without a volume skipped)."""
    volume = settings.volume
    assert volume is not None
    if volume.table is not None:
        table = read_csv_table(str(volume.table), builtins={})
        notes += table.notes()
        return table.frame, table.name
    source = zones.source
    missing = [f for f in (volume.field, volume.species_field) if f is not None and f not in source.columns]
    if missing:
        raise SinkzoneError(f"zone layer: no field {', '.join(missing)} for the stock volume")
    frame = pd.DataFrame({"zone_id": zones.ids.astype(str),
                          "species": source[volume.species_field] if volume.species_field else volume.species,
                          f"volume_{volume.unit}": source[volume.field].to_numpy()})
    return frame[frame[f"volume_{volume.unit}"].notna()].reset_index(drop=True), f"zone layer field {volume.field}"


def _biomass_input(spec: BiomassRaster, zones: PreparedZones, id_field: str,
                   problems: list[str]) -> BiomassInput | None:
    info = raster_info(spec.path)
    if not np.issubdtype(np.dtype(info.dtype), np.number):
        problems.append(f"{spec.path}: a biomass raster must hold numbers (t d.m./ha), but it is {info.dtype}")
        return None
    on_grid = prepare_zones(zones.source, id_field=id_field, grid=info.grid, source=str(spec.path))
    missed = zones_off_grid(on_grid, info.grid)
    if len(missed) == len(on_grid.ids):
        problems.append(f"{spec.path}: the biomass raster misses every zone")
        return None
    return BiomassInput(spec=spec, info=info, zones=on_grid)


def _read_table(spec: str, check: Callable[..., FactorTable], builtins: Mapping[str, str],
                notes: list[str]) -> FactorTable:
    table = read_csv_table(spec, builtins=builtins)
    notes += table.notes()
    return check(table.frame, name=table.name)


def check_carbon(config: RunConfig, zones: PreparedZones, problems: list[str]) -> CarbonInputs | None:
    """Read the tables and biomass headers of the carbon section; problems are collected, not raised."""
    settings = config.carbon
    if settings is None:
        return None
    years = [e.year for e in config.landcover]
    ids = [str(z) for z in zones.ids]
    notes: list[str] = []
    try:
        pools = _read_table(settings.pools, pools_table, BUILTIN_POOLS, notes) if settings.pools else None
        species = _read_table(settings.species, species_table, BUILTIN_SPECIES, notes) if settings.volume else None
        volume, dated = None, False
        if settings.volume is not None and species is not None:
            frame, name = _volume_frame(settings, zones, notes)
            volume = volume_records(frame, zone_ids=ids, species=species, years=years, name=name)
            dated = "year" in frame.columns
        biomass = [_biomass_input(b, zones, config.zones.id_field, problems) for b in settings.biomass]
    except SinkzoneError as exc:
        problems.append(str(exc))
        return None
    factors = pd.concat([_factor_rows(settings), *(t.factor_rows(p) for p, t in
                                                   (("pools", pools), ("species", species)) if t is not None)],
                        ignore_index=True)
    return CarbonInputs(settings=settings, pools=pools, species=species, volume=volume,
                        biomass=tuple(b for b in biomass if b is not None), factors=factors,
                        notes=(*notes, *_table_notes(pools, species, volume)), volume_dated=dated)


def _table_notes(pools: FactorTable | None, species: FactorTable | None,
                 volume: pd.DataFrame | None) -> list[str]:
    notes = []
    if pools is not None and "local_survey" in pools.frame.columns:
        marked = pools.frame["local_survey"].dropna()
        if len(marked):
            notes.append(f"carbon pools {pools.name}: default factors to replace with local survey data: "
                         + "; ".join(f"{k}: {v}" for k, v in marked.items()))
    if species is not None and volume is not None and "verified" in species.frame.columns:
        used = species.frame.loc[sorted(set(volume["species"]) - {""})]
        unverified = used.index[used["verified"].astype(str).str.upper() == "U"]
        if len(unverified):
            notes.append(f"species factors {species.name} for {', '.join(unverified)} are UNVERIFIED recalled "
                         "defaults; check them against the AR-CM-001-V01 / CCER-14-001-V01 annex before reporting")
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
