"""Sums of powers computed through their logarithms, so they stay finite.

Validation lets a household sit anywhere inside its bounds: risk aversion from 0.1 to
20, returns and inflation from -50 % to +100 % a year with volatilities up to 200 %,
100-year horizons, incomes growing 50 % a year. Powers such as ``b ** n`` (b up to
about 1e16 at risk aversion 0.1), ``c ** -gamma`` (underflowing to 0 for consumption
1e16 times the scale at gamma = 20) or ``T ** (1 / (1 - gamma))`` (overflowing as gamma
nears 1) leave the floats long before the quantities they feed do. Written as
log-sum-exp and power means, the same formulas stay within a few ulps of the direct
ones where those are finite, and finite where they are not.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_LOG_FLOAT_MAX = math.log(sys.float_info.max)


def exp_or_inf(x: float) -> float:
    """e^x, and inf above the largest float (where ``math.exp`` raises OverflowError)."""
    return math.exp(x) if x < _LOG_FLOAT_MAX else math.inf


def logsumexp(terms: FloatArray, axis: int = -1) -> FloatArray:
    """log(sum(exp(terms))) along ``axis``, shifted by the largest term (no overflow)."""
    top = np.max(terms, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    total = np.sum(np.exp(terms - top), axis=axis)
    with np.errstate(divide="ignore"):
        out = np.log(total) + np.squeeze(top, axis=axis)
    return np.asarray(out, dtype=np.float64)


def log_power_mean(log_x: FloatArray, weights: FloatArray, p: float, axis: int = -1) -> FloatArray:
    """log M_p, M_p = (sum w x^p)^(1/p) (the geometric mean at p = 0); weights sum to 1.

    Shifted by the extreme log x on the side where x^p is largest, each term is
    expm1(p (log x - m)) in (-1, 0], and their weighted sum goes through log1p: no
    overflow, no underflow to log(0), and no cancellation as p approaches 0 (risk
    aversion near 1), where (1/p) log(sum w x^p) loses every digit.
    """
    if p == 0.0:
        return np.asarray(np.sum(weights * log_x, axis=axis), dtype=np.float64)
    # Shift by the extreme term that has weight (its own term is then exactly 0).
    outside = -np.inf if p > 0 else np.inf
    shifted = np.where(weights > 0, log_x, outside)
    m = (np.max if p > 0 else np.min)(shifted, axis=axis, keepdims=True)
    inner = np.sum(weights * np.expm1(p * (log_x - m)), axis=axis)
    out = np.squeeze(m, axis=axis) + np.log1p(inner) / p
    return np.asarray(out, dtype=np.float64)
