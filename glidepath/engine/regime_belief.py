"""What a household knows of the market's regime: each year's probability that it is turbulent.

Why this shape:
- A strategy sees only what a household could. Under ``RegimeSwitching.observable`` the
  household sees each year's regime at the start of that year, before its returns: the
  belief is the true regime, 0 (calm) or 1 (turbulent).
- Otherwise (the default) it sees only the returns of the years gone by, and the belief
  is the Hamilton filter's predicted probability that this year is turbulent. With
  b_t = P(r_t = 1 | y_0..y_{t-1}) and L_k the density of the year's observed log
  returns y_t under regime k (each regime's real log returns of the assets drawn, and
  inflation, are jointly normal), the year's posterior is
  f_t = b_t L_1 / (b_t L_1 + (1 - b_t) L_0), and next year's prediction mixes it with
  the switching matrix: b_{t+1} = f_t (1 - q) + (1 - f_t) p. The prior b_0 is the
  stationary law p / (p + q), the law each path's first year is drawn from, so with no
  returns seen the belief is exactly the stationary share.
- Everything is a few array operations per year over all paths (the engine's hot loop).
- Densities are computed in logs, shifted by their maximum, so a crash that is 20
  standard deviations from one regime does not underflow to 0 / 0. A degenerate
  component (zero volatility, e.g. fixed inflation) gets a variance of
  ``DEGENERATE_VARIANCE`` added: if the regimes differ there, it reveals the regime, as
  it would to a household reading the figure.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from glidepath.household.model import RegimeSwitching

from .market import BONDS, CASH, INFLATION, STOCKS, FloatArray, MarketModel, YearReturns

BoolArray = NDArray[np.bool_]

#: Variance added to every observed log return's (a standard deviation of 1e-5 a year):
#: keeps a zero-volatility component's covariance invertible.
DEGENERATE_VARIANCE = 1e-10


def prior(switching: RegimeSwitching, n_paths: int) -> FloatArray:
    """The belief before any return is seen: the chain's stationary share p / (p + q)."""
    return np.full(n_paths, switching.stationary_turbulent())


def initial_belief(
    model: MarketModel, n_paths: int, turbulent: BoolArray | None
) -> FloatArray | None:
    """Year 0's belief: the true first regime when observable, else the prior; None
    without regimes. ``turbulent``: year 0's regime of each path (``Scenarios``)."""
    switching = model.switching
    if switching is None:
        return None
    if not switching.observable:
        return prior(switching, n_paths)
    if turbulent is None:
        raise ValueError(
            "observable regimes: the first state needs each path's first regime "
            "(Scenarios.first_turbulent)"
        )
    return np.asarray(turbulent, dtype=np.float64)


def _observed(returns: YearReturns) -> tuple[list[int], FloatArray]:
    """The rows of (real stocks, bonds, cash, inflation) the year's returns hold, and
    their log values (rows, n)."""
    rows, values = [STOCKS], [returns.stocks]
    if returns.bonds is not None:
        rows.append(BONDS)
        values.append(returns.bonds)
    if returns.cash is not None:
        rows.append(CASH)
        values.append(returns.cash)
    rows.append(INFLATION)
    values.append(returns.inflation)
    return rows, np.log(np.vstack(values))


def log_likelihoods(model: MarketModel, returns: YearReturns) -> tuple[FloatArray, FloatArray]:
    """ln L_calm and ln L_turbulent of each path's observed year (up to a shared constant)."""
    assert model.regime_models is not None, "only a regime-switching market has regimes"
    rows, y = _observed(returns)
    out = []
    for regime in model.regime_models:
        mean = regime.real_log_mean[rows]
        cov = regime.real_log_cov[np.ix_(rows, rows)] + DEGENERATE_VARIANCE * np.eye(len(rows))
        d = y - mean[:, None]
        solved = np.linalg.solve(cov, d)
        _, logdet = np.linalg.slogdet(cov)
        out.append(np.asarray(-0.5 * (np.sum(d * solved, axis=0) + logdet), dtype=np.float64))
    return out[0], out[1]


def posterior(model: MarketModel, belief: FloatArray, returns: YearReturns) -> FloatArray:
    """f_t: the probability that the year just observed was turbulent, given the belief
    held at its start and its returns."""
    calm, rough = log_likelihoods(model, returns)
    top = np.maximum(calm, rough)
    num = belief * np.exp(rough - top)
    den = num + (1.0 - belief) * np.exp(calm - top)
    safe = np.where(den > 0, den, 1.0)
    return np.asarray(np.where(den > 0, num / safe, belief), dtype=np.float64)


def predicted(switching: RegimeSwitching, filtered: FloatArray) -> FloatArray:
    """b_{t+1} = f_t (1 - q) + (1 - f_t) p: next year's probability of a turbulent year."""
    p, q = switching.calm_to_turbulent, switching.turbulent_to_calm
    return np.asarray(filtered * (1.0 - q) + (1.0 - filtered) * p, dtype=np.float64)


def next_belief(model: MarketModel, belief: FloatArray, returns: YearReturns) -> FloatArray:
    """The belief at the start of next year, after this year's ``returns`` were seen."""
    switching = model.switching
    assert switching is not None, "only a regime-switching market has regimes"
    if switching.observable:
        if returns.turbulent_next is None:
            raise ValueError("observable regimes: the returns must carry next year's regime")
        return np.asarray(returns.turbulent_next, dtype=np.float64)
    return predicted(switching, posterior(model, belief, returns))
