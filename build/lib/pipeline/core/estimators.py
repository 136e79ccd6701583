"""Areas you can defend: map accuracy assessment and error-adjusted area from a reference sample.

A mapped class area is biased by the map's errors. A probability sample of reference labels gives design-based
estimates of the true (reference) class areas, of the map's accuracies, and of their standard errors. This module is
the statistics only: no IO, no printing, numpy and pandas.

- `sample_size` and `allocate` plan a stratified random sample (Olofsson et al. 2014, eq. 13 and section 5.1.2).
- `stratified_estimate` analyses it when the strata are the map classes (Olofsson et al. 2013; 2014, eqs. 1-12).
- `stehman_estimate` analyses it when the strata are not the assessed map's classes (Stehman 2014).
- `change_category` makes the change strata of Olofsson et al. (2014) section 5.
- `propagate_linear` and `monte_carlo` carry standard errors into carbon totals (IPCC 2006, Vol. 1, Ch. 3,
  approaches 1 and 2).

References:
    Olofsson, Foody, Stehman, Woodcock (2013). Making better use of accuracy data in land change studies.
        Remote Sensing of Environment 129:122-131.
    Olofsson, Foody, Herold, Stehman, Woodcock, Wulder (2014). Good practices for estimating area and assessing
        accuracy of land change. Remote Sensing of Environment 148:42-57.
    Stehman (2014). Estimating area and map accuracy for stratified random sampling when the strata are different
        from the map classes. International Journal of Remote Sensing 35:4923-4939.
    IPCC (2006). Guidelines for National Greenhouse Gas Inventories, Vol. 1, Ch. 3 (Uncertainties).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipeline.core.errors import ConfigError, TableError

Z95 = 1.96
"""Normal quantile for 95 % intervals. Olofsson et al. (2014) use 1.96 exactly (their printed 16,282 ha needs
1.96, not 1.959964), so it is a constant here rather than a quantile call."""

Floats = npt.NDArray[np.float64]
Operation = Literal["sum", "product"]
SAMPLE_COLUMNS = ("stratum", "map_class", "reference_class")
CLASS_COLUMNS = ["class", "map_area", "adjusted_area", "se_area", "ci95_low", "ci95_high", "area_proportion",
                 "se_proportion", "users_accuracy", "users_se", "producers_accuracy", "producers_se", "n_samples"]


@dataclass(frozen=True)
class AccuracyResult:
    """Estimates from one accuracy assessment.

    `classes` has one row per class (CLASS_COLUMNS): areas are in the unit of the areas given (map areas for
    `stratified_estimate`, stratum sizes for `stehman_estimate`); `area_proportion` is p̂_.k, the estimated share
    of the total area whose reference class is k. `proportions` is the estimated area-proportion error matrix p̂_ij
    (rows map class, columns reference class; it sums to 1).
    """

    classes: pd.DataFrame
    proportions: pd.DataFrame
    overall_accuracy: float
    overall_se: float
    n_samples: int

    @property
    def summary(self) -> pd.DataFrame:
        """One row: overall accuracy, its standard error and 95 % interval, and the sample size."""
        half = Z95 * self.overall_se
        return pd.DataFrame([{"overall_accuracy": self.overall_accuracy, "overall_se": self.overall_se,
                              "ci95_low": self.overall_accuracy - half, "ci95_high": self.overall_accuracy + half,
                              "n_samples": self.n_samples}])


@dataclass(frozen=True)
class Interval:
    """A central estimate with a 95 % interval, one value per zone (or a scalar-shaped array for one zone)."""

    estimate: Floats
    low: Floats
    high: Floats

    @property
    def half_width(self) -> Floats:
        """Half the interval: the "±" IPCC reports, symmetric or not."""
        return (self.high - self.low) / 2


# --- sample design ------------------------------------------------------------------------------------------------


def sample_size(*, weights: npt.ArrayLike, expected_users_accuracy: npt.ArrayLike, target_se: float) -> int:
    """Total sample size for a stratified random sample that reaches `target_se` on overall accuracy.

    Olofsson et al. (2014) eq. 13 (after Cochran 1977 eq. 5.25): n = (Σ W_i S_i / S(Ô))², with
    S_i = sqrt(U_i (1 - U_i)) the standard deviation of stratum i from its expected user's accuracy U_i.
    `weights` are the map-class area shares W_i; areas are accepted too, they are normalised here.
    """
    w = _weights(weights)
    users = _as_floats(expected_users_accuracy, "expected_users_accuracy")
    if users.shape != w.shape or ((users < 0) | (users > 1)).any():
        raise ConfigError("expected_users_accuracy needs one value in [0, 1] per stratum weight")
    if not target_se > 0:
        raise ConfigError(f"target_se must be positive, got {target_se}")
    n = (np.sum(w * np.sqrt(users * (1 - users))) / target_se) ** 2
    return math.ceil(round(float(n), 9))  # the rounding keeps 100.00000000001 from becoming 101


def allocate(n: int, *, weights: npt.ArrayLike, min_per_stratum: int) -> npt.NDArray[np.int64]:
    """Integer sample counts per stratum: proportional to `weights`, but never below `min_per_stratum`.

    Olofsson et al. (2014) section 5.1.2: proportional allocation starves rare classes (often the change classes
    that matter), so each stratum gets at least a minimum and the rest is shared in proportion to area. The counts
    sum to max(n, strata × minimum). Rounding is by largest remainder, ties to the earlier stratum, so the same
    inputs always give the same plan.
    """
    w = _weights(weights)
    if min_per_stratum < 0 or n < 0:
        raise ConfigError("allocate needs a non-negative sample size and minimum per stratum")
    total = max(n, min_per_stratum * w.size)
    pinned = np.zeros(w.size, dtype=bool)
    while True:  # strata whose proportional share falls below the minimum are pinned to it, the rest re-shared
        free = np.where(pinned, 0.0, w)
        free_total = total - min_per_stratum * int(pinned.sum())
        quota = np.where(pinned, float(min_per_stratum), free * free_total / max(float(free.sum()), 1e-300))
        below = ~pinned & (quota < min_per_stratum)
        if not below.any():
            return _largest_remainder(quota, total)
        pinned |= below


def _largest_remainder(quota: Floats, total: int) -> npt.NDArray[np.int64]:
    """Floor every quota, then hand the missing units to the largest fractional parts (stable order on ties)."""
    counts = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: max(total - int(counts.sum()), 0)]] += 1
    return counts


# --- change strata: Olofsson et al. 2014, section 5 ---------------------------------------------------------------


def change_category(was: npt.NDArray[np.bool_], now: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Category number of each cell from whether it is in the group at the first and the second epoch:
    0 gain (out, then in), 1 loss (in, then out), 2 stable in the group, 3 stable out of it."""
    return np.where(was, np.where(now, 2, 1), np.where(now, 0, 3)).astype(np.int64)


