"""The carbon-market precision rule: the stepped deduction of CDM AR-TOOL14 (v04.2), which the CCER afforestation
methodologies (AR-CM-001-V01, CCER-14-001-V01) were built on.

U is the half-width of an estimate's 90 % interval relative to the estimate. No deduction when U <= 10 %;
otherwise a share of the half-width is deducted: 25 % for U in (10, 15] %, 50 % in (15, 20] %, 75 % in (20, 30] %,
100 % above 30 %. It is taken off a gain and added to a loss, so on signed figures the conservative figure is
always estimate - share x half-width (60 +- 9: U 15 %, share 25 %, 57.75 as a gain's conservative value).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

U_STEPS = np.array([0.10, 0.15, 0.20, 0.30])
DEDUCTED = np.array([0.0, 0.25, 0.50, 0.75, 1.0])


def relative_half_width(value: ArrayLike, low: ArrayLike, high: ArrayLike) -> NDArray[np.float64]:
    """U: half the 90 % interval's width over the estimate's size (NaN for an estimate of 0)."""
    value = np.asarray(value, dtype=float)
    half = (np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(value != 0, half / np.abs(value), np.nan)


def deduction_share(u: ArrayLike) -> NDArray[np.float64]:
    """The share of the half-width deducted for each U (a fraction); U on a step's edge takes the lower step.
    Rounded to 12 digits first, so a U computed as exactly 15 % is not taken for a hair above it."""
    u = np.round(np.asarray(u, dtype=float), 12)
    share = DEDUCTED[np.searchsorted(U_STEPS, np.nan_to_num(u, nan=0.0), side="left")]
    return np.where(np.isnan(u), np.nan, share)


def conservative(value: ArrayLike, low: ArrayLike, high: ArrayLike) -> NDArray[np.float64]:
    """The figure a carbon-market claim would use: estimate - share x half-width (the estimate when U is NaN)."""
    value = np.asarray(value, dtype=float)
    half = (np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / 2.0
    share = deduction_share(relative_half_width(value, low, high))
    return np.where(np.isnan(share), value, value - np.nan_to_num(share) * half)
