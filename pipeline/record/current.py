"""current_zones, written where what it shows changes: at each ingest and each review, inside their transaction."""

from __future__ import annotations

from pipeline.record.backend import Store
from pipeline.record.schema import current_zones_upsert

_ONE_SET = current_zones_upsert(one_set=True)


def write_current_zones(store: Store, *, zone_set: str) -> None:
    store.execute(_ONE_SET, (zone_set, zone_set))