# --- strata = map classes: Olofsson et al. 2013, 2014 -------------------------------------------------------------


def stratified_estimate(counts: pd.DataFrame | npt.ArrayLike, *,
                        map_area: pd.Series | Mapping[Any, float] | npt.ArrayLike) -> AccuracyResult:
    """Error-adjusted areas and accuracies when the sample was stratified by the map's own classes.

    `counts` is the error matrix of sample counts n_ij: rows are map classes (the strata), columns reference
    classes, in the same order (a DataFrame's index and columns must carry the same labels). `map_area` is the
    mapped area of each class (labelled, or in row order); its unit is the unit of every area returned.
    Estimators: p̂_ij = W_i n_ij / n_i. (Olofsson 2014 eq. 4); overall, user's and producer's accuracy (eqs. 1-3)
    with variances (eqs. 5-7); area proportion p̂_.k and its standard error (eqs. 9-10; 2013 eqs. 9 and 11);
    area Â_k = A p̂_.k with S(Â_k) = A S(p̂_.k) (2014 eqs. 11-12); 95 % interval ± 1.96 SE.
    """
    labels, n, area = _error_matrix(counts, map_area)
    w = area / area.sum()
    n_i = n.sum(axis=1)
    share = np.divide(n, n_i[:, None], out=np.zeros_like(n), where=n_i[:, None] > 0)  # n_ij / n_i.
    p = w[:, None] * share  # eq. 4
    # Each stratum's contribution to V(p̂_.k): W_i² (n_ik/n_i.)(1 - n_ik/n_i.)/(n_i. - 1), the summand of eq. 10.
    v = np.divide((w**2)[:, None] * share * (1 - share), (n_i - 1)[:, None], out=np.zeros_like(n),
                  where=(n_i > 1)[:, None])
    users, producers = _ratio(np.diag(p), p.sum(axis=1)), _ratio(np.diag(p), p.sum(axis=0))
    users_var = np.divide(users * (1 - users), n_i - 1, out=np.full_like(users, np.nan), where=n_i > 1)  # eq. 6
    frame = _class_frame(labels, p.sum(axis=0), np.sqrt(v.sum(axis=0)), area.sum(), n_i.astype(np.int64))
    frame.insert(1, "map_area", area)
    frame["users_accuracy"], frame["users_se"] = users, np.sqrt(users_var)
    frame["producers_accuracy"], frame["producers_se"] = producers, _producers_se(v, producers, p.sum(axis=0))
    overall_var = float(np.nansum(w**2 * users_var))  # eq. 5
    return AccuracyResult(frame[CLASS_COLUMNS], pd.DataFrame(p, index=labels, columns=labels),
                          float(np.trace(p)), math.sqrt(overall_var), int(n_i.sum()))


