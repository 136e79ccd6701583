"""Accuracy stage: error-adjusted class areas with standard errors, for the region and for each zone.

The strata weights are the exact map class areas inside the union of the zones (overlaps counted once). When the
sample's strata are the assessed map's classes the estimator is Olofsson et al. (2013, 2014); when the sample was
stratified on another epoch's map it is Stehman (2014). The statistics are `pipeline.core.estimators`'s; this stage only
assembles their inputs from the run and their outputs into tables.

Per zone, a zone with at least `accuracy.min_zone_samples` sample points in every map class (stratum) it holds gets
its own estimate from its own points and map areas (`zone_sample`). Any other zone gets the region's error rates
applied to its own map areas (`region_error_rates`): Â_k = Σ_i A_i n_ik / n_i, whose standard error counts the
sampling error of the rates but assumes the zone's map errors are like the region's. With a Stehman design the
rates are p̂_ik / p̂_i. and that assumption's standard error is not available: it is left empty.

With `accuracy.change` the strata are change categories between two epochs (Olofsson et al. 2014, section 5): their
weights are the category areas inside the union of the zones, from the transition totals of the pair; the estimate
is the region's only, table accuracy_change_area.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.classmaps import NODATA_CLASS, ClassMap
from pipeline.core.config import Change
from pipeline.core.errors import TableError
from pipeline.core.estimators import AccuracyResult, change_category, stehman_estimate, stratified_estimate
from pipeline.core.names import (
    ACCURACY_AREA,
    ACCURACY_CHANGE_AREA,
    ACCURACY_EXCLUDED,
    ACCURACY_MATRIX,
    ACCURACY_SUMMARY,
    ZONE_ACCURACY,
)
from pipeline.core.sums import ZoneValueTotals
from pipeline.core.units import M2_PER_HA
from pipeline.inputs.check import Inputs
from pipeline.inputs.sample_points import AccuracyInputs
from pipeline.measure.graph import Computed
from pipeline.measure.kernels.zonal import split_pair_codes
from pipeline.metrics.base import StageResult
from pipeline.metrics.class_area import union_areas_ha

ZONE_SAMPLE, REGION_RATES = "zone_sample", "region_error_rates"
OLOFSSON, STEHMAN = "stratified (Olofsson et al. 2013, 2014)", "strata differ from map classes (Stehman 2014)"
AREA_COLUMNS = ["year", "class", "map_area_ha", "adjusted_area_ha", "se_ha", "ci95_low_ha", "ci95_high_ha",
                "users_accuracy", "users_se", "producers_accuracy", "producers_se", "n_samples"]
CHANGE_COLUMNS = ["year_from", "year_to", "category", *AREA_COLUMNS[2:]]
_RENAMED = {"map_area": "map_area_ha", "adjusted_area": "adjusted_area_ha", "se_area": "se_ha",
            "ci95_low": "ci95_low_ha", "ci95_high": "ci95_high_ha"}


def zone_areas_ha(class_area: pd.DataFrame, *, year: int) -> pd.DataFrame:
    """Map class areas (ha) per zone for one epoch: zones as rows, classes as columns, nodata left out."""
    one = class_area[(class_area["year"] == year) & (class_area["class"] != NODATA_CLASS)]
    order = list(dict.fromkeys(one["class"]))
    return one.pivot(index="zone_id", columns="class", values="area_ha")[order]


def assessed_classes(areas: pd.Series, samples: pd.DataFrame) -> list[Hashable]:
    """Classes with map area or with sample points, in the order of `areas` (the class map's)."""
    seen = set(samples["map_class"]) | set(samples["reference_class"]) | set(samples["stratum"])
    return [c for c in areas.index if areas[c] > 0 or c in seen]


def _too_few(counts: pd.Series, areas: pd.Series, *, minimum: int) -> list[str]:
    return [str(c) for c in areas.index if areas[c] > 0 and counts.get(c, 0) < minimum]


def error_counts(samples: pd.DataFrame, classes: list[Hashable]) -> pd.DataFrame:
    """n_ij: rows map class, columns reference class, every class in both, in the given order."""
    counts = pd.crosstab(samples["map_class"], samples["reference_class"])
    return counts.reindex(index=classes, columns=classes, fill_value=0)


def _check_strata(samples: pd.DataFrame, strata_area: pd.Series, *, source: str, what: str) -> None:
    """A stratum with area but under 2 points stops the run: its variance is undefined."""
    strata = samples["stratum"].value_counts()
    thin = _too_few(strata, strata_area, minimum=2)
    if thin:
        listed = ", ".join(f"{c} ({strata_area[c]:,.2f} ha, {strata.get(c, 0)} point(s))" for c in thin)
        raise TableError(f"{source}: {what} inside the zones with fewer than 2 usable sample points: {listed}. "
                         "Every stratum with area needs at least 2 (sinkzone sample allocates at least "
                         "--min-per-stratum); add points in those strata")


def region_estimate(acc: AccuracyInputs, *, map_area: pd.Series, strata_area: pd.Series,
                    source: str) -> tuple[AccuracyResult, str]:
    """The region's estimate and the estimator's name; a stratum with area but under 2 points stops the run."""
    _check_strata(acc.samples, strata_area, source=source, what=f"map class(es) of {acc.strata_year}")
    classes = assessed_classes(map_area.add(strata_area, fill_value=0.0), acc.samples)
    if acc.year == acc.strata_year:
        return stratified_estimate(error_counts(acc.samples, classes), map_area=map_area.reindex(classes)), OLOFSSON
    result = stehman_estimate(acc.samples, stratum_sizes=strata_area[strata_area > 0], classes=classes)
    classes_frame = result.classes.assign(map_area=map_area.reindex(classes).to_numpy())
    return AccuracyResult(classes_frame, result.proportions, result.overall_accuracy, result.overall_se,
                          result.n_samples), STEHMAN


def area_table(result: AccuracyResult, *, year: int) -> pd.DataFrame:
    return result.classes.rename(columns=_RENAMED).assign(year=year)[AREA_COLUMNS]


def matrix_table(result: AccuracyResult, samples: pd.DataFrame, *, year: int) -> pd.DataFrame:
    """The error matrix long: sample counts and estimated area proportions per (map class, reference class)."""
    labels = list(result.proportions.index)
    counts = error_counts(samples, labels).stack()
    proportions = result.proportions.stack()
    return pd.DataFrame({"year": year, "map_class": proportions.index.get_level_values(0).astype(str),
                         "reference_class": proportions.index.get_level_values(1).astype(str),
                         "n": counts.reindex(proportions.index, fill_value=0).to_numpy(dtype=np.int64),
                         "area_proportion": proportions.to_numpy()})


def summary_table(result: AccuracyResult, acc: AccuracyInputs, *, estimator: str) -> pd.DataFrame:
    return pd.DataFrame([{"year": acc.year, "strata_year": acc.strata_year,
                          "overall_accuracy": result.overall_accuracy, "overall_se": result.overall_se,
                          "n_samples": result.n_samples, "n_excluded": len(acc.excluded), "estimator": estimator}])


def _rates_estimate(region: AccuracyResult, zone_area: pd.Series) -> pd.DataFrame:
    """Region rates p̂_ik / p̂_i. applied to a zone's map areas (Stehman designs): areas and accuracies, no SE."""
    p = region.proportions
    rates = p.div(p.sum(axis=1).replace(0.0, np.nan), axis=0).fillna(0.0)
    area = zone_area.reindex(p.index, fill_value=0.0)
    cells = rates.mul(area, axis=0)
    adjusted = cells.sum(axis=0)
    diag = pd.Series(np.diag(cells), index=p.index)
    frame = region.classes.set_index("class").assign(
        map_area=area, adjusted_area=adjusted, se_area=np.nan, ci95_low=np.nan, ci95_high=np.nan, producers_se=np.nan,
        producers_accuracy=diag / adjusted.replace(0.0, np.nan), n_samples=0)
    return frame.reset_index()


def _zone_estimate(acc: AccuracyInputs, region: AccuracyResult, mine: pd.DataFrame, *, area: pd.Series,
                   strata: pd.Series, own: bool) -> pd.DataFrame:
    """The per-class frame of one zone: its own sample's estimate, or the region's rates on its map areas."""
    classes = list(region.proportions.index)
    if own and acc.year == acc.strata_year:
        return stratified_estimate(error_counts(mine, classes), map_area=area).classes
    if own:
        return stehman_estimate(mine, stratum_sizes=strata[strata > 0], classes=classes).classes.assign(
            map_area=area.to_numpy())
    if acc.year == acc.strata_year:
        return stratified_estimate(error_counts(acc.samples, classes), map_area=area).classes
    return _rates_estimate(region, area)


def zone_table(acc: AccuracyInputs, region: AccuracyResult, *, zone_ids: NDArray[np.object_],
               zone_map: pd.DataFrame, zone_strata: pd.DataFrame, minimum: int) -> pd.DataFrame:
    """One row per zone and class: the zone's own estimate where its sample is large enough, else region rates."""
    classes = list(region.proportions.index)
    frames = []
    for number, zone_id in enumerate(zone_ids.astype(str)):
        mine = acc.samples.iloc[acc.members[acc.members[:, 1] == number, 0]]
        area = zone_map.loc[zone_id].reindex(classes, fill_value=0.0)
        if not area.sum() > 0:
            continue  # a zone wholly on nodata in the assessed epoch has no map area to adjust
        strata = zone_strata.loc[zone_id].reindex(classes, fill_value=0.0)
        own = len(mine) > 0 and not _too_few(mine["stratum"].value_counts(), strata, minimum=minimum)
        frame = _zone_estimate(acc, region, mine, area=area, strata=strata, own=own)
        # n_samples counts the zone's own points per map class, whichever sample the rates come from
        counts = mine["map_class"].value_counts().reindex(classes, fill_value=0).to_numpy(dtype=np.int64)
        table = frame.rename(columns=_RENAMED).assign(year=acc.year, n_samples=counts)[AREA_COLUMNS]
        frames.append(table.assign(zone_id=zone_id, method=ZONE_SAMPLE if own else REGION_RATES))
    return pd.concat(frames, ignore_index=True)[["zone_id", *AREA_COLUMNS, "method"]]


def change_areas_ha(totals: ZoneValueTotals, *, class_map: ClassMap, group: tuple[str, ...], change: Change,
                    unit_m2: float) -> pd.Series:
    """Map area (ha) of each change category from a pair's transition totals; cells on nodata or on a code the
    class map lacks in either epoch are outside the population, as in `sinkzone sample`."""
    lookup = class_map.code_to_class()
    was, now = (np.array([lookup.get(int(c), NODATA_CLASS) for c in codes], dtype=object)
                for codes in split_pair_codes(totals.value))
    known = (was != NODATA_CLASS) & (now != NODATA_CLASS)
    number = change_category(np.isin(was, group), np.isin(now, group))[known]
    area = np.bincount(number, weights=totals.units[known] * unit_m2 / M2_PER_HA, minlength=4)
    return pd.Series(area, index=list(change.categories))


def change_area_table(result: AccuracyResult, change: Change) -> pd.DataFrame:
    frame = result.classes.rename(columns={**_RENAMED, "class": "category"})
    return frame.assign(year_from=change.from_year, year_to=change.to_year)[CHANGE_COLUMNS]


def change_tables(acc: AccuracyInputs, inputs: Inputs, computed: Computed, *, change: Change,
                  source: str) -> dict[str, pd.DataFrame]:
    """accuracy_change_area, with the summary, matrix and left-out points of the change sample (region only)."""
    areas = change_areas_ha(computed.union_transitions[(change.from_year, change.to_year)],
                            class_map=inputs.class_map, group=change.group(inputs.class_map), change=change,
                            unit_m2=computed.unit_m2)
    _check_strata(acc.samples, areas, source=source,
                  what=f"change categories {change.from_year}-{change.to_year}")
    categories = assessed_classes(areas, acc.samples)
    result = stratified_estimate(error_counts(acc.samples, categories), map_area=areas.reindex(categories))
    return {ACCURACY_CHANGE_AREA: change_area_table(result, change),
            ACCURACY_SUMMARY: summary_table(result, acc, estimator=OLOFSSON),
            ACCURACY_MATRIX: matrix_table(result, acc.samples, year=acc.year),
            ACCURACY_EXCLUDED: acc.excluded.assign(year=acc.year)}


def tabulate(inputs: Inputs, computed: Computed, *, class_area: pd.DataFrame) -> StageResult:
    """accuracy_area, accuracy_summary, accuracy_matrix, accuracy_excluded and zone_accuracy_area; or, with
    accuracy.change, accuracy_change_area instead of the two class-area tables."""
    acc, settings = inputs.accuracy, inputs.config.accuracy
    if acc is None or settings is None:
        return StageResult()
    if settings.change is not None:
        return StageResult(tables=change_tables(acc, inputs, computed, change=settings.change,
                                                source=str(settings.samples)))
    areas = {y: union_areas_ha(computed.union_totals[y], class_map=inputs.class_map, unit_m2=computed.unit_m2, year=y)
             for y in {acc.year, acc.strata_year}}
    region, estimator = region_estimate(acc, map_area=areas[acc.year], strata_area=areas[acc.strata_year],
                                        source=str(settings.samples))
    zones = zone_table(acc, region, zone_ids=inputs.zones.ids, zone_map=zone_areas_ha(class_area, year=acc.year),
                       zone_strata=zone_areas_ha(class_area, year=acc.strata_year), minimum=settings.min_zone_samples)
    tables = {ACCURACY_AREA: area_table(region, year=acc.year), ZONE_ACCURACY: zones,
              ACCURACY_SUMMARY: summary_table(region, acc, estimator=estimator),
              ACCURACY_MATRIX: matrix_table(region, acc.samples, year=acc.year),
              ACCURACY_EXCLUDED: acc.excluded.assign(year=acc.year)}
    return StageResult(tables=tables)
