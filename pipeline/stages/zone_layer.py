"""The `zones` layer: each zone's geometry and source attributes, then the fields every stage adds."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd

from pipeline.inputs.zones import PreparedZones


def zone_layer(zones: PreparedZones, fields: Sequence[pd.DataFrame]) -> gpd.GeoDataFrame:
    """zone_id, the source attributes, then the stages' fields in stage order (each indexed by zone id).

    A source field named like a computed one (say `area_ha`) is kept under `<name>_source`.
    """
    source = zones.source
    ids = zones.ids.astype(str)
    computed = pd.concat([f.reindex(ids) for f in fields], axis=1).set_axis(source.index)
    attributes = source.drop(columns=[source.geometry.name, *(["zone_id"] if "zone_id" in source else [])])
    taken = {"zone_id", *computed.columns}
    attributes = attributes.rename(columns={c: f"{c}_source" for c in attributes.columns if c in taken})
    frame = pd.concat([pd.DataFrame({"zone_id": ids}, index=source.index), attributes, computed], axis=1)
    return gpd.GeoDataFrame(frame, geometry=source.geometry.to_numpy(), crs=source.crs)