def _producers_se(v: Floats, producers: Floats, column_total: Floats) -> Floats:
    """Olofsson et al. (2014) eq. 7, written in area shares instead of pixel counts (the scale cancels).

    V(P̂_j) = [W_j² (1 - P̂_j)² Û_j (1 - Û_j)/(n_j. - 1) + P̂_j² Σ_{i≠j} W_i² (n_ij/n_i.)(1 - n_ij/n_i.)/(n_i. - 1)]
    / p̂_.j². The first bracketed term's W_j² Û_j(1 - Û_j)/(n_j. - 1) is v_jj, the second sum is the column of v
    without its diagonal.
    """
    diag = np.diag(v)
    return np.sqrt(_ratio((1 - producers) ** 2 * diag + producers**2 * (v.sum(axis=0) - diag), column_total**2))


def _error_matrix(counts: pd.DataFrame | npt.ArrayLike,
                  map_area: pd.Series | Mapping[Any, float] | npt.ArrayLike
                  ) -> tuple[list[Hashable], Floats, Floats]:
    """Class labels, counts n_ij and map areas, checked: the estimators above divide by n_i. - 1."""
    if isinstance(counts, pd.DataFrame):
        labels = list(counts.index)
        if list(counts.columns) != labels:
            raise TableError("the error matrix needs the same classes, in the same order, as rows and columns")
        n = counts.to_numpy(dtype=float)
    else:
        n = _as_floats(counts, "error matrix")
        labels = list(range(n.shape[0])) if n.ndim == 2 else []
    if n.ndim != 2 or n.shape[0] != n.shape[1] or (n < 0).any():
        raise TableError(f"the error matrix must be square with non-negative counts, got shape {n.shape}")
    area = _aligned_areas(map_area, labels)
    thin = [label for label, a, k in zip(labels, area, n.sum(axis=1), strict=True) if a > 0 and k < 2]
    if thin:
        raise TableError(f"map classes {thin} have area but fewer than 2 samples; their variance is undefined")
    return labels, n, area


def _aligned_areas(map_area: pd.Series | Mapping[Any, float] | npt.ArrayLike, labels: list[Hashable]) -> Floats:
    if isinstance(map_area, Mapping | pd.Series):
        series = pd.Series(map_area, dtype=float)
        missing = [label for label in labels if label not in series.index]
        if missing:
            raise TableError(f"map_area has no area for classes {missing}")
        area = _as_floats(series.reindex(labels).to_numpy(), "map_area")
    else:
        area = _as_floats(map_area, "map_area")
    if area.shape != (len(labels),) or (area < 0).any() or not area.sum() > 0:
        raise TableError("map_area needs one non-negative area per class, and a positive total")
    return area


# --- strata ≠ map classes: Stehman 2014 ---------------------------------------------------------------------------


