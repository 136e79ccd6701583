"""The carbon-market precision rule (CDM AR-TOOL14 stepped deduction) on worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.precision import conservative, deduction_share, relative_half_width


def test_tool14_worked_example() -> None:
    """60 +- 9 at 90 %: U = 9 / 60 = 15 %, the 10-15 % step deducts 25 % of 9 = 2.25: 57.75 as a gain;
    as a loss (-60 +- 9) the deduction is added to it: -62.25."""
    assert relative_half_width(60, 51, 69) == pytest.approx(0.15)
    assert conservative(60, 51, 69) == pytest.approx(57.75)
    assert conservative(-60, -69, -51) == pytest.approx(-62.25)


@pytest.mark.parametrize(("half", "share"), [(6.0, 0.0), (4.908, 0.0), (7.2, 0.25), (10.8, 0.5), (12.0, 0.5),
                                             (15.0, 0.75), (18.0, 0.75), (24.0, 1.0)])
def test_steps(half: float, share: float) -> None:
    """On an estimate of 60: U 10 % (6) and TOOL14's 8.18 % example (4.908) keep it whole; 12 % deducts 25 %;
    18 % and exactly 20 % deduct 50 %; 25 % and exactly 30 % deduct 75 %; 40 % deducts all of the half-width."""
    assert deduction_share(relative_half_width(60.0, 60.0 - half, 60.0 + half)) == pytest.approx(share)
    assert conservative(60.0, 60.0 - half, 60.0 + half) == pytest.approx(60.0 - share * half)


def test_zero_estimate_has_no_u_and_stays() -> None:
    assert np.isnan(relative_half_width(0.0, -1.0, 1.0))
    assert conservative(0.0, -1.0, 1.0) == 0.0
