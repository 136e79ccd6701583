"""The `zones` layer: each zone's geometry and source attributes, then the fields every stage adds."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd

from pipeline.inputs.zones import PreparedZones, renamed_fields


def zone_layer(zones: PreparedZones, fields: Sequence[pd.DataFrame]) -> gpd.GeoDataFrame:
    """zone_id, the source attributes, then the stages' fields in stage order (each indexed by zone id).

    Every source field is kept: one named like a computed one in any case (`ZONE_ID`, `AREA_HA`) as
    `<name>_source`; the input check has noted it before the compute.
    """
    source = zones.source
    ids = zones.ids.astype(str)
    computed = pd.concat([f.reindex(ids) for f in fields], axis=1).set_axis(source.index)
    attributes = source.drop(columns=[source.geometry.name])
    attributes = attributes.rename(columns=renamed_fields(list(attributes.columns), ["zone_id", *computed.columns]))
    frame = pd.concat([pd.DataFrame({"zone_id": ids}, index=source.index), attributes, computed], axis=1)
    return gpd.GeoDataFrame(frame, geometry=source.geometry.to_numpy(), crs=source.crs)