def stehman_estimate(samples: pd.DataFrame, *, stratum_sizes: pd.Series | Mapping[Any, float],
                     classes: Sequence[Hashable] | None = None) -> AccuracyResult:
    """Areas and accuracies from a stratified random sample whose strata are not the assessed map's classes.

    `samples` has one row per sample unit with columns `stratum`, `map_class` and `reference_class`;
    `stratum_sizes` gives N*_h (area or pixel count) for every stratum; n*_h is counted from the rows. Every
    parameter is a stratified mean (Stehman 2014 eq. 2, the total Ŷ = Σ_h N*_h ȳ_h over N) or a ratio of two
    (eq. 3, R̂ = Ŷ / X̂) of per-unit indicators: overall accuracy y_u = [map = reference] (eq. 12), class area
    y_u = [reference = k] (eq. 14), cell p_ij y_u = [map = i, reference = j] (eq. 16), user's accuracy y_u/x_u =
    [map = reference = k] / [map = k] (eqs. 18-19), producer's y_u/x_u = [map = reference = k] / [reference = k]
    (eqs. 22-23). Variances are eq. 25 for means and eqs. 26-28 for ratios, without the finite population
    correction (sizes may be areas, and for pixel populations the correction is negligible).
    `map_area` is NaN in the result: the map's class areas are not an input here. `n_samples` counts the sample
    units mapped as each class. `classes` fixes the class order; by default the sorted union of both labels.
    """
    table, sizes = _sample_table(samples, stratum_sizes)
    labels = _class_order(table, classes)
    strata = table["stratum"].to_numpy()
    on_map = (table["map_class"].to_numpy()[:, None] == np.array(labels, dtype=object)).astype(float)
    in_ref = (table["reference_class"].to_numpy()[:, None] == np.array(labels, dtype=object)).astype(float)
    total_area = float(sizes.sum())
    share, share_se = _stratified_mean(in_ref, strata, sizes)
    cells, _ = _stratified_mean((on_map[:, :, None] * in_ref[:, None, :]).reshape(len(table), -1), strata, sizes)
    agree, agree_se = _stratified_mean((on_map * in_ref).sum(axis=1, keepdims=True), strata, sizes)
    users, users_se = _stratified_ratio(on_map * in_ref, on_map, strata, sizes)
    producers, producers_se = _stratified_ratio(on_map * in_ref, in_ref, strata, sizes)
    frame = _class_frame(labels, share, share_se, total_area, on_map.sum(axis=0).astype(np.int64))
    frame.insert(1, "map_area", np.nan)
    frame["users_accuracy"], frame["users_se"] = users, users_se
    frame["producers_accuracy"], frame["producers_se"] = producers, producers_se
    matrix = pd.DataFrame(cells.reshape(len(labels), len(labels)), index=labels, columns=labels)
    return AccuracyResult(frame[CLASS_COLUMNS], matrix, float(agree[0]), float(agree_se[0]), len(table))


def _stratified_mean(y: Floats, strata: npt.NDArray[np.object_], sizes: pd.Series) -> tuple[Floats, Floats]:
    """Ŷ/N and its standard error, one per column of y (Stehman 2014 eqs. 2 and 25)."""
    total, var = _stratified_total(y, strata, sizes)
    n_total = float(sizes.sum())
    return total / n_total, np.sqrt(var) / n_total


def _stratified_ratio(y: Floats, x: Floats, strata: npt.NDArray[np.object_],
                      sizes: pd.Series) -> tuple[Floats, Floats]:
    """R̂ = Ŷ/X̂ and its standard error, one per column (Stehman 2014 eqs. 3 and 26-28).

    V(R̂) = X̂⁻² Σ_h N_h² (s²_yh + R̂² s²_xh - 2 R̂ s_xyh) / n_h, and the bracket is the within-stratum sample
    variance of d_u = y_u - R̂ x_u, so the ratio variance is the variance of the stratified total of d.
    A ratio with X̂ = 0 (a class never mapped, or never in the reference sample) is undefined: NaN.
    """
    y_total, _ = _stratified_total(y, strata, sizes)
    x_total, _ = _stratified_total(x, strata, sizes)
    ratio = _ratio(y_total, x_total)
    _, var = _stratified_total(y - x * np.nan_to_num(ratio), strata, sizes)
    return ratio, _ratio(np.sqrt(var), x_total)


def _stratified_total(y: Floats, strata: npt.NDArray[np.object_], sizes: pd.Series) -> tuple[Floats, Floats]:
    """Σ_h N_h ȳ_h and Σ_h N_h² s²_h / n_h for each column of y."""
    grouped = pd.DataFrame(y).groupby(strata, sort=False)
    n_h = grouped.size()
    big_n = sizes.reindex(n_h.index).to_numpy(dtype=float)
    means, variances = grouped.mean().to_numpy(), grouped.var(ddof=1).to_numpy()
    return big_n @ means, (big_n**2 / n_h.to_numpy(dtype=float)) @ variances


def _sample_table(samples: pd.DataFrame, stratum_sizes: pd.Series | Mapping[Any, float]
                  ) -> tuple[pd.DataFrame, pd.Series]:
    """The sample rows and stratum sizes, checked so that every stratum mean and variance exists."""
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise TableError(f"the sample table lacks columns {missing}; it needs {list(SAMPLE_COLUMNS)}")
    table = samples.loc[:, list(SAMPLE_COLUMNS)]
    if table.isna().any().any():
        raise TableError("the sample table has empty stratum, map_class or reference_class cells")
    sizes = pd.Series(stratum_sizes, dtype=float)
    counts = table["stratum"].value_counts()
    needed = set(counts.index) | set(sizes.index[sizes > 0])  # sampled, or with area that must be represented
    problems = [f"stratum {h!r} has no size" for h in counts.index if h not in sizes.index]
    problems += [f"stratum {h!r} has {counts.get(h, 0)} sample(s); it needs at least 2"
                 for h in needed if counts.get(h, 0) < 2]
    if problems or (sizes < 0).any() or not sizes.sum() > 0:
        raise TableError("; ".join(problems) or "stratum sizes must be non-negative with a positive total")
    return table, sizes


