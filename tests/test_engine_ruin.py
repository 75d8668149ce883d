"""Ruin of a perpetual withdrawal from a lognormal portfolio approaches the Gamma formula.

docs/origins.md (Dufresne 1990): withdrawing c a year forever from a GBM portfolio (drift
mu_p, volatility sigma_p) is eventually ruined with probability
P(Gamma(k, 1) < 2c / (sigma_p^2 W_0)), k = 2 mu_p / sigma_p^2 - 1; mu_p = 5 %,
sigma_p = 12 %, c / W_0 = 4 % gives about 0.49. The engine's years are discrete and its
horizon finite (at most 100 years), so its ruin probability approaches it from below.
"""

from __future__ import annotations

import math

from engine_support import IDENTITY

from glidepath.engine import SimulationSettings, simulate
from glidepath.engine.strategies import FourPercentRule
from glidepath.household.model import (
    Account,
    Adult,
    AssetClass,
    Household,
    Lifetimes,
    MarketAssumptions,
)

MU, SIGMA, RATE = 0.05, 0.12, 0.04


def gamma_cdf(k: float, x: float) -> float:
    """Regularised lower incomplete gamma P(k, x), by its power series."""
    term = 1.0 / k
    total = term
    n = 1
    while term > 1e-17 * total:
        term *= x / (k + n)
        total += term
        n += 1
    return total * math.exp(k * math.log(x) - x - math.lgamma(k))


def gbm_household(years: int) -> Household:
    # Annual gross return exp(N(mu - sigma^2 / 2, sigma^2)): the GBM sampled once a year.
    market = MarketAssumptions(
        stocks=AssetClass(math.exp(MU) - 1.0, math.exp(MU) * math.sqrt(math.exp(SIGMA**2) - 1.0)),
        bonds=AssetClass(0.0, 0.0),
        cash=AssetClass(0.0, 0.0),
        inflation_mean=0.0,
        inflation_volatility=0.0,
        correlations=IDENTITY,
    )
    return Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(Adult(20, 20, 20 + years),),
        accounts=(Account(1_000_000.0, 0.0, 1.0, 0.0, 0.0),),
        market=market,
    )


def test_ruin_probability_approaches_the_gamma_formula_from_below() -> None:
    formula = gamma_cdf(2 * MU / SIGMA**2 - 1, 2 * RATE / SIGMA**2)
    assert abs(formula - 0.49) < 0.005
    settings = SimulationSettings(paths=20_000, seed=4)
    rule = FourPercentRule(1.0, rate=RATE)
    p50 = simulate(gbm_household(50), [rule], settings).strategies[0].ruin_probability
    p100 = simulate(gbm_household(100), [rule], settings).strategies[0].ruin_probability
    assert p50.value < p100.value < formula
    assert p100.value > formula - 0.05
    assert p100.n_paths == 20_000 and p100.standard_error > 0
