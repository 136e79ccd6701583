"""湿地保护率 (wetland protection rate): table `zone_wetland_protection`, per zone and for the region.

rate = wetland area inside the union of the protected areas / wetland area x 100; a place inside two reserves
counts once. Which wetland, by two routes (column `wetland_source`):
- `land cover`: the classes playing wetland (and water too where the region's `wetland_includes_water` says
  so), exact class areas from the coverage model, each land-cover epoch. Official rates differ mostly by that
  class list, and a coarse map may show no wetland at all.
- `wetland layer`: a survey's wetland polygons (`protected_areas.wetlands`), as official figures are made: the
  exact area of wetland ∩ zone and of wetland ∩ protected ∩ zone, in the survey's year."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.classmaps import NODATA_CLASS
from pipeline.core.config import ProtectedAreas
from pipeline.core.names import PROTECTION
from pipeline.core.units import M2_PER_HA
from pipeline.inputs.check import Inputs
from pipeline.inputs.protected_areas import ProtectedInput, SurveyWetland
from pipeline.measure.graph import Computed
from pipeline.metrics.base import StageResult
from pipeline.metrics.class_area import class_area_table
from pipeline.metrics.region import indicator_classes, region_class_area
from pipeline.metrics.vegetation import latest_zone_field

PROTECTION_FIELD = "wetland_protection_pct"  # the zone layer's field: the latest epoch's rate
LABEL_ZH = "湿地保护率"
LABEL_EN = "Wetland protection rate"
# the region's rows while they are summed, a key no zone id can be (ids are printable text)
_REGION_KEY = "\x00region"
# which wetland the rate measures: the land cover's wetland classes, or a survey's wetland polygons
LAND_COVER, LAYER = "land cover", "wetland layer"
COLUMNS = ["level", "zone_id", "year", "wetland_ha", "protected_wetland_ha", "protection_pct", "wetland_source",
           "wetland_classes", "label_zh", "label_en", "illustrative"]


def _wetland_ha(long: pd.DataFrame, classes: tuple[str, ...], key: str) -> pd.Series:
    """Wetland area (ha) by `key` and year from class-area rows."""
    wet = long[long["class"].isin(classes) & (long["class"] != NODATA_CLASS)]
    return wet.groupby([key, "year"])["area_ha"].sum()


def _land_cover_ha(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame,
                   ids: NDArray[np.object_]) -> tuple[pd.Series, pd.Series]:
    """Wetland and protected wetland (ha) by zone id and epoch, from the land cover's wetland classes."""
    classes = indicator_classes(inputs.config.region, inputs.class_map)["wetland"]
    protected_long = pd.concat([class_area_table(totals, class_map=inputs.class_map, zone_ids=ids,
                                                 off_raster_m2=np.zeros(len(ids)), unit_m2=computed.unit_m2, year=year)
                                for year, totals in sorted(computed.protected.items())], ignore_index=True)
    whole = pd.concat([class_area[["zone_id", "year", "class", "area_ha"]],
                       region_class_area(inputs, computed, class_area=class_area)
                       .assign(zone_id=_REGION_KEY)[["zone_id", "year", "class", "area_ha"]]], ignore_index=True)
    index = pd.MultiIndex.from_product([ids, sorted(computed.protected)], names=["zone_id", "year"])
    return (_wetland_ha(whole, classes, "zone_id").reindex(index, fill_value=0.0),
            _wetland_ha(protected_long, classes, "zone_id").reindex(index, fill_value=0.0))


def _layer_ha(survey: SurveyWetland, *, ids: NDArray[np.object_], year: int) -> tuple[pd.Series, pd.Series]:
    """Wetland and protected wetland (ha) by zone id, in the survey's year, measured from the wetland polygons."""
    index = pd.MultiIndex.from_product([ids, [year]], names=["zone_id", "year"])
    return (pd.Series(survey.wetland_m2 / M2_PER_HA, index=index),
            pd.Series(survey.protected_m2 / M2_PER_HA, index=index))


def protection_table(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame, spec: ProtectedAreas,
                     protected: ProtectedInput) -> pd.DataFrame:
    """Zone rows, then one region row per epoch (per the survey's year with a wetland layer)."""
    ids = np.array([*inputs.zones.ids.astype(str), _REGION_KEY], dtype=object)
    survey = spec.wetlands
    wetland, inside = (_layer_ha(protected.survey, ids=ids, year=survey.year) if survey and protected.survey else
                       _land_cover_ha(inputs, computed, class_area=class_area, ids=ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(wetland > 0, 100.0 * inside / wetland, math.nan)
    is_region = wetland.index.get_level_values("zone_id") == _REGION_KEY
    return pd.DataFrame({
        "level": np.where(is_region, "region", "zone"),
        "zone_id": np.where(is_region, inputs.config.region.name, wetland.index.get_level_values("zone_id")),
        "year": wetland.index.get_level_values("year"),
        "wetland_ha": wetland.to_numpy(), "protected_wetland_ha": inside.to_numpy(), "protection_pct": pct,
        "wetland_source": LAYER if survey else LAND_COVER,
        "wetland_classes": "" if survey else ", ".join(indicator_classes(inputs.config.region,
                                                                         inputs.class_map)["wetland"]),
        "label_zh": LABEL_ZH, "label_en": LABEL_EN,
        "illustrative": spec.illustrative or bool(survey and survey.illustrative)})[COLUMNS]


def _notes(inputs: Inputs, table: pd.DataFrame) -> list[str]:
    """Why a land-cover route's rate is empty; a wetland layer's own notes come with its reading."""
    classes = indicator_classes(inputs.config.region, inputs.class_map)["wetland"]
    if not classes:
        return [f"wetland protection: class map {inputs.class_map.name!r} has no class playing wetland"
                f"{' or water' if inputs.config.region.wetland_includes_water else ''}; every rate is empty"]
    no_wetland = table[(table["level"] == "region") & (table["wetland_ha"] <= 0)]["year"].tolist()
    if not no_wetland:
        return []
    return [f"wetland protection: the land cover maps no wetland ({', '.join(classes)}) inside the zones in "
            f"{', '.join(map(str, no_wetland))}, so the rate is empty; a map that shows the wetlands (CLCD 30 m) "
            "or a survey's wetland polygons (protected_areas.wetlands: 湿地资源调查, 三调 湿地) give it"]


def tabulate(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame) -> StageResult:
    """zone_wetland_protection when the config names protected areas."""
    spec = inputs.config.protected_areas
    if inputs.protected is None or spec is None:
        return StageResult()
    table = protection_table(inputs, computed, class_area=class_area, spec=spec, protected=inputs.protected)
    notes = [] if spec.wetlands else _notes(inputs, table)
    if spec.wetlands and not (table["wetland_ha"] > 0).any():
        notes.append(f"wetland protection: no polygon of {spec.wetlands.path} reaches any zone, so the rate is empty")
    return StageResult(tables={PROTECTION: table}, notes=tuple(notes),
                       record={"wetland_protection": {"wetland_source": LAYER if spec.wetlands else LAND_COVER}},
                       zone_fields=latest_zone_field(table, value="protection_pct", field=PROTECTION_FIELD))