def _class_order(table: pd.DataFrame, classes: Sequence[Hashable] | None) -> list[Hashable]:
    found = set(table["map_class"]) | set(table["reference_class"])
    if classes is None:
        try:
            return sorted(found)
        except TypeError:  # mixed label types cannot be sorted; keep the order they first appear in
            return list(pd.unique(pd.concat([table["map_class"], table["reference_class"]])))
    unknown = found - set(classes)
    if unknown:
        raise TableError(f"classes {sorted(map(str, unknown))} occur in the samples but not in `classes`")
    return list(classes)


# --- shared helpers -----------------------------------------------------------------------------------------------


def _class_frame(labels: list[Hashable], share: Floats, share_se: Floats, total_area: float,
                 n_samples: npt.NDArray[np.int64]) -> pd.DataFrame:
    """The area columns of the per-class table: Â_k = A p̂_.k, S(Â_k) = A S(p̂_.k), ± 1.96 SE."""
    area, se = total_area * share, total_area * share_se
    return pd.DataFrame({"class": labels, "adjusted_area": area, "se_area": se, "ci95_low": area - Z95 * se,
                         "ci95_high": area + Z95 * se, "area_proportion": share, "se_proportion": share_se,
                         "n_samples": n_samples})


def _ratio(top: Floats, bottom: Floats) -> Floats:
    """top / bottom, NaN where bottom is 0: an accuracy of a class with no area is undefined, not 0."""
    return np.divide(top, bottom, out=np.full(np.shape(top), np.nan), where=bottom > 0)


def _weights(weights: npt.ArrayLike) -> Floats:
    w = _as_floats(weights, "weights")
    if w.ndim != 1 or w.size == 0 or (w < 0).any() or not w.sum() > 0:
        raise ConfigError("weights need one non-negative value per stratum and a positive total")
    return w / w.sum()


def _as_floats(values: npt.ArrayLike, name: str) -> Floats:
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all():
        raise TableError(f"{name} contains missing or infinite values")
    return array


# --- carbon uncertainty: IPCC approaches 1 and 2 ------------------------------------------------------------------


def propagate_linear(*, means: npt.ArrayLike, ses: npt.ArrayLike, operation: Operation) -> Interval:
    """IPCC approach 1: first-order error propagation for a sum or a product of independent terms.

    `means` and `ses` have shape (terms,) or (terms, zones). A sum's variance is Σ SE_i² (IPCC 2006 Vol. 1
    eq. 3.2); a product's relative variance is Σ (SE_i / x_i)² (eq. 3.1). Both are exact for sums and close for
    products while relative SEs are small, which is where the IPCC allows approach 1.
    """
    m, s = _terms(means, ses)
    if operation == "sum":
        estimate, se = m.sum(axis=0), np.sqrt((s**2).sum(axis=0))
    else:
        estimate = m.prod(axis=0)
        relative = np.sqrt((_ratio(s, np.abs(m)) ** 2).sum(axis=0))
        se = np.abs(estimate) * relative
    return Interval(estimate, estimate - Z95 * se, estimate + Z95 * se)


def monte_carlo(*, means: npt.ArrayLike, ses: npt.ArrayLike, operation: Operation, draws: int = 20_000,
                seed: int = 0) -> Interval:
    """IPCC approach 2: draw every term from a normal distribution, combine, read the 2.5/97.5 percentiles.

    Vectorised over zones (shapes as in `propagate_linear`); the draws are accumulated one term at a time, so
    memory is draws × zones floats. Seeded, so a run is reproducible.
    """
    m, s = _terms(means, ses)
    rng = np.random.default_rng(seed)
    result = np.zeros((draws, m.shape[1])) if operation == "sum" else np.ones((draws, m.shape[1]))
    for mean, se in zip(m, s, strict=True):
        term = rng.normal(mean, se, size=(draws, m.shape[1]))
        result = result + term if operation == "sum" else result * term
    low, high = np.percentile(result, [2.5, 97.5], axis=0)
    return Interval(result.mean(axis=0), low, high)


def _terms(means: npt.ArrayLike, ses: npt.ArrayLike) -> tuple[Floats, Floats]:
    m, s = _as_floats(means, "means"), _as_floats(ses, "ses")
    if m.shape != s.shape or m.ndim not in (1, 2) or (s < 0).any():
        raise ConfigError("means and ses need the same shape, (terms,) or (terms, zones), with ses >= 0")
    return (m[:, None], s[:, None]) if m.ndim == 1 else (m, s)
