"""Market regimes: the yearly Markov chain of calm and turbulent years, and its average.

Why this shape:
- Two regimes, each a lognormal market of its own (``MarketModel`` of the calm fields
  and of ``RegimeSwitching.turbulent``). From a calm year the next is turbulent with
  probability p (``calm_to_turbulent``), from a turbulent year the next is calm with
  probability q (``turbulent_to_calm``). The stationary share of turbulent years is
  p / (p + q); a regime lasts 1 / p (calm) and 1 / q (turbulent) years on average; the
  chain's one-year autocorrelation is 1 - p - q.
- Each path starts in the stationary distribution, so every year's regime has the
  stationary law and a path's market is the same stationary process whatever its
  length: the long-run moments of the returns are those of the mixture.
- Common random numbers: path i's regimes come from (seed, i // BLOCK_PATHS) alone, one
  ``SeedSequence(seed, spawn_key=(REGIME_SPAWN_KEY, block))`` per block, a stream
  neither the market's shocks nor the deaths use; so each path has the same regimes in
  every strategy of a request, whatever the batch split, and deaths stay independent.
- A strategy sees the regime only through ``YearState.regime_belief``
  (``regime_belief``): the true regime where the household observes it, else a filtered
  probability. The rules and ``dp_simplified`` plan with the stationary mixture's
  moments, ``stationary_market``: the i.i.d. lognormal market whose log returns have the
  mixture's mean and covariance; only the exact DP of an observable regime
  (``optimum_regimes``) reads it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from glidepath.household.model import (
    AssetClass,
    MarketAssumptions,
    MarketRegime,
    RegimeSwitching,
    ReturnModel,
)

from .market import BLOCK_PATHS, FloatArray, log_parameters

BoolArray = NDArray[np.bool_]

#: The first spawn key of the regimes' streams ("REGI"); the market uses (block,) and
#: deaths (MORTALITY_SPAWN_KEY, block).
REGIME_SPAWN_KEY = 0x52454749


def regime_market(regime: MarketRegime) -> MarketAssumptions:
    """One regime as a lognormal market (the form ``MarketModel`` draws from)."""
    return MarketAssumptions(
        stocks=regime.stocks,
        bonds=regime.bonds,
        cash=regime.cash,
        inflation_mean=regime.inflation_mean,
        inflation_volatility=regime.inflation_volatility,
        correlations=regime.correlations,
        return_model=ReturnModel.LOGNORMAL,
    )


def log_moments(regime: MarketRegime | MarketAssumptions) -> tuple[FloatArray, FloatArray]:
    """Mean and covariance of the nominal log returns (stocks, bonds, cash, inflation)."""
    params = [
        log_parameters(regime.stocks),
        log_parameters(regime.bonds),
        log_parameters(regime.cash),
        log_parameters(AssetClass(regime.inflation_mean, regime.inflation_volatility)),
    ]
    m = np.array([p[0] for p in params])
    s = np.array([p[1] for p in params])
    return m, np.array(regime.correlations, dtype=np.float64) * np.outer(s, s)


def mixture_log_moments(market: MarketAssumptions) -> tuple[FloatArray, FloatArray]:
    """Mean and covariance of one year's nominal log returns under the stationary law:
    E = sum pi_k m_k, Cov = sum pi_k (C_k + m_k m_k^T) - E E^T."""
    switching = market.switching
    if switching is None:
        return log_moments(market)
    pi = switching.stationary_turbulent()
    (m0, c0), (m1, c1) = log_moments(market), log_moments(switching.turbulent)
    mean = (1 - pi) * m0 + pi * m1
    second = (1 - pi) * (c0 + np.outer(m0, m0)) + pi * (c1 + np.outer(m1, m1))
    return mean, second - np.outer(mean, mean)


def stationary_market(market: MarketAssumptions) -> MarketAssumptions:
    """The regimes averaged: an i.i.d. lognormal market with the stationary mixture's
    log-return mean and covariance (``market`` itself when returns do not switch).

    Each asset's arithmetic mean and volatility are those of a lognormal with the
    mixture's log mean m and variance v: exp(m + v / 2) - 1 and exp(m + v / 2)
    sqrt(exp(v) - 1), so ``MarketModel`` of the result has exactly those log moments.
    """
    if market.switching is None:
        return market
    mean, cov = mixture_log_moments(market)
    var = np.clip(np.diag(cov), 0.0, None)
    sd = np.sqrt(var)
    gross = np.exp(mean + var / 2.0)
    vol = gross * np.sqrt(np.expm1(var))
    scale = np.where(sd > 0, sd, 1.0)
    corr = cov / np.outer(scale, scale)
    np.fill_diagonal(corr, 1.0)
    corr = np.clip(corr, -1.0, 1.0)
    assets = [AssetClass(float(gross[k] - 1.0), float(vol[k])) for k in range(4)]
    return MarketAssumptions(
        stocks=assets[0],
        bonds=assets[1],
        cash=assets[2],
        inflation_mean=assets[3].expected_return,
        inflation_volatility=assets[3].volatility,
        correlations=tuple(tuple(float(c) for c in row) for row in corr),
        return_model=ReturnModel.LOGNORMAL,
    )


def expected_inflation(market: MarketAssumptions) -> float:
    """Mean yearly inflation in the long run: the stationary mixture of the regimes'."""
    switching = market.switching
    if switching is None:
        return market.inflation_mean
    pi = switching.stationary_turbulent()
    return (1 - pi) * market.inflation_mean + pi * switching.turbulent.inflation_mean


class RegimeChain:
    """The regimes of paths [start, start + n_paths) for one seed, year by year.

    ``next_year()`` returns a boolean array (True = turbulent) for t = 0, 1, 2, ...; each
    block of ``BLOCK_PATHS`` paths has its own generator, so path i's regimes depend
    only on (seed, i).
    """

    def __init__(self, switching: RegimeSwitching, seed: int, start: int, n_paths: int) -> None:
        if start < 0 or n_paths <= 0:
            raise ValueError("need start >= 0 and n_paths > 0")
        self.p = float(switching.calm_to_turbulent)
        self.q = float(switching.turbulent_to_calm)
        self.stationary = switching.stationary_turbulent()
        first = start // BLOCK_PATHS
        last = (start + n_paths - 1) // BLOCK_PATHS
        self._slice = slice(start - first * BLOCK_PATHS, start - first * BLOCK_PATHS + n_paths)
        self._generators = [
            np.random.Generator(
                np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(REGIME_SPAWN_KEY, b)))
            )
            for b in range(first, last + 1)
        ]
        self._u = np.empty(len(self._generators) * BLOCK_PATHS)
        self._turbulent: BoolArray | None = None

    def next_year(self) -> BoolArray:
        u = self._u
        for i, gen in enumerate(self._generators):
            gen.random(out=u[i * BLOCK_PATHS : (i + 1) * BLOCK_PATHS])
        uu = u[self._slice]
        if self._turbulent is None:
            turbulent = uu < self.stationary
        else:  # stay turbulent unless it calms; turn turbulent from calm with p
            was = self._turbulent
            turbulent = np.where(was, uu >= self.q, uu < self.p)
        self._turbulent = turbulent
        return turbulent


def expected_durations(switching: RegimeSwitching) -> tuple[float, float]:
    """Mean length in years of a calm and of a turbulent spell: 1 / p and 1 / q."""
    p, q = switching.calm_to_turbulent, switching.turbulent_to_calm
    return (math.inf if p == 0 else 1.0 / p), (math.inf if q == 0 else 1.0 / q)
