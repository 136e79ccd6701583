"""The only reader of run configs: a YAML file (or none), with the command line's overrides, becomes one checked
`RunConfig`; class maps named by a config are read here too.

Relative paths in a config file are taken relative to the folder of that file, so a config works the same from
`make`, from cron and from any working directory. Command-line paths are relative to the working folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.core.classmaps import BUILTIN_NAMES, ClassMap, builtin_class_map, parse_class_map
from pipeline.core.config import (
    BiomassRaster,
    Carbon,
    Epoch,
    History,
    Output,
    Overrides,
    RunConfig,
    Zones,
    format_validation_error,
    replaced,
)
from pipeline.core.errors import ConfigError
from pipeline.files.documents import read_yaml
from pipeline.files.paths import checked_path


def load_config(path: Path | None, flags: Overrides | None = None) -> RunConfig:
    """Read a YAML run config (or none: a one-off run from flags), put in the flags, check it all at once."""
    flags = flags or Overrides()
    if path is None:
        return _validated(lambda: with_flags(_one_off(flags), flags), "command line")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a run config is a YAML mapping of keys, got {type(raw).__name__}")
    resolved = _resolve(raw, path.resolve().parent, source=str(path))
    config = _validated(lambda: with_flags(RunConfig.model_validate(resolved), flags), str(path))
    return config.model_copy(update={"origin": str(path.resolve())})


def _validated(build: Any, source: str) -> RunConfig:
    try:
        config: RunConfig = build()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from exc
    return config


def with_flags(config: RunConfig, flags: Overrides) -> RunConfig:
    """The config with the command line's settings in place of the file's."""
    output = replaced(config.output, dir=_absolute(str(flags.out))) if flags.out is not None else config.output
    history = History(target=_store_target(flags.history)) if flags.history is not None else config.history
    return replaced(config, output=output, compute=replaced(config.compute, **_given(scheduler=flags.scheduler)),
                    history=history,
                    zones=replaced(config.zones, **_given(layer=flags.zones_layer, encoding=flags.zones_encoding)),
                    carbon=_carbon_with_flags(config, flags))


def _given(**values: object) -> dict[str, object]:
    """The settings a flag gave (a flag left out is None and changes nothing)."""
    return {key: value for key, value in values.items() if value}


def _carbon_with_flags(config: RunConfig, flags: Overrides) -> Carbon | None:
    pools = (_absolute(flags.pools) if flags.pools.endswith(".csv") else flags.pools) if flags.pools else None
    biomass = tuple(BiomassRaster(**_year_and_path(item, flag="--biomass", default_year=config.landcover[-1].year))
                    for item in flags.biomass)
    changes = _given(pools=pools, biomass=biomass)
    if not changes:
        return config.carbon
    return replaced(config.carbon, **changes) if config.carbon is not None else Carbon.model_validate(changes)


def _one_off(flags: Overrides) -> RunConfig:
    """The config of a run given entirely by flags."""
    missing = [flag for flag, v in (("--landcover", flags.landcover), ("--zones", flags.zones),
                                    ("--zone-id", flags.zone_id), ("--classes", flags.classes),
                                    ("--out", flags.out)) if not v]
    if missing:
        raise ConfigError(f"without a config file, give {', '.join(missing)}")
    classes = str(flags.classes)
    return RunConfig(name="one-off",
                     landcover=tuple(Epoch(**_year_and_path(item, flag="--landcover", default_year=None))
                                     for item in flags.landcover),
                     zones=Zones(path=Path(_absolute(str(flags.zones))), id_field=str(flags.zone_id)),
                     classes=_absolute(classes) if classes.endswith((".yaml", ".yml")) else classes,
                     output=Output(dir=Path(_absolute(str(flags.out)))))


def is_url(target: str) -> bool:
    """A history store named by a URL (postgresql://...) rather than a file."""
    return "://" in target


def _store_target(target: str) -> str:
    return target if is_url(target) else _absolute(target)


def _absolute(value: str) -> str:
    return str(Path(checked_path(value, source="the command line")).resolve())


_YEAR_IN_NAME = re.compile(r"(?<!\d)(19\d\d|2[01]\d\d)(?!\d)")


def year_in_name(path: str) -> int | None:
    """The one year a file name holds (`ESA_WorldCover_10m_2021_v200_*`), or None when none or several."""
    years = set(_YEAR_IN_NAME.findall(Path(path).name))
    return int(years.pop()) if len(years) == 1 else None


def _year_and_path(item: str, *, flag: str, default_year: int | None) -> dict[str, Any]:
    """`YEAR=PATH`, or a bare `PATH` taking `default_year`, or else the year in its file name."""
    year, sep, path = item.partition("=")
    if not sep:
        named = default_year if default_year is not None else year_in_name(item)
        if named is None:
            raise ConfigError(f"{flag} {item}: its file name holds no year (or several), so the year it shows "
                              f"is unknown; give it as {flag} YEAR=PATH, e.g. {flag} 2020={item}")
        year, path = str(named), item
    if not year.strip().isdigit():
        raise ConfigError(f"{flag} {item!r}: the year before '=' must be a number")
    return {"year": int(year), "path": _absolute(path)}


def _resolve(raw: dict[str, Any], base: Path, *, source: str) -> dict[str, Any]:
    """Make the relative paths of a raw config absolute against the config file's folder."""
    def fix(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if Path(value).is_absolute():
            return checked_path(value, source=source)
        return str(Path(checked_path(str(base / value), source=source)).resolve())

    out = dict(raw)
    for listed in ("landcover", "values"):
        if isinstance(raw.get(listed), list):  # anything else is left for validation to report
            out[listed] = [{**e, "path": fix(e.get("path"))} if isinstance(e, dict) else e for e in raw[listed]]
    for section, key in (("zones", "path"), ("output", "dir"), ("plans", "path"), ("accuracy", "samples"),
                         ("protected_areas", "path")):
        if isinstance(raw.get(section), dict):
            out[section] = {**raw[section], key: fix(raw[section].get(key))}
    history = raw.get("history")
    if isinstance(history, dict) and isinstance(history.get("target"), str) and not is_url(history["target"]):
        out["history"] = {**history, "target": fix(history["target"])}
    wetlands = out["protected_areas"].get("wetlands") if isinstance(out.get("protected_areas"), dict) else None
    if isinstance(wetlands, dict):
        out["protected_areas"] = {**out["protected_areas"], "wetlands": {**wetlands, "path": fix(wetlands.get("path"))}}
    classes = raw.get("classes")
    if isinstance(classes, str) and classes.endswith((".yaml", ".yml")):
        out["classes"] = fix(classes)
    if isinstance(raw.get("carbon"), dict):
        out["carbon"] = _resolve_carbon(raw["carbon"], fix)
    return out


def _resolve_carbon(carbon: dict[str, Any], fix: Any) -> dict[str, Any]:
    """Table paths (anything ending .csv) and raster paths of the carbon section, made absolute."""
    out = dict(carbon)
    for key in ("pools", "species"):
        if isinstance(carbon.get(key), str) and carbon[key].endswith(".csv"):
            out[key] = fix(carbon[key])
    out["biomass"] = [{**b, "path": fix(b.get("path"))} if isinstance(b, dict) else b
                      for b in carbon.get("biomass") or []]
    if isinstance(carbon.get("volume"), dict) and carbon["volume"].get("table"):
        out["volume"] = {**carbon["volume"], "table": fix(carbon["volume"]["table"])}
    return out


def load_class_map(spec: str) -> ClassMap:
    """A built-in class map by name, or a user's YAML file (see `parse_class_map` for its form)."""
    if spec in BUILTIN_NAMES:
        return builtin_class_map(spec)
    path = Path(spec)
    return parse_class_map(read_yaml(path), origin=str(path), name=path.stem, default_source=path.name)
