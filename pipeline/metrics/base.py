"""What every stage returns: new tables, new zone-layer fields and notes; never an edit of another's output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class StageResult:
    """The tables a stage makes (by layer name), its fields for the zone layer (indexed by zone id, as text),
    the notes a person should read (logged and kept in run.json) and what run.json records of its choices."""

    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    zone_fields: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)
