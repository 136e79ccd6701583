"""Table `zone_values`: each value raster (NDVI, fractional cover ...) per zone, year and land-cover class.

Observed area and area-weighted mean, minimum, maximum and 10/50/90 % quantiles, with the exact coverage
weights the class areas use; values are the raster's raw numbers x scale + offset, nodata and numbers outside
the valid range left out (not observed). Classes are those of the land-cover epoch of the same year, or the
nearest earlier one (noted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.names import VALUES
from pipeline.core.units import M2_PER_HA
from pipeline.core.weighted import QUANTILES, group_starts, weighted_means, weighted_quantiles
from pipeline.inputs.check import Inputs
from pipeline.inputs.value_rasters import ValueInput
from pipeline.measure.graph import Computed, value_unit_m2
from pipeline.measure.kernels.values import ZoneClassValues
from pipeline.metrics.base import StageResult
from pipeline.metrics.class_area import class_of_codes

COLUMNS = ["name", "year", "landcover_year", "zone_id", "class", "observed_ha", "mean", "min", "max",
           *(f"p{round(q * 100)}" for q in QUANTILES), "illustrative"]


def value_stats(found: ZoneClassValues, *, scale: float, offset: float, unit_m2: float) -> pd.DataFrame:
    """Observed area (ha) and weighted statistics of the scaled values per (zone, code) group."""
    group = found.zone * (2**33) + (found.code - int(found.code.min(initial=0)))
    starts = group_starts(group)
    value = found.value * scale + offset  # scale > 0: the order of raw numbers is the order of values
    stats = {"zone": found.zone[starts], "code": found.code[starts],
             "observed_ha": np.add.reduceat(found.units, starts) * unit_m2 / M2_PER_HA if len(starts) else [],
             "mean": weighted_means(value, found.units, starts), "min": value[starts],
             "max": value[np.r_[starts[1:], len(value)] - 1] if len(starts) else []}
    for q in QUANTILES:
        stats[f"p{round(q * 100)}"] = weighted_quantiles(value, found.units, starts, q)
    return pd.DataFrame(stats)


def zone_value_table(v: ValueInput, found: ZoneClassValues, *, inputs: Inputs, unit_m2: float) -> pd.DataFrame:
    stats = value_stats(found, scale=v.spec.scale, offset=v.spec.offset, unit_m2=unit_m2)
    stats.insert(0, "zone_id", inputs.zones.ids.astype(str)[stats.pop("zone").to_numpy()])
    stats.insert(1, "class", class_of_codes(stats.pop("code").to_numpy(), inputs.class_map))
    return stats.assign(name=v.spec.name, year=v.spec.year, illustrative=v.spec.illustrative,
                        landcover_year=inputs.config.landcover[v.epoch].year)[COLUMNS]


def tabulate(inputs: Inputs, computed: Computed) -> StageResult:
    """zone_values for every value raster of the config; no table without one."""
    if not inputs.values:
        return StageResult()
    frames = [zone_value_table(v, computed.values[(v.spec.name, v.spec.year)], inputs=inputs,
                               unit_m2=value_unit_m2(v, inputs.grid)) for v in inputs.values]
    return StageResult(tables={VALUES: pd.concat(frames, ignore_index=True)})
