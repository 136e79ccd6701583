"""Candidate stage: the afforestation_candidates layer from the parcels the graph screened."""

from __future__ import annotations

import geopandas as gpd

from pipeline.core.names import CANDIDATES
from pipeline.inputs.check import Inputs
from pipeline.measure.graph import Computed
from pipeline.metrics.base import StageResult


def tabulate(inputs: Inputs, computed: Computed) -> StageResult:
    """Parcels in the zones' own CRS, with the note on how far their history was checked."""
    if computed.candidates is None:
        return StageResult()
    geoms, frame = computed.candidates
    layer = gpd.GeoDataFrame(frame, geometry=geoms, crs=inputs.grid.crs).to_crs(inputs.zones.source.crs)
    notes = (f"afforestation candidates: {frame['note'].iloc[0]}",) if len(frame) else ()
    return StageResult(tables={CANDIDATES: layer}, notes=notes)
