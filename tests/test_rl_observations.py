"""The household's parameters in the observation (features 19-24, policy layout 5): each
moves when its input moves and the others do not, none moves with the scale of money or
over a life, and they are the figures the engine plans with."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import NDArray
from rl_support import mortal_couple, scaled, small_household

from glidepath.engine.cashflows import build_schedule
from glidepath.household.model import AssetClass, Household, RegimeSwitching, ReturnModel
from glidepath.rl.actions import ACTION_DIM
from glidepath.rl.family_vec_env import FamilyVecEnv
from glidepath.rl.lives import Lives
from glidepath.rl.observations import (
    OBS_DIM,
    OBS_HIGH,
    OBS_LOW,
    OBSERVATION_SPACE,
    PARAMETERS,
    terminal_observation,
)

GAMMA, PREMIUM, VOLATILITY, HORIZON, SAFE, INFLATION = range(19, 25)
NEW = set(range(19, OBS_DIM))


def first(household: Household, n: int = 8) -> NDArray[np.float32]:
    return Lives(household, n).reset(3)


def stocks(h: Household, d_return: float = 0.0, d_vol: float = 0.0) -> Household:
    s = h.market.stocks
    moved = AssetClass(s.expected_return + d_return, s.volatility + d_vol)
    return replace(h, market=replace(h.market, stocks=moved))


def bonds(h: Household, d_return: float) -> Household:
    b = h.market.bonds
    moved = AssetClass(b.expected_return + d_return, b.volatility)
    return replace(h, market=replace(h.market, bonds=moved))


def inflation(h: Household, d: float) -> Household:
    return replace(h, market=replace(h.market, inflation_mean=h.market.inflation_mean + d))


def longer(h: Household) -> Household:
    a = h.adults[0]
    return replace(h, adults=(replace(a, life_expectancy=a.life_expectancy + 4),))


# (change, the features it must move, the new features it must leave alone). The market's
# features are real moments, so a change of the nominal stocks' mean also moves the real
# log volatility a little (and the volatility the real mean, through its covariance with
# inflation); bonds and inflation move the real premium over the safe mix.
CASES: dict[str, tuple[Callable[[Household], Household], set[int], set[int]]] = {
    "risk aversion x 2": (
        lambda h: replace(h, risk_aversion=2 * h.risk_aversion),
        {GAMMA},
        NEW - {GAMMA},
    ),
    "stocks' return + 1 %": (
        lambda h: stocks(h, d_return=0.01),
        {PREMIUM},
        {GAMMA, HORIZON, SAFE, INFLATION},
    ),
    "stocks' volatility + 3 %": (
        lambda h: stocks(h, d_vol=0.03),
        {VOLATILITY},
        {GAMMA, HORIZON, SAFE, INFLATION},
    ),
    "bonds' return + 1 %": (
        lambda h: bonds(h, 0.01),
        {SAFE, PREMIUM},
        {GAMMA, VOLATILITY, HORIZON, INFLATION},
    ),
    "inflation + 1 %": (lambda h: inflation(h, 0.01), {INFLATION, SAFE}, {GAMMA, HORIZON}),
    "4 more years": (longer, {HORIZON}, NEW - {HORIZON}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_parameter_moves_its_own_feature(case: str) -> None:
    change, moved, kept = CASES[case]
    base = small_household()
    before, after = first(base), first(change(base))
    for i in moved:
        assert np.all(np.abs(after[:, i] - before[:, i]) > 1e-3), (case, i)
    for i in kept:
        np.testing.assert_array_equal(after[:, i], before[:, i], err_msg=f"{case}: {i}")


def test_risk_aversion_moves_only_its_feature_and_the_rules_decisions() -> None:
    base = small_household()
    before = first(base)
    after = first(replace(base, risk_aversion=2 * base.risk_aversion))
    changed = set(np.nonzero(np.any(np.abs(after - before) > 1e-6, axis=0))[0].tolist())
    assert changed == {5, 6, GAMMA}  # the rule's consumption rate and stock share, gamma
    np.testing.assert_allclose(after[:, GAMMA] - before[:, GAMMA], math.log(2) / 2, rtol=1e-6)


@pytest.mark.parametrize("household", [small_household(), mortal_couple()], ids=["fixed", "mortal"])
def test_the_parameters_are_scale_free_and_constant_over_a_life(household: Household) -> None:
    n = 16
    runs = []
    for k in (1.0, 10.0):
        lives = Lives(scaled(household, k), n)
        observations = [lives.reset(7)]
        for _ in range(household.horizon_years - 1):
            step = lives.step(np.zeros((n, ACTION_DIM)))
            if step.done:
                break
            observations.append(step.observation)
        runs.append(np.stack(observations))
    np.testing.assert_allclose(runs[1], runs[0], atol=1e-5)  # the whole observation
    parameters = runs[0][:, :, PARAMETERS]
    np.testing.assert_array_equal(parameters, np.broadcast_to(parameters[0, 0], parameters.shape))
    assert (parameters[0, 0] > OBS_LOW[PARAMETERS]).all()
    assert (parameters[0, 0] < OBS_HIGH[PARAMETERS]).all()


def test_the_features_are_the_engines_own_market_summary() -> None:
    household = small_household()
    schedule = build_schedule(household)
    market = schedule.market
    obs = first(household)[0]
    gross = market.expected_real_gross()
    np.testing.assert_allclose(obs[GAMMA], math.log(household.risk_aversion) / 2, rtol=1e-6)
    np.testing.assert_allclose(obs[PREMIUM], (gross[0] - schedule.discount_gross) * 10, rtol=1e-6)
    np.testing.assert_allclose(obs[VOLATILITY], math.sqrt(market.real_log_cov[0, 0]) * 5, rtol=1e-6)
    np.testing.assert_allclose(obs[HORIZON], schedule.horizon / 100, rtol=1e-6)
    np.testing.assert_allclose(obs[SAFE], (schedule.discount_gross - 1) * 10, rtol=1e-5)
    np.testing.assert_allclose(obs[INFLATION], household.market.inflation_mean * 10, rtol=1e-6)


def test_under_regimes_the_market_features_are_the_stationary_mixtures() -> None:
    base = small_household()
    regimes = RegimeSwitching(calm_to_turbulent=0.2, turbulent_to_calm=0.4)
    market = replace(base.market, return_model=ReturnModel.REGIME_SWITCHING, regimes=regimes)
    switching = replace(base, market=market)
    calm, mixed = first(base)[0], first(switching)[0]
    assert mixed[PREMIUM] < calm[PREMIUM]  # turbulent years earn less
    assert mixed[VOLATILITY] > calm[VOLATILITY]  # and swing more
    assert mixed[INFLATION] > calm[INFLATION]  # with higher inflation
    assert mixed[GAMMA] == calm[GAMMA] and mixed[HORIZON] == calm[HORIZON]


def test_in_a_family_batch_each_household_shows_its_own_parameters() -> None:
    short = small_household()
    other = longer(replace(short, risk_aversion=6.0))
    m = 4
    env = FamilyVecEnv(lambda _: [short, other], 2, m, other.horizon_years, seed=1)
    obs = env.reset()
    assert isinstance(obs, np.ndarray)
    np.testing.assert_array_equal(obs[:m, PARAMETERS], first(short, m)[:, PARAMETERS])
    np.testing.assert_array_equal(obs[m:, PARAMETERS], first(other, m)[:, PARAMETERS])
    assert obs[m, GAMMA] > obs[0, GAMMA] and obs[m, HORIZON] > obs[0, HORIZON]
    for t in range(1, other.horizon_years):
        stepped, _, dones, _ = env.step(np.zeros((2 * m, ACTION_DIM)))
        assert isinstance(stepped, np.ndarray)  # SB3 types it array | dict | tuple
        obs = stepped
        assert obs.shape == (2 * m, OBS_DIM) and OBSERVATION_SPACE.contains(obs[0])
        if t >= short.horizon_years:  # the short plan is over: the placeholder
            np.testing.assert_array_equal(obs[:m], terminal_observation(m))
        np.testing.assert_array_equal(obs[m:, PARAMETERS], first(other, m)[:, PARAMETERS])
        assert not dones.any()
