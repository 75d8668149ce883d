"""Market regimes: the chain's statistics against closed forms, common random numbers,
the mixture's long-run moments, households without regimes unchanged, and the
references (no exact optimum; dp_simplified runs and is compared like any strategy)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from glidepath.engine import SimulationSettings, simulate
from glidepath.engine.market import STOCKS, MarketModel, Scenarios
from glidepath.engine.mortality import death_uniforms
from glidepath.engine.optimum import dp_applies, simplified_available, simplified_household
from glidepath.engine.regimes import (
    RegimeChain,
    expected_durations,
    mixture_log_moments,
    regime_market,
    stationary_market,
)
from glidepath.household.convert import household_from_json
from glidepath.household.model import (
    Household,
    MarketAssumptions,
    RegimeSwitching,
    ReturnModel,
)
from glidepath.household.validation import correlation_problem
from glidepath.rl.gate import other_strategies
from simulation_service.convert import default_strategies

ROOT = Path(__file__).resolve().parent.parent
SWITCHING = RegimeSwitching(calm_to_turbulent=0.2, turbulent_to_calm=0.4)


def switching_market(regimes: RegimeSwitching = SWITCHING) -> MarketAssumptions:
    return MarketAssumptions(return_model=ReturnModel.REGIME_SWITCHING, regimes=regimes)


def example(name: str = "household") -> Household:
    return household_from_json((ROOT / "examples" / f"{name}.json").read_text())


def with_regimes(h: Household) -> Household:
    return replace(h, market=replace(h.market, return_model=ReturnModel.REGIME_SWITCHING))


def chain_years(regimes: RegimeSwitching, n: int, years: int, seed: int = 3) -> np.ndarray:  # type: ignore[type-arg]
    chain = RegimeChain(regimes, seed, 0, n)
    return np.stack([chain.next_year() for _ in range(years)])


# --------------------------------------------------------------------------- the chain


def test_the_default_regimes_are_valid_and_calibrated_as_documented() -> None:
    default = RegimeSwitching()
    assert correlation_problem(default.turbulent.correlations) is None
    # Monthly persistence 0.98 (calm) and 0.92 (turbulent), taken to the 12th power.
    monthly = np.array([[0.98, 0.02], [0.08, 0.92]])
    yearly = np.linalg.matrix_power(monthly, 12)
    assert default.calm_to_turbulent == pytest.approx(yearly[0, 1], abs=0.005)
    assert default.turbulent_to_calm == pytest.approx(yearly[1, 0], abs=0.005)
    assert default.stationary_turbulent() == pytest.approx(0.2, abs=0.005)


def test_every_year_has_the_stationary_share_of_turbulent_paths() -> None:
    n, years = 40_000, 30
    turbulent = chain_years(SWITCHING, n, years)
    pi = SWITCHING.stationary_turbulent()
    assert pi == pytest.approx(1 / 3)
    se = np.sqrt(pi * (1 - pi) / n)
    shares = turbulent.mean(axis=1)
    assert np.all(np.abs(shares - pi) < 4.5 * se), shares
    assert abs(turbulent.mean() - pi) < 4 * se


def test_switching_frequencies_and_spell_lengths_match_the_matrix() -> None:
    n, years = 20_000, 40
    turbulent = chain_years(SWITCHING, n, years)
    before, after = turbulent[:-1], turbulent[1:]
    calm_years, rough_years = (~before).sum(), before.sum()
    p_hat = (~before & after).sum() / calm_years
    q_hat = (before & ~after).sum() / rough_years
    assert p_hat == pytest.approx(
        SWITCHING.calm_to_turbulent, abs=4 * np.sqrt(0.2 * 0.8 / calm_years)
    )
    assert q_hat == pytest.approx(
        SWITCHING.turbulent_to_calm, abs=4 * np.sqrt(0.4 * 0.6 / rough_years)
    )
    # Mean length of the spells that start and end inside the window: 1 / p and 1 / q.
    calm_mean, rough_mean = expected_durations(SWITCHING)
    assert (calm_mean, rough_mean) == (5.0, 2.5)
    # Spells complete inside a long window (a short one would favour short spells).
    lengths: dict[bool, list[int]] = {True: [], False: []}
    for path in chain_years(SWITCHING, 100, 2000).T:
        changes = np.flatnonzero(path[1:] != path[:-1]) + 1
        for start, end in itertools.pairwise(changes):
            lengths[bool(path[start])].append(int(end - start))
    assert np.mean(lengths[False]) == pytest.approx(calm_mean, rel=0.03)
    assert np.mean(lengths[True]) == pytest.approx(rough_mean, rel=0.03)
    # Lag-one autocorrelation of the regime indicator: 1 - p - q.
    x = turbulent.astype(float)
    corr = np.corrcoef(x[:-1].ravel(), x[1:].ravel())[0, 1]
    assert corr == pytest.approx(1 - 0.2 - 0.4, abs=0.02)


def test_regimes_are_common_random_numbers_whatever_the_batch_split() -> None:
    whole = chain_years(SWITCHING, 3000, 12, seed=11)
    part = np.stack(
        [c.next_year() for c in [RegimeChain(SWITCHING, 11, 1000, 1500)] for _ in range(12)]
    )
    assert np.array_equal(part, whole[:, 1000:2500])
    other_seed = chain_years(SWITCHING, 3000, 12, seed=12)
    assert not np.array_equal(other_seed, whole)


def test_under_regimes_a_strategys_lives_do_not_depend_on_the_others_or_the_batches() -> None:
    h = with_regimes(example())
    settings = SimulationSettings(paths=3000, seed=1, keep_path_utilities=True)
    together = simulate(h, ["vpw", "glide_path", "merton"], settings)
    alone = simulate(h, ["vpw"], replace(settings, batch_paths=1024))

    one, other = together.by_name("vpw").path_utilities, alone.by_name("vpw").path_utilities
    assert one is not None and other is not None
    assert np.array_equal(one, other)
    # The regimes move the lives: the same seed without them gives other utilities.
    plain = simulate(example(), ["vpw"], settings).by_name("vpw").path_utilities
    assert plain is not None and not np.array_equal(plain, one)


def test_regimes_use_a_stream_of_their_own() -> None:
    """Not the deaths' uniforms, and not the market's shocks: the regimes of a path do
    not move with its deaths, and its shocks are those of the lognormal market."""
    chain = RegimeChain(RegimeSwitching(calm_to_turbulent=0.5, turbulent_to_calm=0.5), 5, 0, 4096)
    first = chain.next_year()
    deaths = death_uniforms(5, 0, 4096)
    assert not np.array_equal(first, deaths[0] < 0.5)
    assert abs(np.corrcoef(first, deaths[0])[0, 1]) < 0.06
    calm = Scenarios(MarketModel(MarketAssumptions()), 5, 0, 4096).year(0)
    both = Scenarios(MarketModel(switching_market()), 5, 0, 4096)
    mixed = both.year(0)
    assert both.turbulent is not None
    # Calm paths draw exactly the lognormal market's returns from the same shocks.
    still = ~both.turbulent
    assert np.allclose(mixed.stocks[still], calm.stocks[still], rtol=1e-12)
    assert not np.allclose(mixed.stocks[~still], calm.stocks[~still])


# --------------------------------------------------------------------------- the returns


def test_long_run_moments_of_returns_are_the_mixtures() -> None:
    market = switching_market()
    model = MarketModel(market)
    n, years = 50_000, 8
    scenarios = Scenarios(model, 21, 0, n)
    stocks, logs = [], []
    for t in range(years):
        r = scenarios.year(t)
        stocks.append(r.stocks)
        logs.append(np.log(np.stack([r.stocks, r.nonstock, r.inflation])))
    sample = np.concatenate(stocks)
    pi = SWITCHING.stationary_turbulent()
    calm, rough = (
        MarketModel(regime_market(m)) for m in (market.calm_regime(), SWITCHING.turbulent)
    )

    def moments(m: MarketModel) -> tuple[float, float]:
        mu, var = m.real_log_mean[STOCKS], m.real_log_cov[STOCKS, STOCKS]
        return float(np.exp(mu + var / 2)), float(np.exp(2 * mu + 2 * var))

    (e0, s0), (e1, s1) = moments(calm), moments(rough)
    mean = (1 - pi) * e0 + pi * e1
    variance = (1 - pi) * s0 + pi * s1 - mean**2
    # Years of a path are correlated (the chain persists): allow for it in the tolerance.
    se = np.sqrt(variance / n)
    assert sample.mean() == pytest.approx(mean, abs=5 * se)
    assert sample.var() == pytest.approx(variance, rel=0.02)
    # The rules' summaries are the stationary mixture's log moments (real stocks here).
    log_stocks = np.concatenate([x[0] for x in logs])
    assert log_stocks.mean() == pytest.approx(
        model.real_log_mean[STOCKS], abs=5 * np.sqrt(variance / n)
    )
    assert log_stocks.var() == pytest.approx(model.real_log_cov[STOCKS, STOCKS], rel=0.02)


def test_the_averaged_market_has_the_mixtures_log_moments() -> None:
    market = switching_market()
    mean, cov = mixture_log_moments(market)
    averaged = MarketModel(stationary_market(market))
    assert np.allclose(averaged.log_mean, mean, atol=1e-12)
    assert np.allclose(averaged.log_cov, cov, atol=1e-12)
    # Between two regimes the mixture is more volatile than the calm one alone.
    assert stationary_market(market).stocks.volatility > market.stocks.volatility
    assert stationary_market(MarketAssumptions()) == MarketAssumptions()


# --------------------------------------------------------------------------- no regimes: as before


# Measured on main before regimes existed (PYTHONPATH=/work/main, the same call).
BEFORE_REGIMES = {
    "household": {
        "optimum": 47428.24799803313,
        "merton": 46542.67134347739,
        "vpw": 42964.590853584246,
    },
    "couple": {
        "optimum": 51101.04324081115,  # the DP with the floor's kink (see optimum.py)
        "merton": 46566.315805135804,
        "vpw": 40343.60371933478,
    },
}


@pytest.mark.parametrize("name", sorted(BEFORE_REGIMES))
def test_households_without_regimes_keep_their_figures(name: str) -> None:
    result = simulate(
        example(name), ["optimum", "merton", "vpw"], SimulationSettings(paths=2048, seed=7)
    )
    got = {s.name: s.certainty_equivalent.value for s in result.strategies}
    assert got == BEFORE_REGIMES[name]


# --------------------------------------------------------------------------- the references


def test_the_optimum_is_unavailable_under_regimes_with_the_reason() -> None:
    h = with_regimes(example("retiree"))
    ok, reason = dp_applies(h)
    assert not ok
    assert "regimes" in reason and "dp_simplified" in reason and "lower bound" in reason
    result = simulate(h, ["optimum", "merton"], SimulationSettings(paths=256, seed=1))
    assert not result.optimum_available and result.optimum_reason == reason
    assert result.skipped == {"optimum": reason}
    assert dp_applies(example("retiree"))[0]


def test_dp_simplified_is_offered_only_where_regimes_take_the_optimum_away() -> None:
    plain, switching = example("retiree"), with_regimes(example("retiree"))
    assert "dp_simplified" not in default_strategies(plain)
    assert "optimum" in default_strategies(plain)
    assert default_strategies(switching)[-1] == "dp_simplified"
    assert "optimum" not in default_strategies(switching)
    assert other_strategies(switching)[-1] == "dp_simplified"
    assert "optimum" not in other_strategies(switching)
    assert other_strategies(plain)[-1] == "optimum"
    ok, reason = simplified_available(plain)
    assert not ok and "regime-switching" in reason
    # The simplified model is the household with the regimes averaged, all else equal.
    simple = simplified_household(switching)
    assert simple.market == stationary_market(switching.market)
    assert replace(simple, market=switching.market) == switching


def test_dp_simplified_runs_in_the_full_simulator_and_beats_the_rule_it_plans_like() -> None:
    h = with_regimes(example("retiree"))
    result = simulate(h, ["merton", "vpw", "dp_simplified"], SimulationSettings(paths=4096, seed=4))
    by_name = {s.name: s for s in result.strategies}
    assert set(by_name) == {"merton", "vpw", "dp_simplified"}
    dp = by_name["dp_simplified"]
    # A valid strategy: finite figures, consumption never negative.
    assert np.isfinite(dp.certainty_equivalent.value)
    assert all(v >= 0 for row in dp.consumption.values for v in row)
    # The Merton-style rule plans with the same averaged moments; the DP's policy of the
    # same simplified model does better on the regime-switching market, paired.
    assert dp.certainty_equivalent.value > by_name["merton"].certainty_equivalent.value
    # No share "of optimum" without the optimum: the paired baseline is not called that.
    assert result.optimum_value_ce is None


def test_regimes_move_the_results() -> None:
    plain = example("retiree")
    names = ["merton", "vpw"]
    a = simulate(plain, names, SimulationSettings(paths=2048, seed=2))
    b = simulate(with_regimes(plain), names, SimulationSettings(paths=2048, seed=2))
    for x, y in zip(a.strategies, b.strategies, strict=True):
        assert x.certainty_equivalent.value != y.certainty_equivalent.value
