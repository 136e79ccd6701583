"""Which cells of a value raster hold a measurement, and area-weighted statistics of values grouped by key, from
(group, value, weight) rows sorted by group then value.

A weighted quantile q is the smallest value whose cumulative weight reaches q of the group's weight (the
inverse of the weighted distribution function, as numpy's `inverted_cdf` for equal weights): it is always a
value that occurs, so a quantile of a class never falls between two classes' values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

QUANTILES = (0.10, 0.50, 0.90)


def usable(values: NDArray[np.float64], *, nodata: float | None,
           valid: tuple[float, float] | None) -> NDArray[np.bool_]:
    """Cells holding a measurement: finite, not nodata, inside the product's valid range (raw numbers)."""
    keep = np.isfinite(values)
    if nodata is not None:
        keep &= values != nodata
    if valid is not None:
        keep &= (values >= valid[0]) & (values <= valid[1])
    return keep


def group_starts(group: NDArray[np.int64]) -> NDArray[np.intp]:
    """Index of each group's first row (rows sorted by group)."""
    if len(group) == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1]])


def weighted_quantiles(value: NDArray[np.float64], weight: NDArray[np.int64], starts: NDArray[np.intp],
                       q: float) -> NDArray[np.float64]:
    """Quantile q of each group (rows sorted by group then value, integer weights > 0)."""
    if len(starts) == 0:
        return np.zeros(0)
    cum = np.cumsum(weight)
    before = np.r_[0, cum][starts]
    total = np.add.reduceat(weight, starts)
    # integer weights: reaching q of the total means reaching its ceiling (rounded first, so 0.1 x 30 is 3)
    need = before + np.ceil(np.round(q * total, 6)).astype(np.int64)
    at = np.searchsorted(cum, np.maximum(need, before + 1), side="left")
    return value[at]


def weighted_means(value: NDArray[np.float64], weight: NDArray[np.int64],
                   starts: NDArray[np.intp]) -> NDArray[np.float64]:
    """Weighted mean of each group."""
    if len(starts) == 0:
        return np.zeros(0)
    return np.add.reduceat(value * weight, starts) / np.add.reduceat(weight, starts)
