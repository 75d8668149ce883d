"""The claiming decision of the trained policy: the fourth action and what it observes.

a3 = 0 (and the dead band around it) keeps each pension's plan, which is the rule; outside
the band the output plans the claiming age, a claim is irreversible and the latest age
claims whatever the action says. A deferral past the default age is bounded by the cash
on hand (half of it may go to the pensions forgone), an earlier claim never. The
learning check is on the zoo's household whose claiming age matters
(``benchmarks/zoo/claiming_matters.json``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rl_support import scaled, small_household

from glidepath.engine import claiming
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.rollout import rollout
from glidepath.engine.state import YearState
from glidepath.household.convert import household_from_json
from glidepath.household.model import ClaimingWindow, Household
from glidepath.rl.actions import (
    ACTION_DIM,
    CLAIM_DEADBAND,
    DEFERRAL_CASH_SHARE,
    claim_plan,
    decide,
    deferral_years,
)
from glidepath.rl.evaluation import evaluate_policy
from glidepath.rl.lives import Lives, Reward
from glidepath.rl.model_io import load_policy
from glidepath.rl.policy_strategy import PolicyStrategy
from glidepath.rl.training import TrainingSpec, train

ZOO = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo"
AMOUNT = 15_000.0  # small_household's pension, default age 63


def claiming_household() -> Household:
    """``small_household`` (ages 60-67, fixed horizon) whose pension, 15,000 from 63, may
    be claimed from 61 to 66 (the US adjustments)."""
    base = small_household()
    pension = replace(base.incomes[0], claiming=ClaimingWindow(61, 66))
    return replace(base, incomes=(pension,))


def actions(n: int, claim: float | list[float]) -> np.ndarray:
    a = np.zeros((n, ACTION_DIM))
    a[:, 3] = claim
    return a


def plan(lives: Lives) -> np.ndarray:
    assert lives.state.claim_plan is not None
    return np.asarray(lives.state.claim_plan[0], dtype=np.int64)


def test_a_zero_claiming_action_is_the_rule() -> None:
    """Zero actions (and any fourth output inside the dead band) live exactly the rule's
    life: the pension claimed at its default age, every year's utility the rollout's."""
    household = claiming_household()
    n = 32
    for inside in (0.0, CLAIM_DEADBAND, -CLAIM_DEADBAND):
        lives = Lives(household, n, reward=Reward.OBJECTIVE)
        lives.reset(11)
        done = False
        while not done:
            done = lives.step(actions(n, inside)).done
        np.testing.assert_array_equal(plan(lives), 63)
        replay = rollout(household, "floor_upside", n, seed=11, timing=lives.timing)
        np.testing.assert_allclose(lives.returns, replay.utility, rtol=1e-9)


def test_the_fourth_output_plans_the_age_within_the_window() -> None:
    lives = Lives(claiming_household(), 5)
    lives.reset(3)
    base = lives.rule.decide(lives.state)
    decision = decide(actions(5, [-1.0, -0.4, 0.05, 0.5, 3.0]), base, lives.state, lives.rule)
    assert decision.claim is not None
    # -1: the earliest (61); -0.4: 63 - 0.8; the band: NaN (keep); 0.5: 64.5; >1: latest.
    np.testing.assert_allclose(decision.claim[0], [61.0, 62.2, np.nan, 64.5, 66.0])
    lives.step(actions(5, [-1.0, -0.4, 0.05, 0.5, 3.0]))
    np.testing.assert_array_equal(plan(lives), [61, 62, 63, 64, 66])
    # Without a window or a fourth output nothing is planned.
    assert decide(actions(5, 1.0)[:, :3], base, lives.state).claim is None
    plain = Lives(small_household(), 5)
    plain.reset(3)
    assert decide(actions(5, 1.0), plain.rule.decide(plain.state), plain.state).claim is None


def test_a_claim_is_irreversible_and_the_latest_age_claims_whatever_the_action() -> None:
    """Claimed at 61, a pension stays claimed whatever the output says later; one planned
    for 66 is claimed at 62, the age now, when the earliest age is asked for after 61;
    a path that asks for "later" every year is claimed at 66, the latest age."""
    n = 2
    lives = Lives(claiming_household(), n, reward=Reward.OBJECTIVE)
    lives.reset(4)
    lives.step(actions(n, 0.0))  # age 60
    lives.step(actions(n, [-1.0, 1.0]))  # age 61: path 0 claims now, path 1 plans 66
    pension = lives.state.pension.copy()
    for _ in range(6):  # ages 62-67: path 0 asks for the latest age, path 1 the earliest
        result = lives.step(actions(n, [1.0, -1.0]))
        np.testing.assert_array_equal(plan(lives)[0], 61)
    assert result.done
    np.testing.assert_array_equal(plan(lives), [61, 62])
    early = AMOUNT * (1 - 0.0667 * 2)
    np.testing.assert_allclose(pension[0], early, rtol=1e-9)
    # A plan asked every year for the latest age is claimed at the latest age.
    lives.reset(4)
    ages = []
    for _ in range(8):
        lives.step(actions(n, 1.0))
        ages.append(plan(lives).copy())
    np.testing.assert_array_equal(ages[-1], 66)
    assert claiming.claimed(lives.state).all()


def with_cash(state: YearState, cash: list[float]) -> YearState:
    """``state`` with the cash on hand ``cash`` on its paths (the wealth moved to give it)."""
    return replace(state, wealth=np.asarray(cash) - state.disposable)


def test_a_deferral_is_bounded_by_what_the_cash_on_hand_pays_for() -> None:
    """At 61 (default age 63, latest 66, 15,000 a year) a path may defer past 63 by the
    whole years that half its cash on hand pays the forgone pension for: none with no
    cash, 1 with 30,000 or 59,999, the whole window with a million. Asking for the
    earliest age is never bounded, and a plan kept in the dead band is pulled back to
    the bound once the cash has fallen below it."""
    assert DEFERRAL_CASH_SHARE == 0.5
    lives = Lives(claiming_household(), 4)
    lives.reset(3)
    lives.step(actions(4, 0.0))  # age 61: the window is open
    state = with_cash(lives.state, [0.0, 30_000.0, 59_999.0, 1e6])
    np.testing.assert_array_equal(deferral_years(state), [0.0, 1.0, 1.0, 33.0])
    asked = claim_plan(actions(4, 1.0), state)
    assert asked is not None
    np.testing.assert_allclose(asked[0], [63.0, 64.0, 64.0, 66.0])
    earliest = claim_plan(actions(4, -1.0), state)
    assert earliest is not None
    np.testing.assert_allclose(earliest[0], 61.0)
    # Through the engine: the plan the poorest path gets is the default age.
    base = lives.rule.decide(state)
    decision = decide(actions(4, 1.0), base, state, lives.rule)
    assert decision.claim is not None
    np.testing.assert_allclose(decision.claim[0], [63.0, 64.0, 64.0, 66.0])
    # A plan of 66 kept in the dead band: pulled back where the cash no longer pays for it.
    planned = replace(state, claim_plan=np.full((1, 4), 66, dtype=np.int64))
    kept = claim_plan(actions(4, 0.0), planned)
    assert kept is not None
    np.testing.assert_allclose(kept[0], [63.0, 64.0, 64.0, np.nan])


def test_the_bound_counts_only_the_pensions_still_unclaimed() -> None:
    """Once a pension is claimed it forgoes nothing more: with it claimed, no pension is
    open and nothing bounds a plan (inf)."""
    lives = Lives(claiming_household(), 2)
    lives.reset(3)
    lives.step(actions(2, 0.0))  # age 61
    lives.step(actions(2, [-1.0, 0.0]))  # age 62: path 0 claimed at 61
    state = with_cash(lives.state, [0.0, 0.0])
    years = deferral_years(state)
    assert years[0] == np.inf and years[1] == 0.0


def test_observations_show_the_open_window_and_the_pension_claimed() -> None:
    household = claiming_household()
    s = build_schedule(household).consumption_scale
    n = 2
    lives = Lives(household, n)
    obs = lives.reset(6)  # age 60: the window opens at 61
    np.testing.assert_array_equal(obs[:, 15:18], 0.0)
    obs = lives.step(actions(n, 0.0)).observation  # age 61, window open
    np.testing.assert_array_equal(obs[:, 15], 0.0)
    np.testing.assert_allclose(obs[:, 16], AMOUNT * (1 - 0.0667 * 2) / s / 4, rtol=1e-5)
    np.testing.assert_allclose(obs[:, 17], 1 - 0.0667 * 2, rtol=1e-5)
    obs = lives.step(actions(n, [-1.0, 0.0])).observation  # path 0 claims at 61
    claimed_amount = AMOUNT * (1 - 0.0667 * 2)
    np.testing.assert_allclose(obs[0, 15:18], [claimed_amount / s / 4, 0.0, 0.0], rtol=1e-5)
    np.testing.assert_allclose(obs[1, 15:18], [0.0, AMOUNT * (1 - 0.0667) / s / 4, 1 - 0.0667])
    # Past the window nothing is open, and both claims are locked in.
    for _ in range(5):
        obs = lives.step(actions(n, 0.0)).observation
    np.testing.assert_array_equal(obs[:, 16:18], 0.0)
    assert (obs[:, 15] > 0).all()


def test_the_claiming_features_are_scale_free() -> None:
    """All money x10 changes no observation of a life that claims (scale-free features)."""
    rng = np.random.default_rng(1)
    moves = rng.uniform(-1, 1, (8, 16, ACTION_DIM))
    seen = []
    for k in (1.0, 10.0):
        lives = Lives(scaled(claiming_household(), k), 16)
        obs = [lives.reset(2)]
        obs += [lives.step(a).observation for a in moves]
        seen.append(np.array(obs))
    np.testing.assert_allclose(seen[0], seen[1], rtol=1e-5, atol=1e-6)
    assert (seen[0][:, :, 15] > 0).any() and (seen[0][:, :, 17] > 0).any()


def test_one_thousand_lives_learn_to_claim_late_where_it_matters() -> None:
    """The zoo's healthy 61-year-old with a large pension claimable from 62 to 70: claimed
    at 62 it pays a third less for life (``claim_earliest`` is far below every other
    rule), claimed late it insures a long life. 1,000 lives learn to defer the claim past
    the default age, 67, and the policy beats every rule, ``claim_latest`` and the rule
    it corrects (which claims at 67) included, by more than 2 paired standard errors."""
    household = household_from_json((ZOO / "claiming_matters.json").read_text())
    model = train(TrainingSpec(household, 1000, seed=1), lambda _: None, lambda: False)
    policy = load_policy(model.model_zip)
    result = evaluate_policy(household, policy, lives=2048, seed=2024, include_optimum=False)
    assert result.versus_rule.difference > 2 * result.versus_rule.standard_error
    assert result.passed_gate  # against every rule, claim_earliest and claim_latest included
    ce = {s.strategy: s.ce_consumption for s in result.strategies}
    assert ce["rl_policy"] > max(ce["claim_latest"], ce["floor_upside"]) * 1.05
    assert ce["claim_earliest"] < 0.8 * ce["floor_upside"]  # where the claiming age matters
    # The policy's own claiming ages, on other lives: past the default age on most.
    n = 512
    lives = Lives(household, n, reward=Reward.OBJECTIVE)
    strategy = PolicyStrategy(policy, lives.schedule)
    obs, done = lives.reset(99), False
    while not done:
        step = lives.step(strategy.actions(obs))
        obs, done = step.observation, step.done
    assert np.mean(plan(lives) > 67) > 0.9


@pytest.mark.parametrize("claim", [-1.0, 1.0])
def test_the_reward_continues_from_the_claim_the_agent_made(claim: float) -> None:
    """The year's reward of a claim is its paired value: the agent's claim then the rule
    (which keeps the claimed plan), against the rule from the same state."""
    household = claiming_household()
    n = 8
    advantage = Lives(household, n, reward=Reward.RULE_ADVANTAGE)
    advantage.reset(21)
    advantage.step(actions(n, 0.0))
    reward = advantage.step(actions(n, claim)).reward  # age 61
    totals = []
    for first in (claim, 0.0):
        plain = Lives(household, n, reward=Reward.OBJECTIVE)
        plain.reset(21)
        for k in range(plain.horizon):
            plain.step(actions(n, first if k == 1 else 0.0))
        totals.append(plain.returns.copy())
    np.testing.assert_allclose(reward, totals[0] - totals[1], rtol=1e-4, atol=1e-6)
    assert np.abs(reward).min() > 0
