"""The one place for confidence intervals: the mean's 95 % t-interval, clipped to the range of
the metric, and none below :data:`MIN_N` values.

Why this one: the values are a handful of trials or seeds (2 to 10), not Bernoulli draws, so a
proportion's interval (Wilson) does not apply, and a percentile bootstrap of so few values is
far too narrow (3 values have only 10 distinct resampled means). The t-interval is the usual
one for a mean over seeds, deterministic and cheap. Clipping it to the metric's range (an
accuracy's [0, 1]) never removes the true mean, which lies in that range, so it keeps the
coverage; below three values the interval is too wide to say anything and is not given.

>>> mean, half, n = mean_ci([0.90, 0.96, 0.99])
>>> round(mean, 4), round(half, 4), n
(0.95, 0.1138, 3)
>>> [round(v, 4) for v in interval(mean, half, "test_acc")]
[0.8362, 1.0]
>>> mean_ci([0.5, 0.7])[1]
nan
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

CONFIDENCE = 0.95
#: Fewest values an interval is given for.
MIN_N = 3
#: Metric names containing one of these are fractions in [0, 1].
FRACTIONS = ("acc", "auc", "f1", "precision", "recall")
#: Metric names containing one of these are never negative.
NON_NEGATIVE = ("loss", "compute")


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE
            ) -> tuple[float, float, int]:
    """Mean, half-width of the t-interval (NaN below :data:`MIN_N`) and n of the finite
    values."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    if n < MIN_N:
        return float(x.mean()), math.nan, n
    from scipy import stats

    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean()), float(half), n


def value_range(metric: str) -> tuple[float, float] | None:
    """The values ``metric`` can take (``[0, 1]`` for accuracies and AUCs, ``[0, inf)`` for
    losses), None for a name that is no known metric."""
    name = metric.lower()
    if any(word in name for word in NON_NEGATIVE):
        return 0.0, math.inf
    if any(word in name for word in FRACTIONS):
        return 0.0, 1.0
    return None


def interval(mean: float, half: float, metric: str) -> tuple[float, float]:
    """``mean ± half`` clipped to ``metric``'s range (NaNs when there is no interval)."""
    if not (np.isfinite(mean) and np.isfinite(half)):
        return math.nan, math.nan
    low, high = value_range(metric) or (-math.inf, math.inf)
    return max(low, mean - half), min(high, mean + half)
