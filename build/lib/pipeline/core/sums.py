"""The exact totals a run computes, as plain arrays: what the kernels produce, the cache stores and the tables read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class ZoneValueTotals:
    """Area in integer units for each (zone, value) pair present; sorted by zone then value."""

    zone: NDArray[np.int64]
    value: NDArray[np.int64]
    units: NDArray[np.int64]
