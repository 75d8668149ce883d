"""The market model: moments, correlations, Student-t tails, common random numbers."""

from __future__ import annotations

import math
from dataclasses import replace
from statistics import NormalDist

import numpy as np

from glidepath.engine import MarketModel, Scenarios, SimulationSettings, simulate
from glidepath.engine.market import BLOCK_PATHS, log_parameters
from glidepath.household.model import (
    Account,
    Adult,
    AssetClass,
    Household,
    Lifetimes,
    MarketAssumptions,
    ReturnModel,
)

N = 200_000


Array = np.ndarray[tuple[int], np.dtype[np.float64]]


def draw(model: MarketModel, n: int = N, seed: int = 11) -> tuple[Array, Array, Array]:
    """(stocks, bonds or else cash, inflation) of year 0."""
    r = Scenarios(model, seed, 0, n).year(0)
    bonds = r.bonds if r.bonds is not None else r.cash
    assert bonds is not None
    return r.stocks, bonds, r.inflation


def test_inflation_and_nominal_moments_match_the_assumptions() -> None:
    market = MarketAssumptions()
    model = MarketModel(market, bond_fraction=0.5)
    stocks, bonds, infl = draw(model)
    # Gross inflation: arithmetic mean and volatility as stated.
    assert abs(infl.mean() - 1.025) < 4 * 0.015 / math.sqrt(N)
    assert abs(infl.std() - 0.015) < 0.015 * 4 / math.sqrt(2 * N)
    nominal = stocks * infl  # real x inflation = nominal gross
    assert abs(nominal.mean() - 1.075) < 4 * 0.17 / math.sqrt(N)
    assert abs(nominal.std() - 0.17) < 0.17 * 6 / math.sqrt(2 * N)
    # Log correlations as stated (stocks, bonds) = 0.1 on nominal logs.
    ls, lb = np.log(nominal), np.log(bonds * infl)
    assert abs(np.corrcoef(ls, lb)[0, 1] - 0.1) < 4 / math.sqrt(N)


def test_log_parameters_reproduce_mean_and_volatility() -> None:
    m, s = log_parameters(AssetClass(0.06, 0.18))
    assert math.exp(m + s * s / 2) == 1.06 or abs(math.exp(m + s * s / 2) - 1.06) < 1e-12
    var = (math.exp(s * s) - 1) * math.exp(2 * m + s * s)
    assert abs(math.sqrt(var) - 0.18) < 1e-12


def test_student_t_keeps_log_variance_and_fattens_tails() -> None:
    lognormal = MarketModel(MarketAssumptions(), 1.0)
    student = MarketModel(replace(MarketAssumptions(), return_model=ReturnModel.STUDENT_T), 1.0)
    ln_s = np.log(draw(lognormal)[0])
    t_s = np.log(draw(student)[0])
    assert abs(t_s.var() / ln_s.var() - 1.0) < 0.05
    assert abs(t_s.mean() - ln_s.mean()) < 4 * math.sqrt(ln_s.var() / N)

    def kurtosis(x: Array) -> float:
        z = (x - x.mean()) / x.std()
        return float((z**4).mean())

    assert abs(kurtosis(ln_s) - 3.0) < 0.1
    assert kurtosis(t_s) > 4.5  # nu = 5: excess kurtosis 6 before truncation


def test_path_i_sees_the_same_market_whatever_the_batch_split() -> None:
    model = MarketModel(MarketAssumptions(), 0.7)
    whole = Scenarios(model, 5, 0, 3 * BLOCK_PATHS + 17)
    part = Scenarios(model, 5, BLOCK_PATHS + 100, 1500)
    for t in range(3):
        a, b = whole.year(t), part.year(t)
        assert np.array_equal(a.stocks[BLOCK_PATHS + 100 : BLOCK_PATHS + 1600], b.stocks)
        assert np.array_equal(a.inflation[BLOCK_PATHS + 100 : BLOCK_PATHS + 1600], b.inflation)
    other_seed = Scenarios(model, 6, 0, 100).year(0)
    assert not np.array_equal(other_seed.stocks, Scenarios(model, 5, 0, 100).year(0).stocks)


def test_terminal_wealth_quantiles_match_the_lognormal_closed_form() -> None:
    """All stocks, no flows: ln W_T = ln W_0 + sum of T iid normal real log returns."""
    market = MarketAssumptions()
    years, n = 30, 100_000
    h = Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(Adult(60, 60, 60 + years),),
        accounts=(Account(1_000_000.0, 0.0, 1.0, 0.0, 0.0),),
        market=market,
    )
    model = MarketModel(market, 1.0)
    mean = years * model.real_log_mean[0]
    sd = math.sqrt(years * model.real_log_cov[0, 0])
    result = simulate(h, ["own_plan"], SimulationSettings(paths=n, seed=7))
    metrics = result.by_name("own_plan")
    for p, est in metrics.terminal.percentiles.items():
        q = p / 100.0
        z = NormalDist().inv_cdf(q)
        expected = 1_000_000.0 * math.exp(mean + sd * z)
        # Order-statistic error of a quantile, in log space.
        se_log = math.sqrt(q * (1 - q) / n) / NormalDist().pdf(z) * sd
        assert abs(math.log(est.value / expected)) < 4 * se_log, (p, est.value, expected)
        # The streamed histogram band agrees within its 0.2 % bins.
        band = metrics.wealth.values[metrics.wealth.percentiles.index(p)][-1]
        assert abs(math.log(band / expected)) < 4 * se_log + 0.002
        assert est.standard_error > 0
    # Mean terminal wealth too: E[W_T] = W_0 exp(T (m + s^2/2)).
    expected_mean = 1_000_000.0 * math.exp(mean + sd * sd / 2)
    assert (
        abs(metrics.terminal.mean.value - expected_mean) < 4 * metrics.terminal.mean.standard_error
    )
