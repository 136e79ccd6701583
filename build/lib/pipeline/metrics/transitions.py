"""Transition stage: zone_transitions, the area (ha) of each zone moving from one class to another between epochs.

The graph decides the pairs (consecutive epochs, first to last, and `transitions.pairs`); only areas
above zero get a row."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.core.classmaps import NODATA_CLASS, ClassMap
from pipeline.core.names import TRANSITIONS
from pipeline.core.sums import ZoneValueTotals
from pipeline.core.units import M2_PER_HA
from pipeline.inputs.check import Inputs
from pipeline.measure.graph import Computed
from pipeline.measure.kernels.zonal import NODATA_CODE, lookup_codes, split_pair_codes
from pipeline.metrics.base import StageResult


def transition_table(codes_from: NDArray[np.int64], codes_to: NDArray[np.int64], totals: ZoneValueTotals, *,
                     class_map: ClassMap, zone_ids: NDArray[np.object_], unit_m2: float,
                     years: tuple[int, int]) -> pd.DataFrame:
    """zone_transitions rows: area (ha) per zone moving from one class to another between two epochs.

    `codes_from`/`codes_to` are the split pair codes of `totals`; nodata codes become class `nodata`.
    """
    lookup: dict[int, object] = {**class_map.code_to_class(),
                                 **dict.fromkeys((*class_map.nodata_codes, NODATA_CODE), NODATA_CLASS)}
    unmapped = {int(c): str(c) for c in np.unique(np.concatenate([codes_from, codes_to])) if int(c) not in lookup}
    frame = pd.DataFrame({
        "zone": totals.zone, "class_from": lookup_codes(codes_from, {**unmapped, **lookup}),
        "class_to": lookup_codes(codes_to, {**unmapped, **lookup}), "area_ha": totals.units * unit_m2 / M2_PER_HA,
    })
    frame = frame.groupby(["zone", "class_from", "class_to"], as_index=False).agg(area_ha=("area_ha", "sum"))
    return pd.DataFrame({"zone_id": zone_ids[frame["zone"].to_numpy(dtype=np.int64)].astype(str),
                         "year_from": years[0], "year_to": years[1], "class_from": frame["class_from"],
                         "class_to": frame["class_to"], "area_ha": frame["area_ha"]})


def tabulate(inputs: Inputs, computed: Computed) -> StageResult:
    """zone_transitions for every epoch pair the graph computed (none: no table)."""
    if not computed.transitions:
        return StageResult()
    frames = [transition_table(*split_pair_codes(t.value), t, class_map=inputs.class_map, zone_ids=inputs.zones.ids,
                               unit_m2=computed.unit_m2, years=pair)
              for pair, t in sorted(computed.transitions.items())]
    return StageResult(tables={TRANSITIONS: pd.concat(frames, ignore_index=True)})
