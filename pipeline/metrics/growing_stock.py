"""森林蓄积量 (forest growing stock): table `zone_growing_stock`, m³ per zone and for the region, each epoch the
stock-volume records cover, and the yearly growth between two dated inventories.

The volume records are those the carbon section reads (a volume table or zone-layer fields): `volume_m3` as
given, or `volume_m3_ha` x the zone's area of the forest classes (carbon.forest_class) in that epoch. The region
is the sum of its zones: 小班 records belong to one zone each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.names import GROWING_STOCK
from pipeline.inputs.check import Inputs
from pipeline.metrics.base import StageResult
from pipeline.metrics.carbon import forest_area_ha, forest_classes
from pipeline.metrics.carbon_terms import volume_m3

LABEL_ZH = "森林蓄积量"
LABEL_EN = "Forest growing stock"
COLUMNS = ["level", "zone_id", "year", "growing_stock_m3", "growth_m3_per_year", "label_zh", "label_en",
           "illustrative"]


def with_growth(stock: pd.DataFrame) -> pd.DataFrame:
    """Yearly growth of each zone's stock since its previous inventory year (empty for the first)."""
    stock = stock.sort_values(["level", "zone_id", "year"], key=lambda c: c == "region" if c.name == "level" else c,
                              kind="stable")
    previous = stock.groupby(["level", "zone_id"])[["year", "growing_stock_m3"]].shift()
    growth = (stock["growing_stock_m3"] - previous["growing_stock_m3"]) / (stock["year"] - previous["year"])
    return stock.assign(growth_m3_per_year=growth)


def stock_table(inputs: Inputs, *, class_area: pd.DataFrame) -> pd.DataFrame:
    """Zone and region stock per year of the volume records."""
    carbon = inputs.carbon
    assert carbon is not None
    assert carbon.volume is not None
    records = carbon.volume
    ids = inputs.zones.ids.astype(str)
    forest_rows = class_area[class_area["class"].isin(forest_classes(inputs, carbon))]
    frames = []
    for year in sorted(int(y) for y in records["year"].unique()):
        mine = records[records["year"] == year]
        m3 = volume_m3(mine, forest_ha=forest_area_ha(forest_rows, year=year, zone_ids=inputs.zones.ids))
        per_zone = np.bincount(mine["zone"].to_numpy(dtype=np.int64), weights=m3, minlength=len(ids))
        frames.append(pd.DataFrame({"level": [*["zone"] * len(ids), "region"],
                                    "zone_id": [*ids, inputs.config.region.name], "year": year,
                                    "growing_stock_m3": np.r_[per_zone, per_zone.sum()]}))
    stock = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS[:4])
    # one inventory read for every epoch has no growth between epochs
    stock = with_growth(stock) if carbon.volume_dated else stock.assign(growth_m3_per_year=np.nan)
    illustrative = bool(carbon.settings.volume and carbon.settings.volume.illustrative)
    return stock.assign(label_zh=LABEL_ZH, label_en=LABEL_EN, illustrative=illustrative)[COLUMNS].reset_index(drop=True)


def tabulate(inputs: Inputs, *, class_area: pd.DataFrame) -> StageResult:
    """zone_growing_stock when the carbon section reads stock volume."""
    if inputs.carbon is None or inputs.carbon.volume is None:
        return StageResult()
    notes = []
    volume = inputs.carbon.settings.volume
    if volume is not None and volume.illustrative:
        notes.append(f"stock volume {volume.table or volume.field} is ILLUSTRATIVE, not an inventory: the growing "
                     "stock is marked so, and the zone_carbon rows of method stock_volume are made from it too")
    if not inputs.overlaps.empty:
        notes.append("growing stock: zones overlap, and the region's stock is the sum of the zones' records, so a "
                     "stand recorded in two zones counts twice")
    return StageResult(tables={GROWING_STOCK: stock_table(inputs, class_area=class_area)}, notes=tuple(notes))
